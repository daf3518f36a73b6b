//! The one place the stores are built, from a configuration: the CLI's commands,
//! `validate`, `modules`, `graph` and the library API all come through here, so a second
//! landlord engine is chosen here and nowhere else.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Error, Result};
use crate::store::clock::{Clock, SystemClock};
use crate::store::discovery::DiskModules;
use crate::store::discovery_cache::CachedDiskModules;
use crate::store::hooks::ProcessHookRunner;
use crate::store::interrupt::ProcessSignals;
use crate::store::postgres::{PostgresLandlord, PostgresTenants};
use crate::store::sqlite::{SqliteLandlord, SqliteLandlordFile, SqliteTenantFiles};
use crate::store::subscription::{BuiltinSubscriptions, CommandSubscriptions};
use crate::store::{HookRunner, Interrupts, Landlord, LandlordFile, ModuleSource, SubscriptionSource, TenantFiles};

/// How a command needs the landlord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandlordAccess {
    /// Read and write, creating (and upgrading) it when needed: commands that change or
    /// read state.
    Create,
    /// Read only; a missing landlord is not found (the library API).
    ReadOnly,
    /// Read only when it exists and can be read, otherwise an empty one in memory:
    /// commands that need no state and must not create any (`validate`, `modules`, the
    /// catalog's `graph`).
    ReadOnlyOrEmpty,
}

/// How much memory SQLite may hold in a process unless `MODREG_SQL_MEMORY` says otherwise.
pub const DEFAULT_SQL_MEMORY: u64 = 1 << 30;

/// Where the stores are and how they behave.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub modules_dir: PathBuf,
    pub data_dir: PathBuf,
    /// How long to wait for a landlord or tenant file another process holds.
    pub busy_timeout: Duration,
    /// How long the subscription command may run.
    pub hook_timeout: Duration,
    /// How long one migration or seed may run (`MODREG_SQL_TIMEOUT`).
    pub sql_timeout: Duration,
    /// How much memory SQLite may hold in this process (`MODREG_SQL_MEMORY`; 0: no bound).
    pub sql_memory: u64,
    /// Ask this command instead of the built-in subscription store.
    pub subscription_command: Option<String>,
    pub landlord: LandlordAccess,
    /// A PostgreSQL landlord shared by many hosts (`--landlord`); without it, the
    /// SQLite landlord in the data folder.
    pub landlord_url: Option<String>,
    /// Tenant databases as schemas of this PostgreSQL database (`--tenants-db`); without it,
    /// SQLite files in the data folder.
    pub tenants_url: Option<String>,
}

impl StoreConfig {
    pub fn new(modules_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            modules_dir: modules_dir.into(),
            data_dir: data_dir.into(),
            busy_timeout: Duration::from_secs(30),
            hook_timeout: Duration::from_secs(300),
            sql_timeout: Duration::from_secs(300),
            sql_memory: DEFAULT_SQL_MEMORY,
            subscription_command: None,
            landlord: LandlordAccess::Create,
            landlord_url: None,
            tenants_url: None,
        }
    }
}

/// The stores a use-case works with, behind their traits. Cloning shares them.
#[derive(Clone)]
pub struct Stores {
    pub landlord: Arc<dyn Landlord>,
    pub tenants: Arc<dyn TenantFiles>,
    pub hooks: Arc<dyn HookRunner>,
    pub subscriptions: Arc<dyn SubscriptionSource>,
    /// The catalog: the modules folder.
    pub modules: Arc<dyn ModuleSource>,
    pub clock: Arc<dyn Clock>,
    /// SIGINT and SIGTERM, once the CLI catches them (`interrupt::catch`).
    pub interrupts: Arc<dyn Interrupts>,
    /// The landlord is shared by several hosts.
    pub shared: bool,
    /// Each tenant's data is on one host (a shared landlord, tenant databases in files):
    /// each host works on the tenants whose home it is.
    pub pinned: bool,
}

/// Builds the stores `config` describes, on the system clock.
pub fn open(config: &StoreConfig) -> Result<Stores> {
    open_with_clock(config, Arc::new(SystemClock))
}

/// Builds the stores `config` describes, on `clock`.
pub fn open_with_clock(config: &StoreConfig, clock: Arc<dyn Clock>) -> Result<Stores> {
    let (landlord, shared) = match &config.landlord_url {
        Some(url) => (open_postgres(url, config)?, true),
        None => (open_sqlite(config)?, false),
    };
    let interrupts: Arc<dyn Interrupts> = Arc::new(ProcessSignals);
    let tenants = tenant_files(config, clock.clone(), interrupts.clone())?;
    let hooks: Arc<dyn HookRunner> = Arc::new(ProcessHookRunner::new(interrupts.clone()));
    let subscriptions: Arc<dyn SubscriptionSource> = match &config.subscription_command {
        Some(command) => Arc::new(CommandSubscriptions::new(command.clone(), hooks.clone(), config.hook_timeout)),
        None => Arc::new(BuiltinSubscriptions::new(landlord.clone())),
    };
    Ok(Stores {
        landlord,
        tenants,
        hooks,
        subscriptions,
        modules: module_source(vec![config.modules_dir.clone()]),
        clock,
        interrupts,
        shared,
        pinned: shared && config.tenants_url.is_none(),
    })
}

