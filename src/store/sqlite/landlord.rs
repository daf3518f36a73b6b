//! The landlord on SQLite: one file, WAL, a busy timeout, a schema versioned with
//! refinery's embedded migrations. Each trait method is one transaction.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use crate::domain::event::{Event, EventType};
use crate::domain::job::{Effect, Job, JobKind, JobStatus, Step, StepStatus};
use crate::domain::module::{Migration, ModuleVersion, Seed};
use crate::domain::{Error, Result};
use crate::store::sqlite::{configure, sql_error};
use crate::store::{
    ArchiveRecord, CatalogStore, ChangedVersion, EventStore, FailedJob, FlagRecord, FlagStore, InstalledModule, JobFilter, JobStore,
    NewJob, StoredVersion, SubscriptionRecord, SubscriptionStore, TenantRecord, TenantStore,
};

mod embedded {
    refinery::embed_migrations!("src/store/sqlite/landlord_migrations");
}

/// The landlord schema version this binary writes: the number of embedded migrations.
const SCHEMA_VERSION: i32 = 1;

pub struct SqliteLandlord {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn err(e: rusqlite::Error) -> Error {
    sql_error("landlord", e)
}

impl SqliteLandlord {
    /// Opens (creating when needed) `landlord.db` in `data_dir`, upgrading its schema.
    pub fn open(data_dir: &Path, busy_timeout: Duration) -> Result<SqliteLandlord> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::internal(format!("cannot create the data folder `{}`: {e}", data_dir.display())))?;
        let path = data_dir.join("landlord.db");
        let mut conn = Connection::open(&path).map_err(err)?;
        configure(&conn, busy_timeout).map_err(err)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(err)?;
        let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(Error::internal(format!(
                "the landlord `{}` has schema version {version}, newer than this modreg understands ({SCHEMA_VERSION})",
                path.display()
            ))
            .with_hint("use the modreg release that last wrote it, or a newer one"));
        }
        if version < SCHEMA_VERSION {
            migrate(&mut conn, data_dir)?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        Ok(SqliteLandlord { conn: Mutex::new(conn), path })
    }

    /// Opens an existing landlord read-only (for `validate` and the library API).
    pub fn open_read_only(data_dir: &Path) -> Result<Option<SqliteLandlord>> {
        let path = data_dir.join("landlord.db");
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(err)?;
        configure(&conn, Duration::from_secs(5)).map_err(err)?;
        Ok(Some(SqliteLandlord { conn: Mutex::new(conn), path }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A poisoned lock means a panic elsewhere; the connection itself is still sound.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a query and maps every row.
    fn rows<T>(&self, sql: &str, params: impl rusqlite::Params, map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>) -> Result<Vec<T>> {
        let conn = self.conn();
        conn.prepare_cached(sql).and_then(|mut s| s.query_map(params, map)?.collect()).map_err(err)
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let value = f(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(value)
    }
}

/// Runs the embedded migrations under a file lock, so that two processes creating the
/// landlord at once do not both try.
fn migrate(conn: &mut Connection, data_dir: &Path) -> Result<()> {
    let lock_path = data_dir.join(".landlord.lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::internal(format!("cannot open `{}`: {e}", lock_path.display())))?;
    lock_file.lock().map_err(|e| Error::internal(format!("cannot lock `{}`: {e}", lock_path.display())))?;
    let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
    if version < SCHEMA_VERSION {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        embedded::migrations::runner()
            .set_migration_table_name("_landlord_schema_history")
            .run(conn)
            .map_err(|e| Error::internal(format!("cannot upgrade the landlord schema: {e}")))?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(err)?;
    }
    Ok(())
}

/// An event to append, in the same transaction as the change it describes.
#[derive(Default)]
struct EventRow<'a> {
    tenant: Option<&'a str>,
    module: Option<&'a str>,
    version: Option<&'a str>,
    job_id: Option<i64>,
    data: Option<&'a serde_json::Value>,
}

fn insert_event(tx: &Transaction<'_>, kind: EventType, row: EventRow<'_>, now: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO events (at, type, tenant, module, version, job_id, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
        .execute(params![now, kind.as_str(), row.tenant, row.module, row.version, row.job_id, row.data.map(|d| d.to_string())])?;
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn bad_row(e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.to_string().into())
}

const JOB_COLUMNS: &str = "id, batch, tenant, module, kind, status, from_version, to_version, actor, started_at, finished_at, error";

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let kind: String = row.get(4)?;
    let status: String = row.get(5)?;
    Ok(Job {
        id: row.get(0)?,
        batch: row.get(1)?,
        tenant: row.get(2)?,
        module: row.get(3)?,
        kind: JobKind::parse(&kind).ok_or_else(|| bad_row(format!("unknown job kind `{kind}`")))?,
        status: JobStatus::parse(&status).ok_or_else(|| bad_row(format!("unknown job status `{status}`")))?,
        from_version: row.get(6)?,
        to_version: row.get(7)?,
        actor: row.get(8)?,
        started_at: row.get(9)?,
        finished_at: row.get(10)?,
        error: row.get(11)?,
    })
}

fn replace_steps(tx: &Transaction<'_>, job: i64, steps: &[Step]) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM job_steps WHERE job_id = ?1")?.execute([job])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO job_steps (job_id, seq, name, status, duration_ms, detail, output) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (seq, step) in steps.iter().enumerate() {
        insert.execute(params![job, seq as i64 + 1, step.name, step.status.as_str(), step.duration_ms as i64, step.detail, step.output])?;
    }
    Ok(())
}

fn set_flags(tx: &Transaction<'_>, tenant: &str, module: &str, flags: &BTreeMap<String, bool>, now: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM flags WHERE tenant = ?1 AND module = ?2")?.execute(params![tenant, module])?;
    let mut insert = tx.prepare_cached("INSERT INTO flags (tenant, module, flag, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for (flag, value) in flags {
        insert.execute(params![tenant, module, flag, value, now])?;
    }
    Ok(())
}

fn history(
    tx: &Transaction<'_>,
    tenant: &str,
    module: &str,
    from: Option<&str>,
    to: Option<&str>,
    job: i64,
    now: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO version_history (tenant, module, from_version, to_version, job_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![tenant, module, from, to, job, now])?;
    Ok(())
}

/// A file modreg keeps, recorded in `archives`.
struct KeptFile<'a> {
    tenant: &'a str,
    module: Option<&'a str>,
    version: Option<&'a str>,
    kind: &'a str,
    path: &'a str,
    job: Option<i64>,
}

fn keep_file(tx: &Transaction<'_>, file: KeptFile<'_>, now: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO archives (tenant, module, version, kind, path, job_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![file.tenant, file.module, file.version, file.kind, file.path, file.job, now])?;
    Ok(())
}

/// Applies a job's stored effect and appends its event.
fn apply_effect(tx: &Transaction<'_>, job: &Job, effect: &Effect, now: &str) -> rusqlite::Result<()> {
    let (tenant, module) = (job.tenant.as_str(), job.module.as_str());
    let event = |kind: EventType, version: Option<&str>| {
        insert_event(tx, kind, EventRow { tenant: Some(tenant), module: Some(module), version, job_id: Some(job.id), data: None }, now)
    };
    match effect {
        Effect::Install { version, flags, restored_from } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO tenant_modules (tenant, module, version, state, enabled, installed_at, updated_at) VALUES (?1, ?2, ?3, 'installed', 1, ?4, ?4)",
            )?
            .execute(params![tenant, module, version, now])?;
            set_flags(tx, tenant, module, flags, now)?;
            history(tx, tenant, module, None, Some(version), job.id, now)?;
            let data = restored_from.as_ref().map(|path| serde_json::json!({ "restored_from": path }));
            let row =
                EventRow { tenant: Some(tenant), module: Some(module), version: Some(version), job_id: Some(job.id), data: data.as_ref() };
            insert_event(tx, EventType::ModuleInstalled, row, now)?;
        }
        Effect::Upgrade { version, features, copy } => {
            tx.prepare_cached("UPDATE tenant_modules SET version = ?3, updated_at = ?4 WHERE tenant = ?1 AND module = ?2")?
                .execute(params![tenant, module, version, now])?;
            let mut add =
                tx.prepare_cached("INSERT OR IGNORE INTO flags (tenant, module, flag, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (flag, default) in features {
                add.execute(params![tenant, module, flag, default, now])?;
            }
            let keep = to_json(&features.keys().collect::<Vec<_>>());
            tx.prepare_cached("DELETE FROM flags WHERE tenant = ?1 AND module = ?2 AND flag NOT IN (SELECT value FROM json_each(?3))")?
                .execute(params![tenant, module, keep])?;
            history(tx, tenant, module, job.from_version.as_deref(), Some(version), job.id, now)?;
            if let Some(copy) = copy {
                let file = KeptFile {
                    tenant,
                    module: Some(module),
                    version: job.from_version.as_deref(),
                    kind: "upgrade_copy",
                    path: copy,
                    job: Some(job.id),
                };
                keep_file(tx, file, now)?;
            }
            event(EventType::ModuleUpgraded, Some(version))?;
        }
        Effect::Uninstall { archive } => {
            tx.prepare_cached("DELETE FROM tenant_modules WHERE tenant = ?1 AND module = ?2")?.execute(params![tenant, module])?;
            tx.prepare_cached("DELETE FROM flags WHERE tenant = ?1 AND module = ?2")?.execute(params![tenant, module])?;
            history(tx, tenant, module, job.from_version.as_deref(), None, job.id, now)?;
            if let Some(archive) = archive {
                let file = KeptFile {
                    tenant,
                    module: Some(module),
                    version: job.from_version.as_deref(),
                    kind: "uninstall",
                    path: archive,
                    job: Some(job.id),
                };
                keep_file(tx, file, now)?;
            }
            event(EventType::ModuleUninstalled, job.from_version.as_deref())?;
        }
        Effect::SetEnabled { enabled } => {
            tx.prepare_cached("UPDATE tenant_modules SET enabled = ?3, updated_at = ?4 WHERE tenant = ?1 AND module = ?2")?
                .execute(params![tenant, module, enabled, now])?;
            let kind = if *enabled { EventType::ModuleEnabled } else { EventType::ModuleDisabled };
            event(kind, job.to_version.as_deref())?;
        }
        Effect::Revert { version, flags } => {
            tx.prepare_cached("UPDATE tenant_modules SET version = ?3, updated_at = ?4 WHERE tenant = ?1 AND module = ?2")?
                .execute(params![tenant, module, version, now])?;
            set_flags(tx, tenant, module, flags, now)?;
            history(tx, tenant, module, job.from_version.as_deref(), Some(version), job.id, now)?;
            event(EventType::ModuleReverted, Some(version))?;
        }
    }
    Ok(())
}

