//! The landlord conformance suite: what every landlord engine must do, checked through
//! the store traits alone. `conformance` holds the checks, written once; each engine
//! gives a fixture and gets one test per check from `conformance_tests!`.

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
        assert!(error.message.contains("schema version 99, newer than this modreg understands (1)"), "{}", error.message);
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
        assert!(error.message.contains("cannot connect to the landlord `postgres://modreg:***@127.0.0.1:"), "{}", error.message);
        assert!(!error.message.contains("s3cret"));
        assert!(error.hint.is_some());
    }
}
