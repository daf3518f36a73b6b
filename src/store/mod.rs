//! Adapters behind the traits the use-cases talk to: the landlord catalog, tenant
//! databases, module discovery, hooks, subscriptions, locks and the clock. SQLite is the
//! embedded default (`store::sqlite`); `store::postgres` is a landlord for many hosts
//! and tenant databases as schemas, each passing the same conformance suite as SQLite's. Nothing outside this module names rusqlite or
//! postgres, and [`open`] is the one place that builds the stores.

pub mod change_sql;
pub mod clock;
pub mod discovery;
pub mod discovery_cache;
mod file_copy;
pub mod hooks;
pub mod interrupt;
pub mod lock;
mod migration_error;
mod open;
pub mod postgres;
pub mod sqlite;
pub mod storage;
pub mod subscription;
mod version_content;

/// This machine's name, as `--host` defaults to it.
pub fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer it is given.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    match std::str::from_utf8(&buffer[..end]) {
        Ok(name) if ok && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// `count` bytes from the kernel's random source (`/dev/urandom`): for secrets.
pub fn random_bytes(count: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = vec![0u8; count];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut source| source.read_exact(&mut bytes))
        .map_err(|e| Error::internal(format!("cannot read random bytes from `/dev/urandom`: {e}")))?;
    Ok(bytes)
}

pub use open::{
    DEFAULT_SQL_MEMORY, LandlordAccess, StoreConfig, Stores, cached_module_source, landlord_file, module_source, open, open_with_clock,
    tenant_files,
};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::change::{Change, Commit, FileKind};
use crate::domain::event::Event;
use crate::domain::job::{Effect, Job, JobKind, JobStatus, Step};
use crate::domain::module::{Engine, EngineSql, Migration, ModuleVersion, Seed};
use crate::domain::name::ModuleName;
use crate::domain::{Error, Interruption, Result};

// ---------------------------------------------------------------------------------------
// The landlord
// ---------------------------------------------------------------------------------------

/// A version's content as the landlord first saw it.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub module: String,
    pub version: String,
    pub checksum: String,
    pub manifest: String,
    pub migrations: Vec<Migration>,
    pub seeds: Vec<Seed>,
    /// The PostgreSQL migrations and seeds (empty: none).
    pub postgres: EngineSql,
    pub first_seen_at: String,
}

/// A published version whose content differs from what the landlord first recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangedVersion {
    pub module: String,
    pub version: String,
    pub recorded_checksum: String,
    pub found_checksum: String,
    pub first_seen_at: String,
}

/// What the landlord recorded of one name+version when it first saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub module: String,
    pub version: String,
    pub checksum: String,
    pub first_seen_at: String,
}

/// The catalog of every name+version ever seen, with its content.
pub trait CatalogStore {
    /// Every name+version recorded, with its checksum.
    fn catalog_entries(&self) -> Result<Vec<CatalogEntry>>;
    /// Records versions not seen before (with their content); those already recorded
    /// are left as they are.
    fn record_versions(&self, versions: &[&ModuleVersion], now: &str) -> Result<()>;
    /// Whether any version of the module was ever seen.
    fn known_module(&self, module: &str) -> Result<bool>;
    /// The recorded content of one version.
    fn stored_version(&self, module: &str, version: &str) -> Result<Option<StoredVersion>>;
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TenantRecord {
    pub name: String,
    pub created_at: String,
    pub modules: usize,
    /// The host whose data folder holds the tenant's file (none recorded: any).
    pub host: Option<String>,
}

/// One module a tenant has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstalledModule {
    pub tenant: String,
    pub module: String,
    pub version: String,
    pub enabled: bool,
    pub installed_at: String,
    pub updated_at: String,
}

/// A file modreg keeps: an uninstall archive, a pre-upgrade copy, a removed tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveRecord {
    pub id: i64,
    pub tenant: String,
    pub module: Option<String>,
    pub version: Option<String>,
    pub kind: String,
    pub path: String,
    pub job_id: Option<i64>,
    pub created_at: String,
}

/// One entry of a tenant module's version history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    pub tenant: String,
    pub module: String,
    /// None: installed.
    pub from_version: Option<String>,
    /// None: uninstalled.
    pub to_version: Option<String>,
    pub job_id: Option<i64>,
    pub at: String,
}