fn load_job(tx: &Connection, id: i64) -> rusqlite::Result<Option<(Job, Effect)>> {
    tx.prepare_cached(&format!("SELECT {JOB_COLUMNS}, effect FROM jobs WHERE id = ?1"))?
        .query_row([id], |row| {
            let job = job_from_row(row)?;
            let effect: String = row.get(12)?;
            let effect: Effect = serde_json::from_str(&effect).map_err(bad_row)?;
            Ok((job, effect))
        })
        .optional()
}

impl CatalogStore for SqliteLandlord {
    fn sync_catalog(&self, versions: &[&ModuleVersion], now: &str) -> Result<Vec<ChangedVersion>> {
        let mut conn = self.conn();
        let known: HashMap<(String, String), (String, String)> = {
            let mut stmt = conn.prepare_cached("SELECT module, version, checksum, first_seen_at FROM catalog").map_err(err)?;
            stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?)))).and_then(|rows| rows.collect()).map_err(err)?
        };
        let mut changed = Vec::new();
        let mut new = Vec::new();
        for v in versions {
            let key = (v.name().to_string(), v.version().to_string());
            match known.get(&key) {
                None => new.push(*v),
                Some((checksum, first_seen_at)) if checksum != &v.checksum => changed.push(ChangedVersion {
                    module: key.0,
                    version: key.1,
                    recorded_checksum: checksum.clone(),
                    found_checksum: v.checksum.clone(),
                    first_seen_at: first_seen_at.clone(),
                }),
                Some(_) => {}
            }
        }
        if !new.is_empty() {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO catalog (module, version, checksum, manifest, migrations, seeds, first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .map_err(err)?;
                for v in new {
                    let migrations: Vec<_> =
                        v.migrations.iter().map(|m| serde_json::json!({"name": m.name, "version": m.version, "sql": m.sql})).collect();
                    let seeds: Vec<_> = v.seeds.iter().map(|s| serde_json::json!({"name": s.name, "sql": s.sql})).collect();
                    insert
                        .execute(params![
                            v.name().as_str(),
                            v.version().to_string(),
                            v.checksum,
                            v.manifest_text,
                            to_json(&migrations),
                            to_json(&seeds),
                            now
                        ])
                        .map_err(err)?;
                }
            }
            tx.commit().map_err(err)?;
        }
        Ok(changed)
    }

    fn known_module(&self, module: &str) -> Result<bool> {
        let conn = self.conn();
        conn.prepare_cached("SELECT 1 FROM catalog WHERE module = ?1 LIMIT 1")
            .and_then(|mut s| s.query_row([module], |_| Ok(())).optional())
            .map(|found| found.is_some())
            .map_err(err)
    }

    fn stored_version(&self, module: &str, version: &str) -> Result<Option<StoredVersion>> {
        #[derive(serde::Deserialize)]
        struct M {
            name: String,
            version: i32,
            sql: String,
        }
        #[derive(serde::Deserialize)]
        struct S {
            name: String,
            sql: String,
        }
        let conn = self.conn();
        conn.prepare_cached("SELECT checksum, manifest, migrations, seeds, first_seen_at FROM catalog WHERE module = ?1 AND version = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![module, version], |r| {
                    let migrations: String = r.get(2)?;
                    let seeds: String = r.get(3)?;
                    let migrations: Vec<M> = serde_json::from_str(&migrations).map_err(bad_row)?;
                    let seeds: Vec<S> = serde_json::from_str(&seeds).map_err(bad_row)?;
                    Ok(StoredVersion {
                        module: module.to_string(),
                        version: version.to_string(),
                        checksum: r.get(0)?,
                        manifest: r.get(1)?,
                        migrations: migrations.into_iter().map(|m| Migration { name: m.name, version: m.version, sql: m.sql }).collect(),
                        seeds: seeds.into_iter().map(|s| Seed { name: s.name, sql: s.sql }).collect(),
                        first_seen_at: r.get(4)?,
                    })
                })
                .optional()
            })
            .map_err(err)
    }
}

