//! The integration suite of `tests/cli` again, on tenant databases in PostgreSQL
//! schemas (`MODREG_TENANTS`): every world gets a database of its own for its tenants in
//! the throwaway cluster, the landlord stays the SQLite file, and every command must
//! behave as it does on SQLite tenant files, down to the same snapshots. Module fixtures
//! carry the same SQL for both engines (`ModuleBuilder` writes it to `migrations/` and
//! `migrations/postgres/`), so it is written in what both engines read.
//!
//! Left out: `files`, the tests of what only a SQLite file has (see there), and `hosts`,
//! which `cli_postgres` runs on shared landlords (`tests/pg_tenants/hosts.rs` is its
//! counterpart here).

#[path = "support/postgres.rs"]
pub mod pg;
#[path = "cli/support.rs"]
pub mod support;

mod cli {
    mod archives;
    mod backup;
    mod catalog;
    #[cfg(debug_assertions)]
    mod crash;
    mod doctor;
    mod fleet;
    mod help;
    mod history;
    mod hooks;
    mod install;
    mod interrupt;
    mod isolation;
    mod library;
    mod locks;
    mod output;
    mod ownership;
    mod rebuild;
    mod recorded;
    mod rollback;
    mod runtime;
    mod sandbox;
    mod schemas;
    mod serve;
    mod shapes;
    mod sql_timeout;
    mod storage;
    mod suggestions;
    mod tables;
    mod tenants;
    mod token;
    mod uninstall;
    mod upgrade;
    mod validate;
}
