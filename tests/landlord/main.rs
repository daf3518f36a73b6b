//! The landlord conformance suite: what every landlord engine must do, checked through
//! the store traits alone. `conformance` holds the checks, written once; each engine
//! gives a fixture and gets one test per check from `conformance_tests!`.

#[path = "../support/checks.rs"]
mod checks;
mod conformance;
#[path = "../support/postgres.rs"]
mod pg;

mod sqlite {
    use std::sync::Arc;
    use std::time::Duration;

    use modreg::store::Landlord;
    use modreg::store::sqlite::SqliteLandlord;

    use crate::conformance::Fixture;

    /// A landlord file in a temporary folder; every handle opens it anew.
    struct SqliteFixture {
        dir: tempfile::TempDir,
    }

    impl SqliteFixture {
        fn new() -> SqliteFixture {
            SqliteFixture { dir: tempfile::tempdir().expect("temp dir") }
        }
    }

    impl Fixture for SqliteFixture {
        fn landlord(&self) -> Arc<dyn Landlord> {
            Arc::new(SqliteLandlord::open(self.dir.path(), Duration::from_secs(30)).expect("open the landlord"))
        }
    }

    crate::conformance_tests!(Some(SqliteFixture::new()));
}

mod postgres {
    use std::sync::Arc;
    use std::time::Duration;

    use modreg::store::Landlord;
    use modreg::store::postgres::PostgresLandlord;

    use crate::conformance::Fixture;

    /// A database of its own in the throwaway cluster; every handle connects anew.
    struct PostgresFixture {
        url: String,
    }

    impl PostgresFixture {
        fn new() -> Option<PostgresFixture> {
            Some(PostgresFixture { url: crate::pg::cluster()?.database() })
        }
    }

    impl Fixture for PostgresFixture {
        fn landlord(&self) -> Arc<dyn Landlord> {
            Arc::new(PostgresLandlord::open(&self.url, Duration::from_secs(30)).expect("open the landlord"))
        }
    }

    crate::conformance_tests!(PostgresFixture::new());

    #[test]
    fn a_landlord_schema_newer_than_this_binary_is_refused() {
        let Some(fixture) = PostgresFixture::new() else { return };
        fixture.landlord();
        let mut client = postgres::Client::connect(&fixture.url, postgres::NoTls).unwrap();
        client
            .batch_execute("INSERT INTO _landlord_schema_history (version, name, applied_on, checksum) VALUES (99, 'future', '', '0')")
            .unwrap();
        let error = PostgresLandlord::open(&fixture.url, Duration::from_secs(5)).err().expect("refused");
        assert!(error.message.contains("schema version 99, newer than this modreg understands (3)"), "{}", error.message);
        assert_eq!(error.kind, modreg::domain::ErrorKind::Storage);
        assert_eq!(error.hint.as_deref(), Some("use the modreg release that last wrote it, or a newer one"));
    }

    #[test]
    fn a_bad_url_or_an_unreachable_server_is_a_clear_error() {
        let error = PostgresLandlord::open("mysql://nope", Duration::from_secs(1)).err().expect("refused");
        assert_eq!(error.kind, modreg::domain::ErrorKind::Invalid, "{}", error.message);
        assert!(error.message.contains("is not a PostgreSQL URL"), "{}", error.message);
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("postgres://modreg:s3cret@127.0.0.1:{port}/landlord");
        let error = PostgresLandlord::open(&url, Duration::from_secs(1)).err().expect("refused");
        assert!(error.message.contains("cannot connect: cannot reach the landlord `postgres://modreg:***@127.0.0.1:"), "{}", error.message);
        assert_eq!(error.kind, modreg::domain::ErrorKind::Storage, "not an internal fault");
        assert!(!error.message.contains("s3cret"));
        assert!(error.hint.is_some());
    }

    #[test]
    fn a_database_that_does_not_exist_is_invalid_input() {
        let Some(fixture) = PostgresFixture::new() else { return };
        let (base, _) = fixture.url.rsplit_once('/').unwrap();
        let error = PostgresLandlord::open(&format!("{base}/no_such_db"), Duration::from_secs(5)).err().expect("refused");
        assert_eq!(error.kind, modreg::domain::ErrorKind::Invalid, "{}", error.message);
        assert!(error.message.contains("has no such database"), "{}", error.message);
        assert!(error.hint.as_deref().is_some_and(|h| h.contains("createdb")));
    }