/// Tenants and what they have.
pub trait TenantStore {
    fn tenant(&self, name: &str) -> Result<Option<TenantRecord>>;
    fn tenants(&self) -> Result<Vec<TenantRecord>>;
    fn installed(&self, tenant: &str) -> Result<Vec<InstalledModule>>;
    /// Every tenant's modules, for status and fleet planning.
    fn installed_everywhere(&self) -> Result<Vec<InstalledModule>>;
    /// Every version a tenant had of its modules (or of one), oldest first.
    fn history(&self, tenant: &str, module: Option<&str>) -> Result<Vec<HistoryEntry>>;
    /// Kept files of a tenant (and module) that are not forgotten, newest first.
    fn archives(&self, tenant: &str, module: Option<&str>, kind: Option<FileKind>) -> Result<Vec<ArchiveRecord>>;
    /// Kept files of every tenant, registered or removed, that are not forgotten: by
    /// tenant, newest first within each (`archives list`, `archives prune`).
    fn archives_everywhere(&self) -> Result<Vec<ArchiveRecord>>;
}

/// A job about to start.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub batch: String,
    pub tenant: String,
    pub module: String,
    pub kind: JobKind,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub actor: String,
    pub effect: Effect,
    /// The host that runs it.
    pub host: String,
    /// How long the job counts as alive without a renewal ([`JobStore::renew_leases`]).
    pub lease: Duration,
}

