//! The use-cases, one per file. Each takes a [`Context`] (the stores behind their
//! traits, and settings), its options, and a [`Reporter`] for progress, and returns a
//! serializable report. Ops never touch a terminal and never name rusqlite.
//!
//! What several use-cases share has a module of its own, not public: `catalog` (the
//! modules folder as a command sees it, and the landlord's copies), `plan` (between
//! resolving and running), `execute` (one tenant's plan as an atomic unit), `fleet`
//! (many tenants at once), `journal` (how jobs end, in the landlord), `toggle`
//! (enable and disable) and `tenant_records` (what a tenant file keeps of the
//! landlord's changes, for `doctor --rebuild-landlord`).

pub mod archives;
pub mod backup;
mod catalog;
pub mod check;
pub mod disable;
pub mod doctor;
pub mod enable;
pub mod events;
mod execute;
pub mod fault;
pub mod flags;
mod fleet;
pub mod graph;
pub mod history;
pub mod install;
pub mod jobs;
mod journal;
pub mod modules;
mod plan;
pub mod planned;
pub mod rebuild_landlord;
pub mod recover;
pub mod restore_landlord;
pub mod revert;
pub mod stats;
pub mod status;
pub mod subscription;
pub mod tenant;
mod tenant_records;
mod toggle;
pub mod token;
pub mod uninstall;
pub mod upgrade;
pub mod validate;

pub use fleet::any_failed as fleet_failed;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::domain::job::Job;
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::Installed;
use crate::domain::suggest::{closest, similar};
use crate::domain::{Error, Interruption, Result};
use crate::store::{self, LandlordAccess, StoreConfig, Stores};

/// Settings that every use-case may read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub modules_dir: PathBuf,
    pub data_dir: PathBuf,
    /// How long to wait for a tenant (or the landlord) held by another process.
    pub lock_timeout: Duration,
    /// How long a hook may run before it is killed.
    pub hook_timeout: Duration,
    /// How long one migration or seed may run before it is stopped.
    pub sql_timeout: Duration,
    /// How much memory SQLite may hold in this process, module SQL included
    /// (`MODREG_SQL_MEMORY`, bytes; 0 for no bound).
    pub sql_memory: u64,
    /// Tenants worked on at once by fleet commands.
    pub jobs: usize,
    /// Who is acting, recorded on every job.
    pub actor: String,
    /// Pre-upgrade copies kept per tenant and module, for `revert`.
    pub keep_upgrade_copies: usize,
    /// `MODREG_SUBSCRIPTION_COMMAND`, when billing lives elsewhere.
    pub subscription_command: Option<String>,
    /// `--landlord`: a PostgreSQL landlord shared by many hosts.
    pub landlord_url: Option<String>,
    /// `--tenants-db` (`MODREG_TENANTS`): tenant databases as schemas of a PostgreSQL database.
    pub tenants_url: Option<String>,
    /// `--host`: this host's name, recorded on its jobs and as the home of the tenants
    /// it adds.
    pub host: String,
    /// How long a running job counts as alive without its process renewing it.
    pub lease: Duration,
    /// The batch id of the jobs a command starts, when its caller chose it (the HTTP
    /// API answers with it before the work runs); a new one otherwise.
    pub batch: Option<String>,
}

impl Settings {
    pub fn new(modules_dir: PathBuf, data_dir: PathBuf) -> Self {
        Settings {
            modules_dir,
            data_dir,
            lock_timeout: Duration::from_secs(30),
            hook_timeout: Duration::from_secs(300),
            sql_timeout: Duration::from_secs(300),
            sql_memory: store::DEFAULT_SQL_MEMORY,
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            actor: "unknown".into(),
            keep_upgrade_copies: 3,
            subscription_command: None,
            landlord_url: None,
            tenants_url: None,
            host: store::host_name(),
            lease: Duration::from_secs(60),
            batch: None,
        }
    }
}

impl Settings {
    /// What the stores need of these settings, with the landlord opened as `access` says.
    pub fn store_config(&self, access: LandlordAccess) -> StoreConfig {
        StoreConfig {
            modules_dir: self.modules_dir.clone(),
            data_dir: self.data_dir.clone(),
            busy_timeout: self.lock_timeout,
            hook_timeout: self.hook_timeout,
            sql_timeout: self.sql_timeout,
            sql_memory: self.sql_memory,
            subscription_command: self.subscription_command.clone(),
            landlord: access,
            landlord_url: self.landlord_url.clone(),
            tenants_url: self.tenants_url.clone(),
        }
    }
}