fn installed_from_row(r: &Row<'_>) -> rusqlite::Result<InstalledModule> {
    Ok(InstalledModule {
        tenant: r.get(0)?,
        module: r.get(1)?,
        version: r.get(2)?,
        enabled: r.get(3)?,
        installed_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

impl TenantStore for SqliteLandlord {
    fn add_tenant(&self, name: &str, now: &str) -> Result<bool> {
        self.write(|tx| {
            let added =
                tx.prepare_cached("INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?1, ?2)")?.execute(params![name, now])? > 0;
            if added {
                insert_event(tx, EventType::TenantAdded, EventRow { tenant: Some(name), ..EventRow::default() }, now)?;
            }
            Ok(added)
        })
    }

    fn remove_tenant(&self, name: &str, archive: Option<&Path>, now: &str) -> Result<()> {
        self.write(|tx| {
            for table in ["tenant_modules", "flags", "subscriptions"] {
                tx.execute(&format!("DELETE FROM {table} WHERE tenant = ?1"), [name])?;
            }
            tx.execute("DELETE FROM tenants WHERE name = ?1", [name])?;
            let data = archive.map(|a| serde_json::json!({ "archive": a.display().to_string() }));
            if let Some(archive) = archive {
                let path = archive.display().to_string();
                keep_file(tx, KeptFile { tenant: name, module: None, version: None, kind: "tenant", path: &path, job: None }, now)?;
            }
            insert_event(tx, EventType::TenantRemoved, EventRow { tenant: Some(name), data: data.as_ref(), ..EventRow::default() }, now)
        })
    }

    fn tenant(&self, name: &str) -> Result<Option<TenantRecord>> {
        let conn = self.conn();
        conn.prepare_cached(
            "SELECT name, created_at, (SELECT count(*) FROM tenant_modules WHERE tenant = name) FROM tenants WHERE name = ?1",
        )
        .and_then(|mut s| {
            s.query_row([name], |r| Ok(TenantRecord { name: r.get(0)?, created_at: r.get(1)?, modules: r.get::<_, i64>(2)? as usize }))
                .optional()
        })
        .map_err(err)
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>> {
        self.rows(
            "SELECT t.name, t.created_at, count(m.module) FROM tenants t LEFT JOIN tenant_modules m ON m.tenant = t.name GROUP BY t.name ORDER BY t.name",
            [],
            |r| Ok(TenantRecord { name: r.get(0)?, created_at: r.get(1)?, modules: r.get::<_, i64>(2)? as usize }),
        )
    }

    fn installed(&self, tenant: &str) -> Result<Vec<InstalledModule>> {
        self.rows(
            "SELECT tenant, module, version, enabled, installed_at, updated_at FROM tenant_modules WHERE tenant = ?1 ORDER BY module",
            [tenant],
            installed_from_row,
        )
    }

    fn installed_everywhere(&self) -> Result<Vec<InstalledModule>> {
        self.rows(
            "SELECT tenant, module, version, enabled, installed_at, updated_at FROM tenant_modules ORDER BY tenant, module",
            [],
            installed_from_row,
        )
    }

    fn archives(&self, tenant: &str, module: Option<&str>, kind: Option<&str>) -> Result<Vec<ArchiveRecord>> {
        self.rows(
            "SELECT id, tenant, module, version, kind, path, job_id, created_at FROM archives
             WHERE tenant = ?1 AND (?2 IS NULL OR module = ?2) AND (?3 IS NULL OR kind = ?3) AND deleted_at IS NULL ORDER BY id DESC",
            params![tenant, module, kind],
            |r| {
                Ok(ArchiveRecord {
                    id: r.get(0)?,
                    tenant: r.get(1)?,
                    module: r.get(2)?,
                    version: r.get(3)?,
                    kind: r.get(4)?,
                    path: r.get(5)?,
                    job_id: r.get(6)?,
                    created_at: r.get(7)?,
                })
            },
        )
    }

    fn forget_archives(&self, ids: &[i64], now: &str) -> Result<()> {
        self.write(|tx| {
            let mut update = tx.prepare_cached("UPDATE archives SET deleted_at = ?2 WHERE id = ?1")?;
            for id in ids {
                update.execute(params![id, now])?;
            }
            Ok(())
        })
    }
}

impl JobStore for SqliteLandlord {
    fn start_jobs(&self, jobs: &[NewJob], now: &str) -> Result<Vec<i64>> {
        let pid = std::process::id();
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO jobs (batch, tenant, module, kind, status, from_version, to_version, actor, pid, started_at, effect)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut ids = Vec::with_capacity(jobs.len());
            for j in jobs {
                insert.execute(params![
                    j.batch,
                    j.tenant,
                    j.module,
                    j.kind.as_str(),
                    j.from_version,
                    j.to_version,
                    j.actor,
                    pid,
                    now,
                    to_json(&j.effect)
                ])?;
                ids.push(tx.last_insert_rowid());
            }
            Ok(ids)
        })
    }

    fn record_step(&self, job: i64, step: &Step) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO job_steps (job_id, seq, name, status, duration_ms, detail, output)
                 VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM job_steps WHERE job_id = ?1), ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![job, step.name, step.status.as_str(), step.duration_ms as i64, step.detail, step.output])?;
            Ok(())
        })
    }

    fn complete_jobs(&self, jobs: &[(i64, Vec<Step>)], now: &str) -> Result<()> {
        self.write(|tx| {
            for (id, steps) in jobs {
                let Some((job, effect)) = load_job(tx, *id)? else { continue };
                if job.status.is_finished() {
                    continue;
                }
                apply_effect(tx, &job, &effect, now)?;
                replace_steps(tx, *id, steps)?;
                tx.prepare_cached("UPDATE jobs SET status = 'completed', finished_at = ?2, error = NULL WHERE id = ?1")?
                    .execute(params![id, now])?;
            }
            Ok(())
        })
    }

    fn fail_jobs(&self, jobs: &[FailedJob], now: &str) -> Result<()> {
        self.write(|tx| {
            for failed in jobs {
                let Some((job, _)) = load_job(tx, failed.id)? else { continue };
                if job.status.is_finished() {
                    continue;
                }
                replace_steps(tx, failed.id, &failed.steps)?;
                tx.prepare_cached("UPDATE jobs SET status = ?2, finished_at = ?3, error = ?4 WHERE id = ?1")?.execute(params![
                    failed.id,
                    failed.status.as_str(),
                    now,
                    failed.error
                ])?;
                let kind = match job.kind {
                    JobKind::Install => Some(EventType::ModuleInstallFailed),
                    JobKind::Upgrade => Some(EventType::ModuleUpgradeFailed),
                    _ => None,
                };
                if let Some(kind) = kind {
                    let data = serde_json::json!({ "error": failed.error, "status": failed.status.as_str() });
                    let row = EventRow {
                        tenant: Some(&job.tenant),
                        module: Some(&job.module),
                        version: job.to_version.as_deref(),
                        job_id: Some(job.id),
                        data: Some(&data),
                    };
                    insert_event(tx, kind, row, now)?;
                }
            }
            Ok(())
        })
    }

    fn job(&self, id: i64) -> Result<Option<(Job, Vec<Step>, Effect)>> {
        let conn = self.conn();
        let Some((job, effect)) = load_job(&conn, id).map_err(err)? else { return Ok(None) };
        let steps = conn
            .prepare_cached("SELECT name, status, duration_ms, detail, output FROM job_steps WHERE job_id = ?1 ORDER BY seq")
            .and_then(|mut s| {
                s.query_map([id], |r| {
                    let status: String = r.get(1)?;
                    Ok(Step {
                        name: r.get(0)?,
                        status: StepStatus::parse(&status).ok_or_else(|| bad_row(format!("unknown step status `{status}`")))?,
                        duration_ms: r.get::<_, i64>(2)?.max(0) as u64,
                        detail: r.get(3)?,
                        output: r.get(4)?,
                    })
                })?
                .collect()
            })
            .map_err(err)?;
        Ok(Some((job, steps, effect)))
    }

    fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR module = ?2) AND (?3 IS NULL OR status = ?3)
             AND (?4 IS NULL OR kind = ?4) AND (?5 IS NULL OR batch = ?5) AND (?6 IS NULL OR started_at >= ?6) ORDER BY id DESC LIMIT ?7"
        );
        let limit = filter.limit.map_or(-1, |l| l as i64);
        let status = filter.status.map(JobStatus::as_str);
        let kind = filter.kind.map(JobKind::as_str);
        self.rows(&sql, params![filter.tenant, filter.module, status, kind, filter.batch, filter.since, limit], job_from_row)
    }

    fn unfinished_jobs(&self, tenant: &str) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant = ?1 AND status IN ('pending', 'running', 'failed') ORDER BY id");
        self.rows(&sql, [tenant], job_from_row)
    }

    fn tenants_with_unfinished_jobs(&self) -> Result<Vec<String>> {
        self.rows("SELECT DISTINCT tenant FROM jobs WHERE status IN ('pending', 'running', 'failed') ORDER BY tenant", [], |r| r.get(0))
    }
}

