//! The CLI on tenant databases in PostgreSQL schemas (`--tenants-db`, `MODREG_TENANTS`):
//! the real binary, a database of its own for each test's tenants in the throwaway
//! cluster, and what an application would see there. The sample catalog's whole life
//! (`catalog`), the failures that must leave a schema as it was (`failures`), and hosts
//! that share the tenants as well as the landlord (`hosts`); a user that is no superuser
//! and the tenant's role (`roles`); how module SQL is timed and bounded (`timing`).

#[path = "../support/postgres.rs"]
pub mod pg;
#[allow(dead_code)]
#[path = "../cli/support.rs"]
pub mod support;

mod catalog;
mod failures;
mod hosts;
mod roles;
mod timing;

/// A world whose tenants are PostgreSQL schemas; `None` (the test passes unchecked, or
/// fails under `MODREG_REQUIRE_POSTGRES=1`) without PostgreSQL.
pub fn world(sample: bool) -> Option<support::World> {
    pg::cluster()?;
    Some(if sample { support::World::sample() } else { support::World::new() })
}