/// The stores a use-case works with, behind their traits (`ctx.landlord`,
/// `ctx.tenants`… through `Deref`), and the settings.
pub struct Context {
    pub settings: Settings,
    pub stores: Stores,
    /// The thread that renews this process's job leases, once a job started; shared by
    /// the contexts made `with_settings` from this one.
    leases: std::sync::Arc<std::sync::OnceLock<()>>,
}

impl std::ops::Deref for Context {
    type Target = Stores;

    fn deref(&self) -> &Stores {
        &self.stores
    }
}

impl Context {
    pub fn new(stores: Stores, settings: Settings) -> Context {
        Context { settings, stores, leases: std::sync::Arc::default() }
    }

    /// The same stores with other settings (the HTTP API's actor and batch of one
    /// request); one lease thread serves them all.
    pub fn with_settings(&self, settings: Settings) -> Context {
        Context { settings, stores: self.stores.clone(), leases: self.leases.clone() }
    }

    /// Starts jobs, and keeps their leases renewed while this process lives: a thread
    /// renews them every third of the lease, so a job outlives its lease only when its
    /// process died (or lost the landlord), and another host may then take it over.
    pub fn start_jobs(&self, jobs: &[crate::store::NewJob], now: &str) -> Result<Vec<i64>> {
        self.leases.get_or_init(|| {
            let landlord = std::sync::Arc::downgrade(&self.stores.landlord);
            let (host, lease, pid) = (self.settings.host.clone(), self.settings.lease, std::process::id());
            let every = (lease / 3).max(Duration::from_millis(10));
            let _ = std::thread::Builder::new().name("modreg-leases".into()).spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(landlord) = landlord.upgrade() else { return };
                    // A failed renewal is retried at the next tick; the lease is three
                    // ticks long.
                    let _ = landlord.renew_leases(&host, pid, lease);
                }
            });
        });
        self.landlord.start_jobs(jobs, now)
    }

    /// The stores `settings` describe, with a landlord that is created when missing.
    pub fn open(settings: Settings) -> Result<Context> {
        Ok(Context::new(store::open(&settings.store_config(LandlordAccess::Create))?, settings))
    }

    /// The stores `settings` describe, with the landlord read-only: missing is not found,
    /// and nothing is created or upgraded.
    pub fn open_existing(settings: &Settings) -> Result<Context> {
        Ok(Context::new(store::open(&settings.store_config(LandlordAccess::ReadOnly))?, settings.clone()))
    }

    /// The interruption (SIGINT, SIGTERM) that asked the command to stop, if one did:
    /// work in flight rolls back and nothing new starts.
    pub fn interrupted(&self) -> Option<Interruption> {
        self.stores.interrupts.interrupted()
    }

    /// An interrupted error that says what was stopped, if the command was interrupted.
    pub(crate) fn stop_if_interrupted(&self, what: impl FnOnce() -> String) -> Result<()> {
        match self.interrupted() {
            Some(interruption) => Err(Error::interrupted(interruption, what())),
            None => Ok(()),
        }
    }

    /// Now, as stored.
    pub fn now(&self) -> String {
        self.clock.now_text()
    }

    pub fn today(&self) -> time::Date {
        self.clock.today()
    }

    /// Checks that a tenant is registered; not found otherwise.
    pub fn require_tenant(&self, tenant: &TenantName) -> Result<()> {
        match self.landlord.tenant(tenant.as_str())? {
            Some(_) => Ok(()),
            None => Err(unknown_tenant(tenant.as_str(), self.landlord.tenants()?.iter().map(|t| t.name.as_str()))),
        }
    }

    /// On a landlord shared by several hosts, with tenant databases in files, each works
    /// only on the tenants whose home it is (their files are in its data folder):
    /// refuses any other.
    pub fn require_home(&self, tenant: &crate::store::TenantRecord) -> Result<()> {
        match &tenant.host {
            Some(home) if self.stores.pinned && *home != self.settings.host => {
                Err(Error::invalid(format!("tenant `{}` lives on host `{home}`, and this is host `{}`", tenant.name, self.settings.host))
                    .with_hint(format!(
                        "run the command on host `{home}`, or move the tenant's file here and run `modreg tenant move {} --to {}`",
                        tenant.name, self.settings.host
                    )))
            }
            _ => Ok(()),
        }
    }

    /// The home a tenant this host adds gets: this host, unless tenant databases are not
    /// on hosts at all (PostgreSQL schemas), when it has none.
    pub fn pinned_to_host(&self) -> Option<&str> {
        (self.tenants.engine() == crate::domain::module::Engine::Sqlite).then_some(self.settings.host.as_str())
    }

    /// Takes the tenant's lock, waiting up to `--lock-timeout` for another process to
    /// release it; says so when it has to wait, as cargo does for its package cache.
    /// Refuses a tenant that lives on another host.
    pub fn lock_tenant(&self, tenant: &str, reporter: &dyn Reporter) -> Result<crate::store::TenantLock> {
        let lock = match self.tenants.lock(tenant, Duration::ZERO) {
            Err(e) if e.kind == crate::domain::ErrorKind::Busy => {
                reporter.status("Blocking", &format!("waiting for lock on tenant {tenant}"));
                // In steps, so that an interruption ends the wait.
                let deadline = std::time::Instant::now().checked_add(self.settings.lock_timeout);
                loop {
                    self.stop_if_interrupted(|| format!("stopped waiting for the lock on tenant `{tenant}`; nothing was changed"))?;
                    let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(std::time::Instant::now()));
                    match self.tenants.lock(tenant, left.min(LOCK_WAIT_STEP)) {
                        Err(e) if e.kind == crate::domain::ErrorKind::Busy && !left.is_zero() => {}
                        other => break other,
                    }
                }
            }
            other => other,
        }?;
        // Under the lock, so that a `tenant move` made from here cannot slip in between.
        if self.stores.pinned
            && let Some(record) = self.landlord.tenant(tenant)?
        {
            self.require_home(&record)?;
        }
        Ok(lock)
    }

    /// The tenant's installed modules as the resolver wants them.
    pub fn installed(&self, tenant: &str) -> Result<Installed> {
        let mut installed = Installed::new();
        for m in self.landlord.installed(tenant)? {
            let name = ModuleName::parse(&m.module).map_err(Error::from)?;
            let version = semver::Version::parse(&m.version)
                .map_err(|e| Error::internal(format!("landlord has an invalid version for `{}`: {e}", m.module)))?;
            installed.insert(name, version);
        }
        Ok(installed)
    }
}