impl FlagStore for SqliteLandlord {
    fn flags(&self, tenant: &str, module: Option<&str>) -> Result<Vec<FlagRecord>> {
        self.rows(
            "SELECT module, flag, value, updated_at FROM flags WHERE tenant = ?1 AND (?2 IS NULL OR module = ?2) ORDER BY module, flag",
            params![tenant, module],
            |r| Ok(FlagRecord { module: r.get(0)?, flag: r.get(1)?, value: r.get(2)?, updated_at: r.get(3)? }),
        )
    }

    fn set_flag(&self, tenant: &str, module: &str, flag: &str, value: bool, now: &str) -> Result<Option<bool>> {
        self.write(|tx| {
            let old: Option<bool> = tx
                .prepare_cached("SELECT value FROM flags WHERE tenant = ?1 AND module = ?2 AND flag = ?3")?
                .query_row(params![tenant, module, flag], |r| r.get(0))
                .optional()?;
            if old.is_some_and(|old| old != value) {
                tx.prepare_cached("UPDATE flags SET value = ?4, updated_at = ?5 WHERE tenant = ?1 AND module = ?2 AND flag = ?3")?
                    .execute(params![tenant, module, flag, value, now])?;
                let data = serde_json::json!({ "flag": flag, "value": value });
                let row = EventRow { tenant: Some(tenant), module: Some(module), data: Some(&data), ..EventRow::default() };
                insert_event(tx, EventType::FlagChanged, row, now)?;
            }
            Ok(old)
        })
    }
}

