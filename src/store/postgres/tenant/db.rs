//! One tenant's schema, opened for work: module work in one transaction of modreg's
//! (PostgreSQL's DDL is transactional), module SQL through the module's role
//! (`confine`), and ownership of every object recorded in `_modreg_objects`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::catalog::{self, history_table};
use super::confine;
use super::confine::Stopped;
use super::driver::{self, Driver, Script};
use super::{Shared, dump, ident, kept, lend, literal, message, records};
use crate::domain::change::Change;
use crate::domain::module::{Engine, ModuleVersion};
use crate::domain::name::ModuleName;
use crate::domain::ownership::{self, Ownership, is_internal};
use crate::domain::{Error, Result};
use crate::store::postgres::pool::Pooled;
use crate::store::{ApplyReport, ArchiveSummary, CopyMethod, HookOutcome, Kept, SchemaItem, TenantDb, Unrecorded, WorkError, WorkStep};

/// What module SQL runs among ([`PostgresTenantDb::among`]).
struct Among {
    /// Every object `_modreg_objects` records: name, module, kind.
    records: Vec<(String, String, String)>,
    /// The module's applied migrations, for its driver.
    applied: Option<Vec<refinery_core::Migration>>,
    /// The objects the module owns before its work.
    owned: Vec<String>,
    /// The names of other modules' objects, lowercase.
    others: HashSet<String>,
    /// Its dependencies (the modules whose tables it may write).
    writable: HashSet<String>,
    /// Their tables (views included) and sequences.
    tables: Vec<String>,
    sequences: Vec<String>,
}

pub(super) struct PostgresTenantDb {
    shared: Arc<Shared>,
    conn: Pooled,
    schema: String,
    /// A throwaway schema (`validate`), dropped with the handle.
    scratch: bool,
    in_transaction: bool,
    /// What other modules had on a module this transaction removed, to be made again
    /// once it is back (`restore_module`), or at the latest at commit: a commit without
    /// it fails, so nothing of theirs is ever lost.
    pending: Vec<String>,
    /// Writes of modreg's own records put off to go with the next statement of the
    /// transaction (at the latest its COMMIT), saving their round trips: what
    /// [`TenantDb::record`] and [`TenantDb::mark_jobs`] write inside a transaction.
    deferred: String,
}

impl PostgresTenantDb {
    pub(super) fn new(shared: Arc<Shared>, conn: Pooled, schema: String, scratch: bool) -> Self {
        PostgresTenantDb { shared, conn, schema, scratch, in_transaction: false, pending: Vec::new(), deferred: String::new() }
    }

    fn conn(&mut self) -> &mut Pooled {
        &mut self.conn
    }

    /// Runs `sql`, after what was put off.
    fn batch(&mut self, sql: &str) -> Result<()> {
        let sql = format!("{}{sql}", self.take_deferred());
        let result = self.conn().client().batch_execute(&sql);
        result.map_err(|e| self.shared.err(e))
    }

    /// What was put off ([`Self::deferred`]), as statements to send before others.
    fn take_deferred(&mut self) -> String {
        std::mem::take(&mut self.deferred)
    }

    /// Sends what was put off, before work that does not go through [`Self::batch`].
    fn flush(&mut self) -> Result<()> {
        if self.deferred.is_empty() { Ok(()) } else { self.batch("") }
    }

    /// Runs `sql` now outside a transaction, or with the transaction's next statement.
    fn write(&mut self, sql: &str) -> Result<()> {
        if !self.in_transaction {
            return self.batch(sql);
        }
        self.deferred.push_str(sql);
        self.deferred.push(';');
        Ok(())
    }

    fn require_transaction(&self, step: &str) -> std::result::Result<(), WorkError> {
        if self.in_transaction { Ok(()) } else { Err(WorkError::new(step, Error::internal("module work outside a transaction"))) }
    }

