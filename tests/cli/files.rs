//! What only SQLite tenant files have: the file itself on disk (its pages, its header,
//! a stray or half-written one, the disk under it) and what SQLite alone lets SQL try.
//! These run in `cli` and `cli_postgres`, not in `cli_pg_tenants`, whose tenants are
//! PostgreSQL schemas; what PostgreSQL refuses in their place is tested in
//! `tests/tenant/postgres.rs` and `tests/pg_tenants`.
mod doctor;
mod rollback_copy;
mod sandbox;
mod settings;
mod sql_memory;
mod storage;
mod write_lock;