    fn tenants_of(events: &[modreg::domain::event::Event]) -> Vec<String> {
        events.iter().map(|e| e.tenant.clone().unwrap_or_default()).collect()
    }

    /// An event writer as `ChangeStore::commit` is one, on a raw connection, held open
    /// with its transaction id taken but its event not yet written.
    fn open_writer(url: &str) -> postgres::Client {
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock_shared({}); SELECT pg_current_xact_id()", 0x6576_656e_7473_i64))
            .unwrap();
        client
    }

    #[test]
    fn an_older_transaction_that_commits_late_with_a_higher_id_is_not_skipped() {
        let Some(fixture) = PostgresFixture::new() else { return };
        let landlord = fixture.landlord();
        let changes = modreg::domain::change::add_tenant("first", Some("host-a"), "2026-11-22T10:00:00.000Z");
        assert_eq!(landlord.commit(&changes).unwrap(), modreg::domain::change::Commit::Done);
        let first = landlord.events_after(0, 100).unwrap();
        assert_eq!(tenants_of(&first), ["first"], "a quiet landlord hands out what committed at once");
        let cursor = first[0].id;
        let mut early = open_writer(&fixture.url);
        // A later transaction takes the next event id and commits first: its event waits
        // behind the older transaction still open, which then takes a higher id.
        let changes = modreg::domain::change::add_tenant("late", Some("host-a"), "2026-11-22T10:00:00.000Z");
        assert_eq!(landlord.commit(&changes).unwrap(), modreg::domain::change::Commit::Done);
        let before = landlord.events_after(cursor, 100).unwrap();
        assert!(before.is_empty(), "`late` is held back while an older writer is in flight: {before:?}");
        early.batch_execute("INSERT INTO events (at, type, tenant) VALUES (now(), 'tenant.added', 'early'); COMMIT").unwrap();
        let after = landlord.events_after(cursor, 100).unwrap();
        assert_eq!(tenants_of(&after), ["early", "late"], "the older transaction's first, nothing skipped");
        assert!(after[0].id > after[1].id, "a follower of `id > cursor` would have skipped `early`: {after:?}");
        assert!(landlord.events_after(after[1].id, 100).unwrap().is_empty(), "nothing repeated");
        assert_eq!(landlord.data_version().unwrap(), after[1].id);
    }

    #[test]
    fn a_writer_in_another_database_does_not_hold_back_this_landlords_events() {
        let Some(cluster) = crate::pg::cluster() else { return };
        let (ours, theirs) = (PostgresFixture { url: cluster.database() }, cluster.database());
        let landlord = ours.landlord();
        let mut other = postgres::Client::connect(&theirs, postgres::NoTls).unwrap();
        other.batch_execute("CREATE TABLE t (x int); BEGIN; INSERT INTO t VALUES (1)").unwrap();
        let changes = modreg::domain::change::add_tenant("acme", Some("host-a"), "2026-11-22T10:00:00.000Z");
        assert_eq!(landlord.commit(&changes).unwrap(), modreg::domain::change::Commit::Done);
        assert_eq!(tenants_of(&landlord.events_after(0, 100).unwrap()), ["acme"], "seen at once");
        other.batch_execute("ROLLBACK").unwrap();
    }

    #[test]
    fn a_watcher_hears_of_the_tenant_another_handle_changed() {
        let Some(fixture) = PostgresFixture::new() else { return };
        let (writer, reader) = (fixture.landlord(), fixture.landlord());
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let on_change: std::sync::Arc<dyn Fn(modreg::store::Changed) + Send + Sync> =
            std::sync::Arc::new(move |c| drop(tx.lock().unwrap().send(c)));
        // A long staleness: what arrives comes by NOTIFY, not by the fallback poll.
        // `watch` returns once it listens.
        let _watch = reader.watch(Duration::from_secs(3600), on_change).unwrap().expect("PostgreSQL announces changes");
        let changes = modreg::domain::change::add_tenant("acme", Some("host-a"), "2026-11-22T10:00:00.000Z");
        assert_eq!(writer.commit(&changes).unwrap(), modreg::domain::change::Commit::Done);
        let heard = rx.recv_timeout(Duration::from_secs(10)).expect("a notification");
        assert_eq!(heard, modreg::store::Changed::Tenant("acme".into()));
    }
}