    /// What module SQL of `module` runs among, from one read of `_modreg_objects`: the
    /// names it owns, other modules' names, and the tables (views included) and
    /// sequences of its dependencies, `writable`; and in the same round trip its applied
    /// migrations, and what was put off (`deferred`).
    /// `first`: statements to run before the reads (after what was put off), in the same
    /// round trip; they must not change what the reads find.
    fn among(&mut self, module: &str, writable: &BTreeSet<ModuleName>, first: &str) -> Result<Among> {
        let (records, history) = (catalog::records_query(&self.schema), driver::applied_query(&self.schema, module));
        let sql = format!("{}{first} {records}; {history}", self.take_deferred());
        let messages = self.conn.client().simple_query(&sql).map_err(|e| self.shared.err(e))?;
        // Each statement's answer ends with its command's end; the two reads are the
        // last answers with rows.
        let answers: Vec<&[postgres::SimpleQueryMessage]> = messages
            .split_inclusive(|m| matches!(m, postgres::SimpleQueryMessage::CommandComplete(_)))
            .filter(|answer| answer.iter().any(|m| matches!(m, postgres::SimpleQueryMessage::RowDescription(_))))
            .collect();
        // What was put off may have answers of its own before them.
        let [.., records, history] = answers.as_slice() else {
            return Err(Error::internal("the tenant's records and history were not read"));
        };
        let (records, applied) = (catalog::record_rows(records), Some(driver::applied(history)));
        let others: HashSet<String> =
            records.iter().filter(|(_, owner, _)| owner != module).map(|(name, _, _)| name.to_lowercase()).collect();
        let owned = records.iter().filter(|(_, owner, _)| owner == module).map(|(name, _, _)| name.clone()).collect();
        let writable: HashSet<String> = writable.iter().map(ToString::to_string).collect();
        let (mut tables, mut sequences) = (Vec::new(), Vec::new());
        for (name, owner, kind) in &records {
            if !writable.contains(owner) {
                continue;
            }
            match kind.as_str() {
                "table" | "view" => tables.push(name.clone()),
                "sequence" => sequences.push(name.clone()),
                _ => {}
            }
        }
        Ok(Among { records, applied, owned, others, writable, tables, sequences })
    }