impl NewJob {
    /// The job as `start_jobs` stored it, running since `started_at` under `id`.
    pub fn started(&self, id: i64, started_at: &str) -> Job {
        Job {
            id,
            batch: self.batch.clone(),
            tenant: self.tenant.clone(),
            module: self.module.clone(),
            kind: self.kind,
            status: JobStatus::Running,
            from_version: self.from_version.clone(),
            to_version: self.to_version.clone(),
            actor: self.actor.clone(),
            host: Some(self.host.clone()),
            started_at: Some(started_at.to_string()),
            finished_at: None,
            error: None,
            lease_until: None,
            lease_expired: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub tenant: Option<String>,
    pub module: Option<String>,
    pub status: Option<JobStatus>,
    pub kind: Option<JobKind>,
    pub batch: Option<String>,
    /// RFC 3339; jobs started at or after.
    pub since: Option<String>,
    /// Jobs with this id or a later one.
    pub from_id: Option<i64>,
    pub limit: Option<usize>,
}

/// What a job filter compares a column with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterValue<'a> {
    Text(&'a str),
    /// An RFC 3339 time.
    Time(&'a str),
    Id(i64),
}

impl JobFilter {
    /// The query for these jobs, newest first, from `columns` of table `jobs`, with
    /// `placeholder(i)` for the i-th value (from 1), and the values to bind in order.
    /// Only the conditions that are set are in it, so that an engine can use its indexes
    /// (a `? IS NULL OR tenant = ?` form would scan every job).
    pub fn query(&self, columns: &str, placeholder: impl Fn(usize) -> String) -> (String, Vec<FilterValue<'_>>) {
        let (clauses, values): (Vec<String>, Vec<FilterValue<'_>>) = self
            .conditions()
            .into_iter()
            .enumerate()
            .map(|(i, (condition, value))| (format!("{condition} {}", placeholder(i + 1)), value))
            .unzip();
        let mut sql = format!("SELECT {columns} FROM jobs");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(limit) = self.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        (sql, values)
    }

    /// The conditions that are set, each `column operator` and its value.
    fn conditions(&self) -> Vec<(&'static str, FilterValue<'_>)> {
        fn text<'a>(column: &'static str, value: Option<&'a str>) -> Option<(&'static str, FilterValue<'a>)> {
            value.map(|v| (column, FilterValue::Text(v)))
        }
        [
            text("tenant =", self.tenant.as_deref()),
            text("module =", self.module.as_deref()),
            text("status =", self.status.map(JobStatus::as_str)),
            text("kind =", self.kind.map(JobKind::as_str)),
            text("batch =", self.batch.as_deref()),
            self.since.as_deref().map(|v| ("started_at >=", FilterValue::Time(v))),
            self.from_id.map(|v| ("id >=", FilterValue::Id(v))),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The audit trail. Jobs end through [`ChangeStore::commit`], with what ending them
/// changes.
pub trait JobStore {
    /// Creates running jobs, in one transaction, each with its lease from now (by the
    /// landlord's clock); returns their ids in order.
    fn start_jobs(&self, jobs: &[NewJob], now: &str) -> Result<Vec<i64>>;
    /// Extends by `lease` (from now, by the landlord's clock) the leases of the running
    /// jobs that process `pid` of `host` started; returns how many it extended.
    fn renew_leases(&self, host: &str, pid: u32, lease: Duration) -> Result<usize>;
    /// Running jobs, of any tenant and host, whose lease ran out.
    fn expired_jobs(&self) -> Result<Vec<Job>>;
    /// Records a step before it runs (hooks), so that a crash leaves a trace.
    fn record_step(&self, job: i64, step: &Step) -> Result<()>;
    fn job(&self, id: i64) -> Result<Option<(Job, Vec<Step>, Effect)>>;
    fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;
    /// Jobs of a tenant that are pending, running or failed (not yet rolled back).
    fn unfinished_jobs(&self, tenant: &str) -> Result<Vec<Job>>;
    /// Tenants that have unfinished jobs.
    fn tenants_with_unfinished_jobs(&self) -> Result<Vec<String>>;
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FlagRecord {
    pub module: String,
    pub flag: String,
    pub value: bool,
    pub updated_at: String,
}

/// Per-tenant feature flags.
pub trait FlagStore {
    fn flags(&self, tenant: &str, module: Option<&str>) -> Result<Vec<FlagRecord>>;
}

/// Where every rule-bearing change to the landlord goes: a change set the domain computed
/// (`domain::change`), stored in order in one transaction, or not at all when one of its
/// guarded changes does not hold.
pub trait ChangeStore {
    fn commit(&self, changes: &[Change]) -> Result<Commit>;
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriptionRecord {
    pub tenant: String,
    pub module: String,
    pub granted_at: String,
    /// Last day included (YYYY-MM-DD), or open-ended.
    pub until: Option<String>,
    pub revoked_at: Option<String>,
}

impl SubscriptionRecord {
    /// Not revoked, and not past its last day (`today` as `YYYY-MM-DD`).
    pub fn is_active(&self, today: &str) -> bool {
        self.revoked_at.is_none() && self.until.as_deref().is_none_or(|until| until >= today)
    }
}

/// The built-in subscription store.
pub trait SubscriptionStore {
    fn grant(&self, tenant: &str, module: &str, until: Option<&str>, now: &str) -> Result<()>;
    /// False when there was nothing to revoke.
    fn revoke(&self, tenant: &str, module: &str, now: &str) -> Result<bool>;
    fn subscriptions(&self, tenant: &str) -> Result<Vec<SubscriptionRecord>>;
}

/// An API token for `modreg serve`, as the landlord keeps it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRecord {
    pub name: String,
    /// The tenants it may see and touch; empty: every tenant.
    pub tenants: Vec<String>,
    pub read_only: bool,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// API tokens, kept as SHA-256 digests.
pub trait TokenStore {
    /// Records a new token by its digest (hex). An active token of the same name is `invalid`
    /// (with a hint to revoke it first), never overwritten.
    fn create_token(&self, token: &TokenRecord, sha256: &str) -> Result<()>;
    /// Every token, revoked ones included, by name.
    fn tokens(&self) -> Result<Vec<TokenRecord>>;
    /// The active (not revoked) token with this digest.
    fn token_by_digest(&self, sha256: &str) -> Result<Option<TokenRecord>>;
    /// Revokes the active token of that name; false when there is none.
    fn revoke_token(&self, name: &str, now: &str) -> Result<bool>;
}

/// Why `create_token` stored nothing, as both engines say it: the name is taken by an
/// active token (`name_taken`), or, with a working random source never, the digest.
pub(crate) fn token_not_created(name: &str, name_taken: bool) -> Error {
    if name_taken {
        return Error::invalid(format!("a token named `{name}` exists and is not revoked"))
            .with_hint(format!("revoke it first with `modreg token revoke {name}`, or choose another name"));
    }
    Error::internal(format!("the landlord already holds a token with the digest of the new token `{name}`"))
        .with_hint("the random source gave a secret twice: check `/dev/urandom`, then create the token again")
}

/// Opaque guard of an exclusive right (event delivery); dropping it gives it up.
pub type Exclusive = Box<dyn std::any::Any + Send>;

/// The event log and delivery cursors. Events are handed out in the order their
/// transactions committed, each once: `events_after(id of the last one seen)` never
/// skips or repeats one, whatever processes or hosts wrote them. Ids are unique, but
/// on an engine with concurrent writers they need not grow in that order.
pub trait EventStore {
    /// Up to `limit` events after the event `after` (0: from the start).
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>>;
    /// A change counter that moves whenever another connection commits.
    fn data_version(&self) -> Result<i64>;
    /// Waits until `data_version` is no longer `seen` or `timeout` passes; returns it.
    fn wait_for_change(&self, seen: i64, timeout: Duration) -> Result<i64>;
    fn cursor(&self, name: &str) -> Result<i64>;
    /// Sets a delivery cursor to the last event delivered.
    fn set_cursor(&self, name: &str, last_id: i64, now: &str) -> Result<()>;
    /// The right to deliver under cursor `name`, if no other process (on any host)
    /// holds it; `None` when one does.
    fn try_exclusive(&self, name: &str) -> Result<Option<Exclusive>>;
}

/// One module of a tenant, as applications see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleState {
    pub version: String,
    pub enabled: bool,
    pub flags: std::collections::HashMap<String, bool>,
}

/// What a tenant has, read in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSnapshot {
    pub modules: std::collections::HashMap<String, ModuleState>,
}

/// The read side applications use (the library API): cheap to poll for changes.
pub trait ReadModel: Send {
    /// Moves whenever another connection commits a change.
    fn version(&mut self) -> Result<i64>;
    /// `None` for an unknown tenant.
    fn tenant(&mut self, tenant: &str) -> Result<Option<TenantSnapshot>>;
}

/// What changed, as a watcher reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// What this tenant has.
    Tenant(String),
    /// Anything: the watcher may have missed changes (it reconnected).
    Everything,
}

/// Opens the read side of the same landlord, for applications.
pub trait ReadModelSource {
    /// A read model on its own connection.
    fn read_model(&self) -> Result<Box<dyn ReadModel>>;
    /// Calls `on_change` from a thread of its own whenever a change commits, with no
    /// query per read: for engines that announce changes (PostgreSQL's NOTIFY), with a
    /// poll at least every `staleness` as a fallback. `None` where the read model's
    /// `version` is cheap enough to ask on every read. Dropping the guard stops it.
    fn watch(&self, staleness: Duration, on_change: Arc<dyn Fn(Changed) + Send + Sync>) -> Result<Option<Exclusive>>;
}

/// Everything the landlord keeps.
pub trait Landlord:
    CatalogStore
    + TenantStore
    + JobStore
    + FlagStore
    + SubscriptionStore
    + TokenStore
    + EventStore
    + ChangeStore
    + ReadModelSource
    + Send
    + Sync
{
}

impl<
    T: CatalogStore
        + TenantStore
        + JobStore
        + FlagStore
        + SubscriptionStore
        + TokenStore
        + EventStore
        + ChangeStore
        + ReadModelSource
        + Send
        + Sync,
> Landlord for T
{
}

// ---------------------------------------------------------------------------------------
// Tenant databases
// ---------------------------------------------------------------------------------------

/// Timing of one piece of work inside a tenant database (a migration, the seeds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkStep {
    pub name: String,
    pub duration: Duration,
    pub detail: Option<String>,
}

/// An object of a tenant's schema: its name, and its kind (`table`, `index`, `view`,
/// `trigger`, `virtual` or `shadow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaItem {
    pub name: String,
    pub kind: String,
}

/// What applying a module's migrations (and seeds) did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub steps: Vec<WorkStep>,
    pub objects_created: Vec<SchemaItem>,
    pub objects_dropped: Vec<String>,
}

impl SchemaItem {
    /// Objects' names, as a step's detail lists them.
    pub fn names(items: &[SchemaItem]) -> String {
        items.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// A failure inside a tenant database, with the steps that completed before it.
#[derive(Debug, Clone)]
pub struct WorkError {
    /// The step that failed, e.g. `migrate V3__payments`.
    pub step: String,
    pub error: Error,
    pub done: Vec<WorkStep>,
    /// Where in the failing script's text the error points, when SQLite says.
    pub offset: Option<usize>,
    /// How long the failing step ran, when it was timed.
    pub duration: Duration,
}

impl WorkError {
    pub fn new(step: impl Into<String>, error: Error) -> Self {
        WorkError { step: step.into(), error, done: Vec::new(), offset: None, duration: Duration::ZERO }
    }
}

/// What a module's archive or kept copy holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveSummary {
    pub module: String,
    pub version: String,
    pub tables: usize,
    pub rows: u64,
    pub flags: BTreeMap<String, bool>,
}

/// How a rollback checkpoint was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMethod {
    /// A reflink (`FICLONE`): the copy shares the file's blocks until either changes.
    Reflink,
    /// A byte copy of the file, which held the whole database while it was copied.
    FileCopy,
    /// SQLite's backup API, page by page (the file alone did not hold the whole database:
    /// a reader kept part of it in the write-ahead log).
    Backup,
    /// `pg_dump` of the tenant's PostgreSQL schema, kept in the database.
    SchemaDump,
}

impl std::fmt::Display for CopyMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CopyMethod::Reflink => "reflink (FICLONE)",
            CopyMethod::FileCopy => "file copy (the file system has no reflinks)",
            CopyMethod::Backup => "SQLite backup API (the write-ahead log could not be checkpointed)",
            CopyMethod::SchemaDump => "pg_dump of the tenant's schema",
        })
    }
}

