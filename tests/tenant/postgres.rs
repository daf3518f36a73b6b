//! Tenant databases on PostgreSQL: the conformance suite, and what only this engine has
//! to show: module SQL confined to its own role (another tenant's schema, the landlord,
//! server files and programs, extensions and role changes are refused), the time limit
//! as `statement_timeout`, an interruption cancelling the backend, and pre-upgrade
//! copies of what PostgreSQL schemas hold beyond SQLite's (sequences, foreign keys).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use modreg::domain::{ErrorKind, Interruption};
use modreg::store::clock::SystemClock;
use modreg::store::interrupt::ProcessSignals;
use modreg::store::postgres::{PostgresLandlord, PostgresTenants};
use modreg::store::{Interrupts, KeepFor, TenantDb, TenantFiles};

use crate::conformance::{Fixture, finance, fresh, install, membership, module, refused};

/// A database of its own in the throwaway cluster; every handle connects anew.
pub struct PostgresFixture {
    url: String,
}

impl PostgresFixture {
    fn new() -> Option<PostgresFixture> {
        Some(PostgresFixture { url: crate::pg::cluster()?.database() })
    }

    fn open(&self, sql_timeout: Duration, interrupts: Arc<dyn Interrupts>) -> PostgresTenants {
        PostgresTenants::open(&self.url, Duration::from_secs(5), sql_timeout, Arc::new(SystemClock), interrupts)
            .expect("open the tenants database")
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect")
    }
}

impl Fixture for PostgresFixture {
    fn tenants(&self) -> Arc<dyn TenantFiles> {
        Arc::new(self.open(Duration::from_secs(60), Arc::new(ProcessSignals)))
    }

    fn rows(&self, tenant: &str, table: &str) -> Option<i64> {
        let row = self.client().query_one(&format!("SELECT count(*) FROM \"{tenant}\".\"{table}\""), &[]).ok()?;
        Some(row.get(0))
    }
}

crate::tenant_conformance_tests!(PostgresFixture::new());

/// An interruption the test sets by hand.
#[derive(Default)]
struct Switch(Mutex<Option<Interruption>>);

impl Interrupts for Switch {
    fn interrupted(&self) -> Option<Interruption> {
        *self.0.lock().unwrap()
    }
}

/// The refusal of module SQL `sql` as module `sneaky` in tenant `acme`.
fn refusal(db: &mut dyn TenantDb, sql: &str) -> String {
    let sneaky = module("sneaky", "1.0.0", &[("V1__sneak", sql)], &[]);
    let error = refused(db, &sneaky, &[]);
    assert_eq!(error.error.kind, ErrorKind::Failed, "{sql}: {:?}", error.error);
    error.error.message
}