/// The tenant databases `config` describes, without opening the landlord (which may be
/// the broken part: `doctor` checks the tenant databases all the same).
pub fn tenant_files(config: &StoreConfig, clock: Arc<dyn Clock>, interrupts: Arc<dyn Interrupts>) -> Result<Arc<dyn TenantFiles>> {
    crate::store::sqlite::limit_memory(config.sql_memory);
    let Some(url) = &config.tenants_url else {
        return Ok(Arc::new(SqliteTenantFiles::new(&config.data_dir, config.busy_timeout, config.sql_timeout, clock, interrupts)));
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::invalid(format!("`--tenants-db` takes a `postgres://` URL, not `{}`", PostgresLandlord::redact(url)))
            .with_hint("write it as `postgres://USER:PASSWORD@HOST:PORT/DATABASE`, or leave it out for SQLite files in the data folder"));
    }
    Ok(Arc::new(PostgresTenants::open(url, config.busy_timeout, config.sql_timeout, clock, interrupts)?))
}

/// The landlord's file, without opening it as a landlord, when the landlord is one file
/// (SQLite); none for PostgreSQL, which keeps its own pages.
pub fn landlord_file(config: &StoreConfig) -> Option<Arc<dyn LandlordFile>> {
    match config.landlord_url {
        Some(_) => None,
        None => Some(Arc::new(SqliteLandlordFile::new(&config.data_dir, config.busy_timeout))),
    }
}

/// The PostgreSQL landlord at `url`.
fn open_postgres(url: &str, config: &StoreConfig) -> Result<Arc<dyn Landlord>> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::invalid(format!("`--landlord` takes a `postgres://` URL, not `{}`", PostgresLandlord::redact(url)))
            .with_hint("write it as `postgres://USER:PASSWORD@HOST:PORT/DATABASE`, or leave it out for the landlord in the data folder"));
    }
    Ok(match config.landlord {
        LandlordAccess::Create => Arc::new(PostgresLandlord::open(url, config.busy_timeout)?),
        LandlordAccess::ReadOnly => Arc::new(PostgresLandlord::open_existing(url, config.busy_timeout)?.ok_or_else(|| {
            Error::not_found(format!("there is no landlord at `{}` yet", PostgresLandlord::redact(url)))
                .with_hint("run a modreg command that changes state against it first, e.g. `modreg tenant add`")
        })?),
        LandlordAccess::ReadOnlyOrEmpty => match PostgresLandlord::open_existing(url, config.busy_timeout) {
            Ok(Some(landlord)) => Arc::new(landlord),
            Ok(None) | Err(_) => Arc::new(SqliteLandlord::open_in_memory()?),
        },
    })
}

/// The SQLite landlord in the data folder.
fn open_sqlite(config: &StoreConfig) -> Result<Arc<dyn Landlord>> {
    Ok(match config.landlord {
        LandlordAccess::Create => Arc::new(SqliteLandlord::open(&config.data_dir, config.busy_timeout)?),
        LandlordAccess::ReadOnly => Arc::new(SqliteLandlord::open_read_only(&config.data_dir)?.ok_or_else(|| {
            Error::not_found(format!("there is no landlord in `{}`", config.data_dir.display()))
                .with_hint("point at the data folder modreg writes (`--data`, default `modreg-data`)")
        })?),
        LandlordAccess::ReadOnlyOrEmpty => match SqliteLandlord::open_read_only(&config.data_dir) {
            Ok(Some(landlord)) => Arc::new(landlord),
            Ok(None) | Err(_) => Arc::new(SqliteLandlord::open_in_memory()?),
        },
    })
}

/// Modules found at these paths: manifest files, module folders or whole catalogs.
pub fn module_source(paths: Vec<PathBuf>) -> Arc<dyn ModuleSource> {
    Arc::new(DiskModules::paths(paths))
}

/// The same, for a process that discovers again and again (`modreg serve`): read again
/// only when the tree changed (`store::discovery_cache` says how that is told).
pub fn cached_module_source(paths: Vec<PathBuf>) -> Arc<dyn ModuleSource> {
    Arc::new(CachedDiskModules::new(paths))
}
