//! The tenant conformance suite: what every tenant engine must do, checked through the
//! tenant traits (`TenantFiles`, `TenantDb`) alone. `conformance` holds the checks,
//! written once; each engine gives a fixture and gets one test per check from
//! `tenant_conformance_tests!`.

#[path = "../support/checks.rs"]
mod checks;
mod conformance;
#[path = "../support/postgres.rs"]
mod pg;

mod sqlite {
    use std::sync::Arc;
    use std::time::Duration;

    use modreg::store::TenantFiles;
    use modreg::store::clock::SystemClock;
    use modreg::store::interrupt::ProcessSignals;
    use modreg::store::sqlite::SqliteTenantFiles;
    use rusqlite::{Connection, OpenFlags};

    use crate::conformance::Fixture;

    /// A data folder in a temporary folder; every handle opens it anew.
    struct SqliteFixture {
        dir: tempfile::TempDir,
    }

    impl SqliteFixture {
        fn new() -> SqliteFixture {
            SqliteFixture { dir: tempfile::tempdir().expect("temp dir") }
        }

        fn files(&self) -> SqliteTenantFiles {
            let never = Arc::new(ProcessSignals);
            SqliteTenantFiles::new(self.dir.path(), Duration::from_secs(5), Duration::from_secs(60), Arc::new(SystemClock), never)
        }
    }

    impl Fixture for SqliteFixture {
        fn tenants(&self) -> Arc<dyn TenantFiles> {
            Arc::new(self.files())
        }

        fn rows(&self, tenant: &str, table: &str) -> Option<i64> {
            let conn = Connection::open_with_flags(self.files().path(tenant), OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
            conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| r.get(0)).ok()
        }
    }

    crate::tenant_conformance_tests!(Some(SqliteFixture::new()));
}

mod postgres;
