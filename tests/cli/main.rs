//! Integration tests: the real `modreg` binary in a temporary world, judged by what a
//! user would see: exit codes, output, and the tenant files and landlord themselves.

//!
//! The same tests build twice: as `cli` against the SQLite landlord in the data folder,
//! and as `cli_postgres` against a PostgreSQL landlord (a throwaway cluster, a database
//! per test), so that every command is shown to behave the same on both.

#[path = "../support/postgres.rs"]
pub mod pg;
pub mod support;

mod archives;
mod backup;
mod catalog;
// Crash tests need the fault points that only debug builds compile in.
#[cfg(debug_assertions)]
mod crash;
mod doctor;
mod files;
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