/// How long a wait for a tenant's lock goes without looking for an interruption.
const LOCK_WAIT_STEP: Duration = Duration::from_millis(100);

/// What a use-case tells the person or program running it, as it goes.
pub trait Reporter: Send + Sync {
    /// A status line: a verb and its object (`Installing`, `finance 1.2.0 for acme`).
    fn status(&self, verb: &str, message: &str);
    fn warning(&self, message: &str);
    /// A log line of a job's step (shown with `--verbose`).
    fn log(&self, job: i64, tenant: &str, module: &str, step: &str, message: &str);
    /// The plan, before it runs.
    fn plan(&self, rows: &[PlanRow]);
    /// Fleet progress: how many tenants in all, then one call per tenant done.
    fn progress_start(&self, total: usize);
    fn progress_tenant_done(&self, tenant: &str, ok: bool);
    fn progress_finish(&self);
}

/// A reporter that says nothing (library use, tests).
pub struct Silent;

impl Reporter for Silent {
    fn status(&self, _: &str, _: &str) {}
    fn warning(&self, _: &str) {}
    fn log(&self, _: i64, _: &str, _: &str, _: &str, _: &str) {}
    fn plan(&self, _: &[PlanRow]) {}
    fn progress_start(&self, _: usize) {}
    fn progress_tenant_done(&self, _: &str, _: bool) {}
    fn progress_finish(&self) {}
}

/// One line of a plan: what happens to which module of which tenant, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PlanRow {
    pub tenant: String,
    pub module: String,
    pub action: String,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub reason: String,
    /// The deprecation notice of the target version, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
}

/// What `count` jobs whose end the landlord could not record (a full disk, a lost
/// connection) wait for.
pub fn waiting_for_recover(count: usize) -> String {
    format!("{count} job(s) stay `running` in the landlord until `modreg recover` ends them (free space first if the disk is full)")
}

/// Counts at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Summary {
    pub completed: usize,
    pub failed: usize,
    pub unchanged: usize,
}

/// One tenant's line in a fleet summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TenantResult {
    pub tenant: String,
    /// `completed`, `unchanged`, `failed`, `skipped` or `planned`.
    pub outcome: String,
    pub jobs: usize,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
}