/// What a tenant store keeps aside: a module's uninstall archive, a pre-upgrade copy, a
/// removed tenant's data. Opaque above the adapter, which places it ([`TenantFiles::place`])
/// and alone knows what its reference means (a file path, for SQLite files); the landlord
/// records the reference as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kept(String);

impl Kept {
    /// A kept item by the reference the landlord recorded for it.
    pub fn new(reference: impl Into<String>) -> Kept {
        Kept(reference.into())
    }

    /// What the landlord records, and messages show.
    pub fn reference(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is to be kept, for the adapter to place: each a new item, named apart by `batch`
/// or `stamp`.
#[derive(Debug, Clone, Copy)]
pub enum KeepFor<'a> {
    /// What `uninstall` saves of a module.
    Archive { module: &'a str, version: &'a str, batch: &'a str },
    /// What `upgrade` keeps of a module before it changes, for `revert`.
    UpgradeCopy { module: &'a str, from: &'a str, batch: &'a str },
    /// The whole data of a removed tenant.
    RemovedTenant { stamp: &'a str },
}

/// One item a tenant store holds aside, found by looking ([`TenantFiles::kept_here`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptItem {
    pub tenant: String,
    pub kept: Kept,
    pub kind: FileKind,
    /// Half-written: a process stopped while writing it; nothing can use it.
    pub partial: bool,
    /// One of the references given: the landlord records it.
    pub referenced: bool,
    /// When it was written, as far as the store knows.
    pub written_at: Option<String>,
}

/// One tenant's database, opened for work. Module work happens between `begin` and
/// `commit`. Hooks that write the tenant database (`[hooks] writes_tenant_db`) either work
/// inside the transaction, on a session it lends them (`lend`), or, where the engine cannot
/// lend it, run between transactions behind a rollback checkpoint.
pub trait TenantDb {
    fn begin(&mut self) -> Result<()>;
    fn commit(&mut self) -> Result<()>;
    fn rollback(&mut self) -> Result<()>;
    /// Gives back the disk space that work rolled back took (after a full disk), so
    /// that the landlord, often on the same disk, can record the rollback. Outside a
    /// transaction; may wait for readers of older states up to the busy timeout.
    fn release_space(&mut self) -> Result<()>;
    /// Takes a checkpoint of the whole database, outside a transaction (before work that
    /// hooks can change); how, or `None` when there is nothing to keep (a scratch database).
    fn save_checkpoint(&mut self) -> Result<Option<CopyMethod>>;
    /// Puts the database back as the checkpoint has it; false when there was none.
    fn restore_checkpoint(&mut self) -> Result<bool>;
    fn discard_checkpoint(&mut self) -> Result<()>;
    /// Runs `run` (a hook) with the variables that give it a connection inside this
    /// transaction: it sees the work so far, and what it writes (if `writes`) commits or
    /// rolls back with the rest. `None` where the engine cannot lend its transaction
    /// ([`TenantFiles::hooks_join_transaction`]): the hook runs with
    /// [`TenantFiles::hook_env`].
    fn lend(&mut self, _writes: bool, _run: &mut dyn FnMut(Vec<(String, String)>) -> HookOutcome) -> Result<Option<HookOutcome>> {
        Ok(None)
    }
    /// Applies the module's migrations not yet applied (and its seeds when `seeds`),
    /// sandboxed, recording the objects it creates. Its SQL may write to its own tables,
    /// to those of the modules in `writable` (its dependencies) and to tables no module
    /// owns, and to no other module's ([`crate::domain::ownership`]).
    fn apply(
        &mut self,
        module: &ModuleVersion,
        seeds: bool,
        writable: &BTreeSet<ModuleName>,
    ) -> std::result::Result<ApplyReport, WorkError>;
    /// Saves the module's objects and rows as `kept`, a new item [`TenantFiles::place`]
    /// gave, in the current transaction (or one of its own outside one). A pre-upgrade
    /// copy leaves the module as it is; for an uninstall archive an engine may move the
    /// objects instead of copying them (PostgreSQL schemas), after which
    /// [`TenantDb::remove_module`] has only the module's records left to remove.
    fn save_module(&mut self, module: &str, flags: &BTreeMap<String, bool>, kept: &Kept) -> Result<ArchiveSummary>;
    /// Drops exactly the module's objects, its migration history and its records.
    fn remove_module(&mut self, module: &str) -> std::result::Result<Vec<String>, WorkError>;
    /// Recreates a module from what `save_module` kept. An engine that moves the objects
    /// back uses the item up ([`TenantFiles::kept_size`] is `None` afterwards); a SQLite
    /// file is copied from and stays.
    fn restore_module(&mut self, kept: &Kept) -> std::result::Result<ArchiveSummary, WorkError>;
    /// Rows of the module's tables whose foreign keys point at nothing.
    fn foreign_key_problems(&mut self, module: &str) -> Result<Vec<String>>;
    /// Versions the tenant database itself records, module to version.
    fn modules(&mut self) -> Result<BTreeMap<String, String>>;
    /// Stores, inside the current transaction, what a tenant database keeps of `changes`
    /// ([`Change::kept_by_tenant_file`]: when the tenant was added, its modules' enabled
    /// state and flags), unguarded; the other changes are the landlord's alone.
    fn record(&mut self, changes: &[Change]) -> Result<()>;
    /// What the database lacks because an older modreg wrote it: when the tenant was
    /// added, and the modules whose enabled state and flags it does not record.
    fn unrecorded(&mut self) -> Result<Unrecorded>;
    /// Records, inside the current transaction, that these jobs' tenant work is done.
    fn mark_jobs(&mut self, jobs: &[i64], batch: &str) -> Result<()>;
    fn job_marked(&mut self, job: i64) -> Result<bool>;
}

/// Where a tenant's rollback checkpoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    None,
    /// Being written when the process stopped: the tenant database was not touched yet.
    Partial,
    Complete,
}

/// One migration a tenant file's history records as applied to a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i32,
    /// The refinery name without the version, e.g. `invoices` of `V1__invoices`.
    pub name: String,
}

/// An object `_modreg_objects` says a module owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedObject {
    pub name: String,
    pub module: String,
    pub kind: String,
    /// The object is in the file's schema.
    pub present: bool,
}