#[test]
fn module_sql_reaches_neither_another_tenant_nor_the_landlord_nor_the_server() {
    let Some(fixture) = PostgresFixture::new() else { return };
    PostgresLandlord::open(&fixture.url, Duration::from_secs(5)).expect("a landlord in the same database");
    let (tenants, mut db) = fresh(&fixture, "acme");
    tenants.create("globex").unwrap();
    install(tenants.open("globex").unwrap().as_mut(), &membership(), &[]);
    let cases = [
        ("SELECT count(*) FROM globex.members", "may not reach schema `globex`"),
        ("UPDATE globex.members SET name = 'x'", "may not reach schema `globex`"),
        ("SELECT count(*) FROM public.jobs", "permission denied for table jobs"),
        ("DELETE FROM _modreg.tenants", "may not reach schema `_modreg`"),
        ("COPY (SELECT 1) TO PROGRAM 'touch /tmp/modreg-escaped'", "pg_execute_server_program"),
        ("SELECT pg_read_file('/etc/passwd')", "permission denied for function pg_read_file"),
        ("CREATE EXTENSION pgcrypto", "permission denied to create extension"),
        ("RESET ROLE; DELETE FROM _modreg_modules", "cannot set parameter \"role\""),
        ("SET ROLE postgres", "cannot set parameter \"role\""),
        ("SELECT set_config('role', 'postgres', false)", "cannot set parameter \"role\""),
        ("SET SESSION AUTHORIZATION postgres", "cannot set parameter \"session_authorization\""),
        ("DO $$ BEGIN EXECUTE 'RESET ROLE'; END $$", "cannot set parameter \"role\""),
        ("CREATE TABLE t (id int); ALTER TABLE t OWNER TO postgres", "must be member of role \"postgres\""),
    ];
    for (sql, expected) in cases {
        let message = refusal(db.as_mut(), sql);
        assert!(message.contains(expected), "{sql}: {message}");
        assert!(message.contains("migration `V1__sneak` of `sneaky` failed"), "{sql}: {message}");
    }
    assert!(!std::path::Path::new("/tmp/modreg-escaped").exists());
    assert_eq!(fixture.rows("globex", "members"), Some(2), "the other tenant's rows are untouched");
    assert!(db.modules().unwrap().is_empty(), "nothing of the refused module stays");
    // No module role of a tenant has any right on another tenant's schema.
    let across: i64 = fixture
        .client()
        .query_one(
            "SELECT count(*) FROM _modreg.roles x, pg_namespace n
             WHERE n.nspname IN ('acme', 'globex', '_modreg') AND n.nspname <> x.tenant
               AND (has_schema_privilege(x.role, n.oid, 'USAGE') OR has_schema_privilege(x.role, n.oid, 'CREATE'))",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(across, 0);
}

#[test]
fn a_dependencys_tables_are_written_during_the_work_alone_and_read_at_any_time() {
    let Some(fixture) = PostgresFixture::new() else { return };
    let (_tenants, mut db) = fresh(&fixture, "acme");
    install(db.as_mut(), &membership(), &[]);
    let cards = module(
        "cards",
        "1.0.0",
        &[(
            "V1__cards",
            "CREATE TABLE cards (id INTEGER PRIMARY KEY, member INTEGER REFERENCES members (id)); UPDATE members SET name = 'ADA' WHERE id = 1;",
        )],
        &[],
    );
    install(db.as_mut(), &cards, &["membership"]);
    let rights: (bool, bool) = fixture
        .client()
        .query_one(
            "SELECT has_table_privilege(role, 'acme.members', 'SELECT'), has_table_privilege(role, 'acme.members', 'INSERT')
             FROM _modreg.roles WHERE tenant = 'acme' AND module = 'cards'",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(rights, (true, false), "reading stays; writing went with the work");
    // The foreign key works for the application afterwards (it runs as the tables' owners).
    let mut app = fixture.client();
    app.batch_execute("SET search_path = acme; INSERT INTO cards VALUES (1, 1);").unwrap();
    assert!(app.batch_execute("INSERT INTO cards VALUES (2, 99)").is_err(), "the foreign key holds");
}

#[test]
fn a_module_role_owns_the_modules_objects_and_an_application_reads_them_by_search_path() {
    let Some(fixture) = PostgresFixture::new() else { return };
    let (tenants, mut db) = fresh(&fixture, "acme");
    install(db.as_mut(), &finance(), &[]);
    let mut client = fixture.client();
    let owner: String = client
        .query_one("SELECT tableowner::text FROM pg_tables WHERE schemaname = 'acme' AND tablename = 'invoices'", &[])
        .unwrap()
        .get(0);
    assert!(owner.starts_with("_modreg_m_"), "{owner}");
    client.batch_execute("SET search_path = acme").unwrap();
    let total: i64 = client.query_one("SELECT sum(total)::bigint FROM invoices", &[]).unwrap().get(0);
    assert_eq!(total, 425);
    assert!(tenants.hook_env("acme", true).iter().any(|(k, v)| k == "MODREG_TENANT_SCHEMA" && v == "acme"));
    let url = |writes: bool| tenants.hook_env("acme", writes).into_iter().find(|(k, _)| k == "MODREG_TENANT_URL").unwrap().1;
    assert!(!url(true).contains("read_only"), "{}", url(true));
    assert!(url(false).contains("default_transaction_read_only%3Don"), "a hook that may not write gets read-only sessions: {}", url(false));
}

#[test]
fn a_slow_statement_stops_at_the_time_limit_and_rolls_back() {
    let Some(fixture) = PostgresFixture::new() else { return };
    let tenants = fixture.open(Duration::from_secs(1), Arc::new(ProcessSignals));
    tenants.create("acme").unwrap();
    let mut db = tenants.open("acme").unwrap();
    let slow = module("slow", "1.0.0", &[("V1__slow", "CREATE TABLE s (id int);\nSELECT pg_sleep(30);")], &[]);
    let started = Instant::now();
    let error = refused(db.as_mut(), &slow, &[]);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(error.error.kind, ErrorKind::Failed);
    assert!(
        error
            .error
            .message
            .contains("was stopped at `migrations/postgres/V1__slow.sql` line 2: it ran past the 1 s limit (`MODREG_SQL_TIMEOUT`)"),
        "{}",
        error.error.message
    );
    assert!(error.error.hint.as_deref().is_some_and(|h| h.contains("MODREG_SQL_TIMEOUT")));
    assert_eq!(fixture.rows("acme", "s"), None);
}

#[test]
fn an_interruption_cancels_the_backend_and_rolls_back() {
    let Some(fixture) = PostgresFixture::new() else { return };
    let switch = Arc::new(Switch::default());
    let tenants = fixture.open(Duration::from_secs(60), switch.clone());
    tenants.create("acme").unwrap();
    let mut db = tenants.open("acme").unwrap();
    let slow = module("slow", "1.0.0", &[("V1__slow", "CREATE TABLE s (id int);\nSELECT pg_sleep(30);")], &[]);
    let flip = switch.clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        *flip.0.lock().unwrap() = Some(Interruption::Interrupt);
    });
    let started = Instant::now();
    let error = refused(db.as_mut(), &slow, &[]);
    setter.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(error.error.kind, ErrorKind::Interrupted, "{:?}", error.error);
    assert!(error.error.message.contains("`migrations/postgres/V1__slow.sql` line 2"), "{}", error.error.message);
    assert_eq!(fixture.rows("acme", "s"), None);
    let running: i64 = fixture
        .client()
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    assert_eq!(running, 0, "the statement is not left running on the server");
}