    /// What PostgreSQL refused of `module`'s SQL is put in words with: every object it
    /// does not own, with the module that does, or none for the application's. Those are
    /// listed only now that the work failed (a clash is rare, and listing before every
    /// module's work would cost each tenant a round trip): the failed transaction is
    /// rolled back first, so the listing is the schema as the work found it, and the
    /// records read inside the transaction still name what earlier modules of the job
    /// made in it. Without a listing (the connection broke), the recorded objects alone.
    fn refusal_words(&mut self, module: &str, among: &Among) -> Ownership {
        let present = match self.rollback() {
            Ok(()) => catalog::list(&mut self.conn, &self.schema).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let recorded: HashSet<String> = among.records.iter().map(|(name, _, _)| name.to_lowercase()).collect();
        let unowned =
            present.into_iter().filter(|o| !is_internal(&o.name) && !recorded.contains(&o.name.to_lowercase())).map(|o| (o.name, None));
        let foreign = among
            .records
            .iter()
            .filter(|(_, owner, _)| owner != module)
            .map(|(name, owner, _)| (name.clone(), Some(owner.clone())))
            .chain(unowned);
        Ownership::new(module, foreign, among.writable.clone())
    }

    /// Refuses what module SQL left that PostgreSQL's rights do not stop: objects of its
    /// role named as modreg's own, views and functions whose text names modreg's tables
    /// (an application running them would reach those), and objects of kinds that modreg
    /// does not keep track of (an uninstall would leave them behind, and a reinstall fail
    /// on them).
    fn check_objects(&self, module: &str, after: &[catalog::Object]) -> std::result::Result<(), WorkError> {
        // PostgreSQL names objects with the schema (`"acme".members`): only the rest counts.
        let qualifiers = [format!("{}.", ident(&self.schema)), format!("{}.", self.schema)];
        let unqualified = |text: &str| qualifiers.iter().fold(text.to_string(), |text, q| text.replace(q.as_str(), ""));
        if let Some(other) = after.iter().find(|o| o.kind == "other" && o.fresh) {
            let what = unqualified(&other.name);
            return Err(WorkError::new(
                "record objects",
                Error::failed(format!(
                    "module `{module}` created {what}, which modreg does not keep track of: uninstall, archives and revert could not take it along"
                ))
                .with_hint(
                    "a module's PostgreSQL SQL may make tables, views, indexes, sequences, triggers, functions, types, \
                     operators, collations and text search configurations and dictionaries; use the conversions and \
                     the text search parsers and templates of pg_catalog",
                ),
            ));
        }
        // What the module's role owns, and what it may have given its tenant's role.
        let roles = [confine::role(&self.shared.database, &self.schema, module), confine::tenant_role(&self.schema)];
        for object in after.iter().filter(|o| roles.contains(&o.owner)) {
            if is_internal(&object.name) {
                let refusal = Ownership::internal(&object.name);
                let error = refusal.error(format!("module `{module}` may not create `{}`: {}", object.name, refusal.message));
                return Err(WorkError::new("record objects", error));
            }
            let body = object.body.as_deref().map(unqualified);
            if body.as_deref().is_some_and(ownership::refers_to_internal) {
                return Err(WorkError::new(
                    "record objects",
                    Error::failed(format!(
                        "module `{module}` created {} `{}`, which refers to modreg's `_modreg_*` tables",
                        object.kind, object.name
                    )),
                ));
            }
        }
        Ok(())
    }

    /// The statements that record the objects the module's work created and forget those
    /// it dropped, and the objects: created, dropped. Created are those the transaction
    /// made (`fresh`) that no module owned before it.
    fn record_objects(&self, module: &str, among: &Among, after: &[catalog::Object]) -> (String, Vec<SchemaItem>, Vec<String>) {
        let owned = &among.owned;
        let owned_lower: HashSet<String> = owned.iter().map(|n| n.to_lowercase()).collect();
        let made = |o: &catalog::Object| {
            let name = o.name.to_lowercase();
            o.fresh && !owned_lower.contains(&name) && !among.others.contains(&name)
        };
        let before_names: Vec<String> = after.iter().filter(|o| !made(o)).map(|o| o.name.clone()).collect();
        let after_names: Vec<String> = after.iter().map(|o| o.name.clone()).collect();
        let before_refs: Vec<&str> = before_names.iter().map(String::as_str).collect();
        let after_refs: Vec<&str> = after_names.iter().map(String::as_str).collect();
        let (new, dropped) = ownership::changed_objects(&before_refs, &after_refs, owned);
        let new: HashSet<String> = new.into_iter().map(str::to_lowercase).collect();
        let s = ident(&self.schema);
        // Overloads of a function (a range type's constructors among them) are one record.
        let mut seen = HashSet::new();
        let created: Vec<&catalog::Object> = after
            .iter()
            .filter(|o| new.contains(&o.name.to_lowercase()) && seen.insert((o.name.to_lowercase(), o.kind.as_str())))
            .collect();
        let mut sql = String::new();
        if !created.is_empty() {
            let rows: Vec<String> = created
                .iter()
                .map(|o| format!("({}, {}, {}, {})", literal(&o.name), literal(module), literal(&o.kind), literal(&o.tbl_name)))
                .collect();
            sql.push_str(&format!(
                "INSERT INTO {s}._modreg_objects (name, module, type, tbl_name) VALUES {}
                 ON CONFLICT (name, type) DO UPDATE SET module = excluded.module, tbl_name = excluded.tbl_name;",
                rows.join(", ")
            ));
        }
        if !dropped.is_empty() {
            let names: Vec<String> = dropped.iter().map(|n| literal(n)).collect();
            sql.push_str(&format!("DELETE FROM {s}._modreg_objects WHERE name IN ({});", names.join(", ")));
        }
        let created = created.iter().map(|o| SchemaItem { name: o.name.clone(), kind: o.kind.clone() }).collect();
        (sql, created, dropped)
    }

    /// The statement that records the module's version in `_modreg_modules`.
    fn module_record(&self, module: &ModuleVersion) -> String {
        let now = literal(&self.shared.clock.now_text());
        format!(
            "INSERT INTO {}._modreg_modules (module, version, checksum, installed_at, updated_at) VALUES ({}, {}, {}, {now}, {now})
             ON CONFLICT (module) DO UPDATE SET version = excluded.version, checksum = excluded.checksum, updated_at = excluded.updated_at;",
            ident(&self.schema),
            literal(module.name().as_str()),
            literal(&module.version().to_string()),
            literal(&module.checksum)
        )
    }

    /// Runs the module's PostgreSQL migrations that refinery chose (and its seeds) as
    /// its role, a call of its runner each, and lists the schema after them, all in one
    /// round trip; the transaction is rolled back when one fails ([`Self::refusal_words`]).
    fn run_module_sql(
        &mut self,
        module: &ModuleVersion,
        seeds: bool,
        among: &mut Among,
    ) -> std::result::Result<(Vec<WorkStep>, Vec<catalog::Object>), WorkError> {
        let name = module.name().as_str();
        let (migrations, seed_files) = module.require_sql(Engine::Postgres).map_err(|e| WorkError::new("migrate", e))?;
        let runner = crate::store::migration_error::runner(module, migrations, history_table(name))?;
        let mut driver = Driver::new(&mut self.conn, name, migrations, among.applied.take());
        let outcome = runner.run(&mut driver);
        let (mut scripts, history) = (std::mem::take(&mut driver.scripts), driver.pending());
        drop(driver);
        outcome.map_err(|e| driver::migration_error(module, e))?;
        if seeds {
            scripts.extend(seed_files.iter().map(|seed| Script { name: seed.name.clone(), sql: seed.sql.clone(), seed: true }));
        }
        let (interrupts, limit) = (self.shared.interrupts.clone(), self.shared.sql_timeout);
        let (database, schema) = (&self.shared.database, &self.schema);
        let (run, run_name) = (confine::runner(database, schema, name), confine::runner_name(database, schema, name));
        let listing = catalog::list_query(schema);
        let before = self.take_deferred();
        let ran = driver::run_scripts(&mut self.conn, &before, (&run, &run_name), &scripts, &listing, interrupts.as_ref(), limit);
        // The steps of `scripts`, with the times known of them (none when the round trip failed).
        let steps_of = |scripts: &[Script], durations: &[Duration]| -> Vec<WorkStep> {
            let duration = |i: usize| durations.get(i).copied().unwrap_or_default();
            scripts.iter().enumerate().map(|(i, s)| WorkStep { name: s.step(), duration: duration(i), detail: None }).collect()
        };
        match ran {
            Ok((durations, listed)) => {
                // The history rows go with the next statement.
                self.deferred.push_str(&history);
                Ok((steps_of(&scripts, &durations), catalog::objects(&listed)))
            }
            Err(e) => {
                let Some(at) = e.script else {
                    let error = match e.stopped {
                        Some(Stopped::Interrupted(interruption)) => {
                            Error::interrupted(interruption, format!("the work on `{name}` was stopped"))
                        }
                        _ => self.shared.err(e.error),
                    };
                    let mut failure = WorkError::new("record objects", error);
                    failure.done = steps_of(&scripts, &[]);
                    return Err(failure);
                };
                let script = &scripts[at];
                let ownership = self.refusal_words(name, among);
                let mut failure =
                    confine::failure(script.step(), &script.what(name), &script.file(), &script.sql, &e.error, &ownership, e.stopped);
                // One round trip ran the scripts: its time is the failing one's.
                failure.duration = e.duration;
                failure.done = steps_of(&scripts[..at], &[]);
                Err(failure)
            }
        }
    }
}

impl Drop for PostgresTenantDb {
    fn drop(&mut self) {
        let conn = &mut self.conn;
        let mut cleanup = String::new();
        if self.in_transaction {
            cleanup.push_str("ROLLBACK;");
        }
        if self.scratch {
            cleanup.push_str(&format!("DROP SCHEMA IF EXISTS {} CASCADE;", ident(&self.schema)));
        }
        if !cleanup.is_empty() && conn.client().batch_execute(&cleanup).is_err() {
            // A connection that may still be in a transaction must not go back to the pool.
            let _ = conn.client().batch_execute("SELECT pg_terminate_backend(pg_backend_pid())");
        }
    }
}

impl TenantDb for PostgresTenantDb {
    /// The BEGIN goes with the transaction's first statement.
    fn begin(&mut self) -> Result<()> {
        self.flush()?;
        self.deferred.push_str("BEGIN;");
        self.in_transaction = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending).join(";");
            self.batch(&pending).map_err(|e| e.context("cannot make again what other modules had on the one removed"))?;
        }
        let result = self.batch("COMMIT");
        self.in_transaction = false;
        if result.is_err() {
            // A put-off write that failed leaves the transaction open, and aborted.
            let _ = self.conn().client().batch_execute("ROLLBACK");
        }
        result
    }

    fn rollback(&mut self) -> Result<()> {
        self.pending.clear();
        self.deferred.clear();
        if !self.in_transaction {
            return Ok(());
        }
        self.in_transaction = false;
        self.batch("ROLLBACK")
    }

    /// PostgreSQL's rolled-back rows are dead tuples that autovacuum gives back.
    fn release_space(&mut self) -> Result<()> {
        Ok(())
    }

    fn save_checkpoint(&mut self) -> Result<Option<CopyMethod>> {
        if self.scratch {
            return Ok(None);
        }
        self.flush()?;
        self.shared.forget(&self.schema);
        dump::save_checkpoint(&self.shared, &self.schema)?;
        Ok(Some(CopyMethod::SchemaDump))
    }

    fn restore_checkpoint(&mut self) -> Result<bool> {
        if self.scratch {
            return Ok(false);
        }
        self.rollback()?;
        let schema = self.schema.clone();
        let shared = self.shared.clone();
        shared.forget(&schema);
        dump::restore_checkpoint(&shared, self.conn(), &schema)
    }

    fn discard_checkpoint(&mut self) -> Result<()> {
        self.flush()?;
        let tenant = self.schema.clone();
        self.shared.forget(&tenant);
        let result = self.conn().client().execute("DELETE FROM _modreg.checkpoints WHERE tenant = $1", &[&tenant]);
        result.map(drop).map_err(|e| self.shared.err(e))
    }

    /// Lends the open transaction's session: the work put off goes first, so that the hook
    /// sees it; the session is closed once the job is done with it.
    fn lend(&mut self, writes: bool, run: &mut dyn FnMut(Vec<(String, String)>) -> HookOutcome) -> Result<Option<HookOutcome>> {
        if !self.in_transaction || self.scratch {
            return Ok(None);
        }
        self.flush()?;
        self.conn.retire();
        let schema = self.schema.clone();
        lend::lend(&mut self.conn, &schema, writes, run).map(Some)
    }

    fn apply(
        &mut self,
        module: &ModuleVersion,
        seeds: bool,
        writable: &BTreeSet<ModuleName>,
    ) -> std::result::Result<ApplyReport, WorkError> {
        let name = module.name().as_str();
        self.require_transaction("migrate")?;
        let at_start = |e: Error| WorkError::new("migrate", e);
        let schema = self.schema.clone();
        let limit = self.shared.sql_timeout.as_millis();
        let settings = format!("SET LOCAL search_path = {}; SET LOCAL statement_timeout = {limit};", ident(&schema));
        let database = self.shared.database.clone();
        // Its role and rights on the schema go with the reads; the rights on its
        // dependencies' tables, which the reads find, with the module's SQL.
        let mut among =
            self.among(name, writable, &format!("{} {settings}", confine::role_call(&database, &schema, name))).map_err(at_start)?;
        let (grant, revoke) = confine::rights(&database, &schema, name, &among.tables, &among.sequences);
        self.deferred.push_str(&grant);

        let (steps, after) = self.run_module_sql(module, seeds, &mut among)?;
        self.check_objects(name, &after).map_err(|mut failure| {
            failure.done = steps.clone();
            failure
        })?;
        let (recorded, objects_created, objects_dropped) = self.record_objects(name, &among, &after);
        // What module SQL may have changed of the session goes (its settings, advisory
        // locks and cursors), then the rights it had for the work; its objects and version
        // are recorded: with the transaction's next statement, at the latest its COMMIT.
        let record = self.module_record(module);
        self.deferred.push_str(&format!("RESET ALL; SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; {revoke} {recorded} {record}"));
        Ok(ApplyReport { steps, objects_created, objects_dropped })
    }

    fn save_module(&mut self, module: &str, flags: &BTreeMap<String, bool>, kept: &Kept) -> Result<ArchiveSummary> {
        let own_transaction = !self.in_transaction;
        if own_transaction {
            self.begin()?;
        }
        self.flush()?;
        let (schema, now) = (self.schema.clone(), self.shared.clock.now_text());
        let role = confine::role(&self.shared.database, &schema, module);
        let saved = kept::save(self.conn().client(), &schema, module, &role, flags, kept.reference(), &now);
        let saved = saved.map_err(|e| e.into_error(&self.shared, format!("cannot keep `{module}` as `{kept}`")));
        match (saved, own_transaction) {
            (Ok(summary), true) => self.commit().map(|()| summary),
            (Err(e), true) => {
                let _ = self.rollback();
                Err(e)
            }
            (saved, false) => saved,
        }
    }

    fn remove_module(&mut self, module: &str) -> std::result::Result<Vec<String>, WorkError> {
        self.require_transaction("remove")?;
        self.flush().map_err(|e| WorkError::new("remove objects", e))?;
        let schema = self.schema.clone();
        let fail = |e: &postgres::Error| {
            WorkError::new("remove objects", Error::failed(format!("cannot remove the objects of `{module}`: {}", message(e))))
        };
        let mut objects = catalog::owned(self.conn().client(), &schema, module).map_err(|e| fail(&e))?;
        let dependents = catalog::dependents(self.conn().client(), &schema, module).map_err(|e| fail(&e))?;
        if !dependents.drop.is_empty() {
            self.conn().client().batch_execute(&dependents.drop.join(";")).map_err(|e| fail(&e))?;
        }
        // In the order they were made, for the removal order to drop dependents first.
        let made: HashMap<(String, String), usize> = catalog::list(self.conn(), &schema)
            .map_err(|e| fail(&e))?
            .into_iter()
            .enumerate()
            .map(|(i, o)| ((o.name.to_lowercase(), o.kind), i))
            .collect();
        objects.sort_by_key(|(name, kind, _)| made.get(&(name.to_lowercase(), kind.clone())).copied().unwrap_or(usize::MAX));
        let present: HashSet<String> = made.keys().map(|(name, _)| name.clone()).collect();
        let kinds: Vec<&str> = objects.iter().map(|(_, kind, _)| kind.as_str()).collect();
        let mut removed = Vec::new();
        let mut drops = Vec::new();
        for (name, kind, table) in ownership::removal_order(&kinds).into_iter().map(|i| &objects[i]) {
            if !present.contains(&name.to_lowercase()) {
                continue;
            }
            let statement = catalog::drop_statement(&schema, name, kind, table);
            if statement.is_empty() {
                continue;
            }
            // An index on one of its own relations goes with that relation: an index of a
            // partition is attached to its table's, and cannot be dropped on its own.
            if !(kind == "index" && kept::on_own_relation(&objects, table)) {
                drops.push(statement);
            }
            removed.push(name.clone());
        }
        if !drops.is_empty() {
            self.conn().client().batch_execute(&drops.join(";")).map_err(|e| fail(&e))?;
        }
        let s = ident(&schema);
        let mut left: Vec<String> = catalog::list(self.conn(), &schema).map_err(|e| fail(&e))?.into_iter().map(|o| o.name).collect();
        left.extend(dependents.names);
        self.pending.extend(dependents.recreate);
        // Its history and records, and the records of what went with its objects.
        let (m, left) = (literal(module), left.iter().map(|n| literal(n)).collect::<Vec<_>>().join(", "));
        self.conn()
            .client()
            .batch_execute(&format!(
                "DELETE FROM {s}._modreg_history WHERE module = {m};
                 DELETE FROM {s}._modreg_objects WHERE module = {m} OR NOT (name = ANY (ARRAY[{left}]::text[]));
                 DELETE FROM {s}._modreg_modules WHERE module = {m};"
            ))
            .map_err(|e| fail(&e))?;
        Ok(removed)
    }

    fn restore_module(&mut self, kept: &Kept) -> std::result::Result<ArchiveSummary, WorkError> {
        self.require_transaction("restore")?;
        self.flush().map_err(|e| WorkError::new("restore", e))?;
        let (schema, now) = (self.schema.clone(), self.shared.clock.now_text());
        let restored = kept::restore(self.conn().client(), &schema, kept.reference(), &now)
            .map_err(|e| WorkError::new("restore", e.into_error(&self.shared, format!("cannot restore `{kept}`"))))?;
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending).join(";");
            self.conn().client().batch_execute(&pending).map_err(|e| {
                let why = format!("cannot make again, on `{kept}`, what other modules had on the module: {}", message(&e));
                WorkError::new(
                    "restore",
                    Error::failed(why).with_hint(
                        "another module's rows refer to rows the copy does not have: the revert would lose them, so nothing was changed",
                    ),
                )
            })?;
        }
        Ok(restored)
    }

    /// PostgreSQL checks every foreign key as rows are written.
    fn foreign_key_problems(&mut self, _module: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn modules(&mut self) -> Result<BTreeMap<String, String>> {
        self.flush()?;
        let sql = format!("SELECT module, version FROM {}._modreg_modules", ident(&self.schema));
        let rows = self.conn().client().query(&sql, &[]);
        Ok(rows.map_err(|e| self.shared.err(e))?.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn record(&mut self, changes: &[Change]) -> Result<()> {
        let statements: Vec<String> = changes.iter().flat_map(|change| records::statements(&self.schema, change)).collect();
        if statements.is_empty() {
            return Ok(());
        }
        self.write(&statements.join(";"))
    }

    fn unrecorded(&mut self) -> Result<Unrecorded> {
        self.flush()?;
        let schema = self.schema.clone();
        let result = records::unrecorded(self.conn().client(), &schema);
        result.map_err(|e| self.shared.err(e))
    }

    fn mark_jobs(&mut self, jobs: &[i64], batch: &str) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let (batch, now) = (literal(batch), literal(&self.shared.clock.now_text()));
        let rows: Vec<String> = jobs.iter().map(|job| format!("({job}, {batch}, {now})")).collect();
        self.write(&format!(
            "INSERT INTO {}._modreg_jobs (job_id, batch, at) VALUES {}
             ON CONFLICT (job_id) DO UPDATE SET batch = excluded.batch, at = excluded.at",
            ident(&self.schema),
            rows.join(", ")
        ))
    }

    fn job_marked(&mut self, job: i64) -> Result<bool> {
        self.flush()?;
        let sql = format!("SELECT 1 FROM {}._modreg_jobs WHERE job_id = $1", ident(&self.schema));
        let result = self.conn().client().query(&sql, &[&job]);
        Ok(!result.map_err(|e| self.shared.err(e))?.is_empty())
    }
}
