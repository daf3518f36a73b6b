//! The landlord conformance suite: what every landlord engine must do, checked through
//! the store traits alone. `conformance` holds the checks, written once; each engine
//! gives a fixture and gets one test per check from `conformance_tests!`.

mod conformance;

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

    crate::conformance_tests!(SqliteFixture::new());
}