#[test]
fn a_pre_upgrade_copy_keeps_sequences_foreign_keys_and_views_and_stands_in_for_the_module() {
    let Some(fixture) = PostgresFixture::new() else { return };
    let (tenants, mut db) = fresh(&fixture, "acme");
    let v1 = (
        "V1__books",
        "CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL);
         CREATE TABLE books (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, author int REFERENCES authors (id), title text,
                             shout text GENERATED ALWAYS AS (upper(title)) STORED);
         CREATE VIEW titles AS SELECT b.title, a.name FROM books b JOIN authors a ON a.id = b.author;",
    );
    let seed = "INSERT INTO authors (name) VALUES ('ursula'), ('iain'); INSERT INTO books (author, title) VALUES (1, 'the dispossessed');";
    install(db.as_mut(), &module("library", "1.0.0", &[v1], &[seed]), &[]);
    let copy = tenants.place("acme", KeepFor::UpgradeCopy { module: "library", from: "1.0.0", batch: "b1" });
    db.begin().unwrap();
    let saved = db.save_module("library", &BTreeMap::new(), &copy).unwrap();
    db.commit().unwrap();
    assert_eq!((saved.tables, saved.rows), (2, 3));
    // The upgrade changes the module; the revert puts the copy in its place.
    let v2 = ("V2__drop", "ALTER TABLE books DROP COLUMN shout; INSERT INTO authors (name) VALUES ('later');");
    install(db.as_mut(), &module("library", "1.1.0", &[v1, v2], &[]), &[]);
    db.begin().unwrap();
    db.remove_module("library").unwrap();
    db.restore_module(&copy).unwrap();
    db.commit().unwrap();
    let mut client = fixture.client();
    client.batch_execute("SET search_path = acme").unwrap();
    assert_eq!(fixture.rows("acme", "authors"), Some(2), "the rows as they were before the upgrade");
    let next: i32 = client.query_one("INSERT INTO authors (name) VALUES ('new') RETURNING id", &[]).unwrap().get(0);
    assert_eq!(next, 3, "the serial goes on where it was");
    let shout: String = client.query_one("SELECT shout FROM books", &[]).unwrap().get(0);
    assert_eq!(shout, "THE DISPOSSESSED", "the generated column is back");
    let titles: i64 = client.query_one("SELECT count(*) FROM titles", &[]).unwrap().get(0);
    assert_eq!(titles, 1, "the view is back");
    let broken = client.execute("INSERT INTO books (author, title) VALUES (99, 'nobody')", &[]);
    assert!(broken.is_err(), "the foreign key is back");
    assert_eq!(db.modules().unwrap()["library"], "1.0.0");
    assert_eq!(tenants.kept_size(&copy), None, "the copy is used up");
}

#[test]
fn a_module_without_postgresql_sql_is_refused_with_what_to_add() {
    let Some(fixture) = PostgresFixture::new() else { return };
    let (_tenants, mut db) = fresh(&fixture, "acme");
    let text = "[module]\nname = \"legacy\"\nversion = \"1.0.0\"\ndescription = \"d\"\n";
    let manifest = modreg::domain::manifest::parse_manifest(text, std::path::Path::new("module.toml")).unwrap();
    let migration = modreg::domain::module::Migration { name: "V1__t".into(), version: 1, sql: "CREATE TABLE t (id INTEGER)".into() };
    let legacy = modreg::domain::module::ModuleVersion::new(
        manifest,
        text.into(),
        vec![migration],
        vec![],
        modreg::domain::module::Source::Landlord,
    );
    let error = refused(db.as_mut(), &legacy, &[]);
    assert_eq!(error.error.kind, ErrorKind::Invalid);
    assert!(error.error.message.contains("`legacy 1.0.0` has no PostgreSQL migrations"), "{}", error.error.message);
    assert!(error.error.hint.as_deref().is_some_and(|h| h.contains("migrations/postgres/")));
    assert!(db.modules().unwrap().is_empty());
}