/// A module as `_modreg_modules` of a tenant file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRecord {
    pub version: String,
    /// The checksum of the version's content when the tenant got it.
    pub checksum: String,
    pub installed_at: String,
    /// When it got this version.
    pub updated_at: String,
}

/// Whether a module is enabled, as a tenant file records it, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnabledRecord {
    pub enabled: bool,
    pub updated_at: String,
}

/// What a tenant file lacks because an older modreg wrote it (before it kept enabled
/// state and flags): see [`TenantDb::unrecorded`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unrecorded {
    /// When the tenant was added.
    pub created_at: bool,
    /// Modules whose enabled state and flags it does not record.
    pub modules: Vec<String>,
}

impl Unrecorded {
    pub fn is_empty(&self) -> bool {
        !self.created_at && self.modules.is_empty()
    }
}

/// What a tenant file records about itself (`_modreg_*`): when the tenant was added, its
/// modules with their enabled state and flags, their migration histories and their
/// objects. What `doctor` holds the landlord to, and what a landlord rebuilt from the
/// tenant files is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantRecords {
    /// When the tenant was added; none in a file an older modreg wrote that no command
    /// has worked on since.
    pub created_at: Option<String>,
    pub modules: BTreeMap<String, ModuleRecord>,
    /// Module to whether it is enabled. A module of `modules` without an entry was
    /// installed by an older modreg, which kept neither this nor its flags.
    pub enabled: BTreeMap<String, EnabledRecord>,
    /// Module to its flags, by name.
    pub flags: BTreeMap<String, Vec<FlagRecord>>,
    /// Module to the migrations its history table records, in order; a module without
    /// a history table is not in it.
    pub history: BTreeMap<String, Vec<AppliedMigration>>,
    pub objects: Vec<OwnedObject>,
}