impl SubscriptionStore for SqliteLandlord {
    fn grant(&self, tenant: &str, module: &str, until: Option<&str>, now: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO subscriptions (tenant, module, granted_at, until, revoked_at) VALUES (?1, ?2, ?3, ?4, NULL)",
            )?
            .execute(params![tenant, module, now, until])?;
            Ok(())
        })
    }

    fn revoke(&self, tenant: &str, module: &str, now: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached("UPDATE subscriptions SET revoked_at = ?3 WHERE tenant = ?1 AND module = ?2 AND revoked_at IS NULL")?
                .execute(params![tenant, module, now])?
                > 0)
        })
    }

    fn subscriptions(&self, tenant: &str) -> Result<Vec<SubscriptionRecord>> {
        self.rows(
            "SELECT tenant, module, granted_at, until, revoked_at FROM subscriptions WHERE tenant = ?1 ORDER BY module",
            [tenant],
            |r| {
                Ok(SubscriptionRecord {
                    tenant: r.get(0)?,
                    module: r.get(1)?,
                    granted_at: r.get(2)?,
                    until: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            },
        )
    }
}

impl EventStore for SqliteLandlord {
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>> {
        self.rows(
            "SELECT id, at, type, tenant, module, version, job_id, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after, limit as i64],
            |r| {
                let kind: String = r.get(2)?;
                let data: Option<String> = r.get(7)?;
                Ok(Event {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    kind: EventType::parse(&kind).ok_or_else(|| bad_row(format!("unknown event type `{kind}`")))?,
                    tenant: r.get(3)?,
                    module: r.get(4)?,
                    version: r.get(5)?,
                    job_id: r.get(6)?,
                    data: data.and_then(|d| serde_json::from_str(&d).ok()),
                })
            },
        )
    }

    fn data_version(&self) -> Result<i64> {
        self.conn().pragma_query_value(None, "data_version", |r| r.get(0)).map_err(err)
    }

    fn cursor(&self, name: &str) -> Result<i64> {
        let conn = self.conn();
        conn.prepare_cached("SELECT last_id FROM event_cursors WHERE name = ?1")
            .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
            .map(|v| v.unwrap_or(0))
            .map_err(err)
    }

    fn set_cursor(&self, name: &str, last_id: i64, now: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO event_cursors (name, last_id, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET last_id = max(last_id, excluded.last_id), updated_at = excluded.updated_at",
            )?
            .execute(params![name, last_id, now])?;
            Ok(())
        })
    }
}
