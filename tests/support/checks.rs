//! The test harness of the conformance suites: one `#[test]` per check, each run on a
//! fresh fixture of the engine under test.

/// `one_test_per_check!(fixture; check, …)`: a test per check, calling
/// `crate::conformance::check(&fixture)`. A fixture of `None` (the engine is not
/// available here) passes without checking.
#[macro_export]
macro_rules! one_test_per_check {
    ($fixture:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                if let Some(fixture) = $fixture {
                    $crate::conformance::$check(&fixture);
                }
            }
        )*
    };
}
