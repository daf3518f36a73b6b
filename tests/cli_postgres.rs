//! The integration suite of `tests/cli` again, against a PostgreSQL landlord: every
//! world gets a database of its own in a throwaway cluster (`tests/support/postgres.rs`),
//! and every command must behave as it does on the SQLite landlord, down to the same
//! snapshots. Without PostgreSQL on the machine this says so and runs on SQLite;
//! `.ci/run` (`MODREG_REQUIRE_POSTGRES=1`) makes that a failure.

#[path = "cli/main.rs"]
mod cli;

// The suite's modules name these from the crate root.
use cli::{pg, support};

// Two hosts sharing the landlord: only meaningful on PostgreSQL.
#[path = "cli/hosts.rs"]
mod hosts;