/// A tenant file, checked without changing it.
#[derive(Debug, Clone)]
pub struct TenantFileCheck {
    /// What `PRAGMA integrity_check` finds wrong (empty: nothing).
    pub integrity: Vec<String>,
    /// Rows whose foreign keys point at nothing (`PRAGMA foreign_key_check`).
    pub foreign_keys: Vec<String>,
    /// What the file records, or why that cannot be read.
    pub records: Result<TenantRecords>,
}

/// Opaque guard of a tenant lock; dropping it releases the lock.
pub type TenantLock = Box<dyn std::any::Any + Send>;

/// The tenant databases: where each tenant's data lives, and what is kept aside of it.
/// Nothing above this trait knows how (a file, a schema): tenants and kept items are named,
/// never located.
pub trait TenantFiles: Send + Sync {
    /// What the tenant databases run on: which of a module's SQL they take.
    fn engine(&self) -> Engine;
    /// Where the tenant's data is, as messages show it: a file's path, for SQLite files.
    fn location(&self, tenant: &str) -> String;
    /// What a hook is told of the tenant's database (`MODREG_TENANT_DB` for SQLite files);
    /// `writes`: the hook may write it (it is listed in `writes_tenant_db`, or a
    /// `rollback` hook), else what it is told lets it only read where the engine can say so.
    fn hook_env(&self, tenant: &str, writes: bool) -> Vec<(String, String)>;
    /// Hooks run inside the job's transaction, on a connection it lends them
    /// ([`TenantDb::lend`]): no checkpoint is needed for those that write.
    fn hooks_join_transaction(&self) -> bool {
        false
    }
    fn exists(&self, tenant: &str) -> bool;
    /// Whether a tenant of this name can have a database here (a PostgreSQL schema may not
    /// take a name PostgreSQL keeps for itself); asked before the tenant is registered.
    fn accepts(&self, _tenant: &str) -> Result<()> {
        Ok(())
    }
    /// Creates an empty tenant database (idempotent).
    fn create(&self, tenant: &str) -> Result<()>;
    fn open(&self, tenant: &str) -> Result<Box<dyn TenantDb>>;
    /// A throwaway database with the same sandbox, for `validate`.
    fn scratch(&self) -> Result<Box<dyn TenantDb>>;
    /// Keeps the tenant's whole data as `kept` (from [`TenantFiles::place`]), or deletes
    /// it when `kept` is None.
    fn retire(&self, tenant: &str, kept: Option<&Kept>) -> Result<()>;
    /// Where the tenant's rollback checkpoint stands.
    fn checkpoint(&self, tenant: &str) -> Checkpoint;
    /// Removes a partial checkpoint left by a killed process.
    fn discard_partial_checkpoint(&self, tenant: &str) -> Result<()>;
    /// A new place for something kept aside of a tenant.
    fn place(&self, tenant: &str, what: KeepFor<'_>) -> Kept;
    /// How many bytes a kept item takes; `None` when it is not here (gone, or never written).
    fn kept_size(&self, kept: &Kept) -> Option<u64>;
    /// Reads what an item written by `TenantDb::save_module` holds.
    fn read_archive(&self, kept: &Kept) -> Result<ArchiveSummary>;
    /// Removes a kept item (an uninstall archive, a pre-upgrade copy), with whatever half
    /// of it a killed process left; true if any was there.
    fn discard_kept(&self, kept: &Kept) -> Result<bool>;
    /// Every item kept aside here, of the tenants `only` names (all, without it), whole
    /// or half-written, each marked whether it is one of `referenced`.
    fn kept_here(&self, only: Option<&BTreeSet<&str>>, referenced: &[Kept]) -> Result<Vec<KeptItem>>;
    /// Serializes work on one tenant across processes; waits up to `timeout`.
    fn lock(&self, tenant: &str, timeout: Duration) -> Result<TenantLock>;
    /// Locks every one of `tenants` without waiting, for as long as what it returns is
    /// held; else the first that could not be locked, with why.
    fn lock_each(&self, tenants: &[String]) -> std::result::Result<Vec<TenantLock>, (String, Error)> {
        tenants.iter().map(|tenant| self.lock(tenant, Duration::ZERO).map_err(|e| (tenant.clone(), e))).collect()
    }
    /// The tenants whose databases are here, by name, registered or not.
    fn names(&self) -> Result<Vec<String>>;
    /// Checks a tenant's database and reads what it records, read-only, while other
    /// processes may be working on it. An error when it cannot be read at all.
    fn check(&self, tenant: &str) -> Result<TenantFileCheck>;
    /// Writes a consistent copy of a tenant's database to `dest`, a new file in a backup
    /// folder, while other processes keep working on it; returns its size.
    fn copy_to(&self, tenant: &str, dest: &Path) -> Result<u64>;
}

/// The landlord as one file, where it is one (the SQLite landlord): checked whole.
/// [`landlord_file`] gives none for a landlord in a database server.
pub trait LandlordFile: Send + Sync {
    fn path(&self) -> &Path;
    /// What `PRAGMA integrity_check` finds wrong (empty: nothing), read-only; an error
    /// when the file cannot be read at all.
    fn integrity(&self) -> Result<Vec<String>>;
    /// Rows whose foreign keys point at nothing (`PRAGMA foreign_key_check`).
    fn foreign_keys(&self) -> Result<Vec<String>>;
    /// Writes a consistent copy of the landlord to `dest`, a new file, while other
    /// processes keep working on it; refused when the copy does not read back whole.
    fn copy_to(&self, dest: &Path) -> Result<LandlordCopy>;
    /// Checks that `file` is an undamaged landlord of a schema version this binary reads
    /// (storage error when damaged, invalid when it is no landlord or a newer one);
    /// returns its schema version.
    fn check_backup(&self, file: &Path) -> Result<i32>;
    /// Puts the content of `file` (checked) in place of the landlord's, for every
    /// process that has it open, after copying the landlord it replaces to `aside`;
    /// false when there was none to keep. The caller makes sure that no job runs.
    fn restore(&self, file: &Path, aside: &Path) -> Result<bool>;
}

/// A copy of the landlord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LandlordCopy {
    pub bytes: u64,
    pub schema_version: i32,
}

