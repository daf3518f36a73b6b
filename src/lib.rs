//! modreg: install, upgrade and uninstall modules per tenant of a multi-tenant SaaS
//! platform, on SQLite.
//!
//! The map:
//!
//! - [`domain`] is the pure core: names, manifests, module versions, the catalog, the
//!   resolver, jobs, events, what each change to the landlord means (`change`) and
//!   what a tenant file records of it, from which a lost landlord is rebuilt
//!   (`recorded`), the "did you mean" of unknown names (`suggest`), and the error kinds
//!   with their exit codes. No files, no SQLite, no processes, no terminal.
//! - [`ops`] holds the use-cases, one per file (`install`, `upgrade`, `uninstall`,
//!   `validate`…). Each takes a [`ops::Context`] and options, reports progress through a
//!   [`ops::Reporter`], and returns a serializable report. Ops reach the world only through
//!   the traits of [`store`].
//! - [`store`] holds the adapters behind those traits: the landlord catalog (which stores
//!   the change sets the domain computes, and decides nothing), tenant databases with
//!   their migration driver and SQL sandbox, module discovery on disk (and, for the
//!   server, a discovery kept while the folder tree is unchanged), the hook runner,
//!   whole-file copies (a reflink where the file system can), subscription sources,
//!   tenant locks, the clock, and interruptions: the SIGINT/SIGTERM handler the CLI
//!   installs for commands that run jobs, which ops, sandbox and hook runner ask through
//!   `store::Interrupts` (`store::interrupt`). [`store::open`] is the one place they
//!   are built; `store` is the only place that names rusqlite.
//! - [`cli`] is the thin edge: clap types, one file per command (args to options to an ops
//!   call to rendering), the human and JSON printer, and indicatif progress.
//! - [`server`] is the HTTP edge (`modreg serve`): axum routes over the same use-cases,
//!   bearer tokens, problem+json errors, and the OpenAPI document generated from them.
//! - [`api`] is the read-only library handle applications use to ask "may tenant X use
//!   module Y, and is flag Z on?", cached, and aware of changes other processes make.

// Errors here carry explanations (every requirement and who holds it, the steps done
// before a failure); they travel on the cold path, where their size costs nothing.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod cli;
pub mod domain;
pub mod ops;
pub mod server;
pub mod store;