/// The report of `install`, `upgrade`, `uninstall`, `enable` and `disable` (SPEC §7).
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct OperationReport {
    pub plan: Vec<PlanRow>,
    pub jobs: Vec<Job>,
    pub summary: Summary,
    pub tenants: Vec<TenantResult>,
    pub dry_run: bool,
    /// A fleet stopped by an interruption (SIGINT, SIGTERM): the error it ends with,
    /// after its summary. (A single tenant's interruption is the command's error.)
    #[serde(skip)]
    pub interrupted: Option<Error>,
}

/// A batch id: time-ordered and unique enough across processes.
pub fn new_batch_id(ctx: &Context) -> String {
    if let Some(batch) = &ctx.settings.batch {
        return batch.clone();
    }
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.write_u32(std::process::id());
    format!("{}-{:08x}", ctx.clock.file_stamp(), hasher.finish() as u32)
}

/// Validates tenant names before anything is touched.
pub fn parse_tenants(names: &[String]) -> Result<Vec<TenantName>> {
    let mut seen = BTreeSet::new();
    let mut tenants = Vec::new();
    for name in names {
        let tenant = TenantName::parse(name)?;
        if seen.insert(tenant.clone()) {
            tenants.push(tenant);
        }
    }
    Ok(tenants)
}

/// Not found, for a tenant the landlord does not have (of those it has, `known`): the
/// hint names a tenant with a similar name, or says how to add this one.
fn unknown_tenant<'a>(tenant: &str, known: impl IntoIterator<Item = &'a str>) -> Error {
    let hint = similar("tenant", tenant, known).unwrap_or_else(|| format!("add it with `modreg tenant add {tenant}`"));
    Error::not_found(format!("tenant `{tenant}` does not exist")).with_hint(hint)
}

/// Not found, for a module the tenant does not have (of those it has, `installed`): the
/// hint names an installed module with a similar name, or where to see what it has.
pub(crate) fn not_installed<'a>(tenant: &TenantName, module: &ModuleName, installed: impl IntoIterator<Item = &'a str>) -> Error {
    let hint = closest(module.as_str(), installed)
        .map(|found| format!("a module with a similar name is installed: `{found}`"))
        .unwrap_or_else(|| format!("run `modreg status --tenant {tenant}` to see what it has"));
    Error::not_found(format!("module `{module}` is not installed for tenant `{tenant}`")).with_hint(hint)
}

/// Which tenants a fleet command works on: the named ones, or all.
#[derive(Debug, Clone)]
pub enum TenantSelection {
    Named(Vec<TenantName>),
    All,
}

impl TenantSelection {
    /// Resolves the selection against the landlord; unknown named tenants are not found.
    /// All tenants are this host's, when hosts share the landlord.
    pub fn resolve(&self, ctx: &Context) -> Result<Vec<TenantName>> {
        match self {
            TenantSelection::Named(names) => {
                // A few named tenants' rows alone (every tenant's only to suggest a name
                // for one that is not there); many in one read of them all.
                let missing = match names.len() <= 16 {
                    true => names.iter().map(|n| Ok((n, ctx.landlord.tenant(n.as_str())?.is_none()))).collect::<Result<Vec<_>>>()?,
                    false => {
                        let known: BTreeSet<String> = ctx.landlord.tenants()?.into_iter().map(|t| t.name).collect();
                        names.iter().map(|n| (n, !known.contains(n.as_str()))).collect()
                    }
                };
                if let Some((name, _)) = missing.into_iter().find(|(_, missing)| *missing) {
                    let known = ctx.landlord.tenants()?;
                    return Err(unknown_tenant(name.as_str(), known.iter().map(|t| t.name.as_str())));
                }
                Ok(names.clone())
            }
            TenantSelection::All => ctx
                .landlord
                .tenants()?
                .into_iter()
                .filter(|t| ctx.require_home(t).is_ok())
                .map(|t| TenantName::parse(&t.name).map_err(Error::from))
                .collect(),
        }
    }

    /// One named tenant: errors keep their own exit codes instead of a fleet summary.
    pub fn is_single(&self) -> bool {
        matches!(self, TenantSelection::Named(names) if names.len() == 1)
    }
}

/// Flag values as a plain map, for archives and effects.
pub fn flag_map(flags: &[crate::store::FlagRecord]) -> BTreeMap<String, bool> {
    flags.iter().map(|f| (f.flag.clone(), f.value)).collect()
}