// ---------------------------------------------------------------------------------------
// Hooks, subscriptions, discovery
// ---------------------------------------------------------------------------------------

/// A hook to run.
#[derive(Debug, Clone)]
pub struct HookCall {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Written to the program's standard input (an event, for the event command).
    pub stdin: Option<String>,
    /// Killed, with its process group, when the process is interrupted (and not started
    /// once it was). A hook that undoes work (`rollback`) is not: it runs to its end.
    pub interruptible: bool,
    /// The program must resolve inside `dir` (a module's hook, in its module folder): a
    /// link that leads elsewhere is not started, even if it was retargeted after discovery.
    pub confined: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookStatus {
    Succeeded,
    Exited(i32),
    Signalled(i32),
    TimedOut,
    /// The process was interrupted while the hook ran: it was killed with its group.
    Interrupted(Interruption),
    CouldNotStart(String),
}

#[derive(Debug, Clone)]
pub struct HookOutcome {
    pub status: HookStatus,
    pub output: String,
    pub duration: Duration,
}

pub trait HookRunner: Send + Sync {
    fn run(&self, call: &HookCall) -> HookOutcome;
}

/// Whether the process was asked to stop (SIGINT, SIGTERM; [`interrupt`]): fleets ask
/// before each tenant, a tenant's run between its steps, the SQL sandbox while module
/// SQL runs, and the hook runner while a hook runs.
pub trait Interrupts: Send + Sync {
    /// The first interruption that arrived, if one did.
    fn interrupted(&self) -> Option<Interruption>;
}

/// Answers "may this tenant use this module" for modules that need a subscription.
pub trait SubscriptionSource: Send + Sync {
    fn allows(&self, tenant: &str, module: &str, today: &str) -> Result<bool>;
    /// Describes the source in messages (`the built-in store`, `command \`…\``).
    fn describe(&self) -> String;
}

/// What discovery found: module versions, and problems with the files it could not use.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub versions: Vec<ModuleVersion>,
    pub diagnostics: Vec<crate::domain::diagnostic::Diagnostic>,
    /// Manifest files found, parsed or not.
    pub manifests: usize,
}

/// Finds modules on disk.
pub trait ModuleSource: Send + Sync {
    fn discover(&self) -> Discovered;
}
