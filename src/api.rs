//! The library API for Rust applications: a read-only handle on the landlord that
//! answers "which modules does this tenant have, is this one enabled, is this flag on".
//!
//! Answers come from a per-tenant cache, kept fresh two ways:
//!
//! - on the SQLite landlord ([`Registry::open`]), every call first asks SQLite whether the
//!   landlord changed since the cache was filled (`PRAGMA data_version`, which moves when
//!   any other connection commits, at no I/O cost);
//! - on a PostgreSQL landlord ([`Registry::connect`]), a thread listens for the tenants
//!   each change announces (NOTIFY) and drops just those from the cache, catching up
//!   through the event log after a reconnect and at least every `staleness`; a cached
//!   answer costs no round trip at all.
//!
//! Either way a change made by `modreg` on any process (or host) is seen without a
//! restart and without re-reading on every call.
//!
//! ```no_run
//! let registry = modreg::api::Registry::open("modreg-data")?;
//! if registry.allows("acme", "finance", Some("invoicing"))? {
//!     // show the invoicing screens
//! }
//! # Ok::<(), modreg::domain::Error>(())
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::domain::Result;
use crate::store::{self, Changed, Exclusive, LandlordAccess, ModuleState, ReadModel, StoreConfig, TenantSnapshot};

/// One module a tenant has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantModule {
    pub name: String,
    pub version: String,
    pub enabled: bool,
}

struct State {
    model: Box<dyn ReadModel>,
    /// The landlord's `data_version` when the cache was last known good.
    seen: Option<i64>,
    /// A watcher keeps the cache fresh: no version check per call.
    watched: bool,
    tenants: HashMap<String, Option<Arc<TenantSnapshot>>>,
}

impl State {
    fn forget(&mut self, changed: Changed) {
        match changed {
            Changed::Tenant(tenant) => {
                self.tenants.remove(&tenant);
            }
            Changed::Everything => self.tenants.clear(),
        }
    }
}

/// A read-only, caching handle on the landlord. Cheap to share between threads
/// (`Registry` is `Send + Sync`); calls are serialized on one connection.
pub struct Registry {
    state: Arc<Mutex<State>>,
    /// Stops the watcher when the registry goes.
    _watch: Option<Exclusive>,
}

/// How stale a PostgreSQL registry may get when a change announcement goes missing.
pub const DEFAULT_STALENESS: Duration = Duration::from_secs(1);

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Opens the landlord in a data folder (the `--data` of the CLI), read-only.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Registry> {
        let mut config = StoreConfig::new("modules", data_dir.as_ref());
        config.landlord = LandlordAccess::ReadOnly;
        Self::watching(&config, DEFAULT_STALENESS)
    }

    /// Connects to a PostgreSQL landlord (the `--landlord` of the CLI), read-only, and
    /// listens for its changes.
    pub fn connect(url: &str) -> Result<Registry> {
        Self::connect_with(url, DEFAULT_STALENESS)
    }

    /// As [`Registry::connect`], polling at least every `staleness` in case a change
    /// announcement is lost.
    pub fn connect_with(url: &str, staleness: Duration) -> Result<Registry> {
        let mut config = StoreConfig::new("modules", ".");
        config.landlord = LandlordAccess::ReadOnly;
        config.landlord_url = Some(url.to_string());
        Self::watching(&config, staleness)
    }

    fn watching(config: &StoreConfig, staleness: Duration) -> Result<Registry> {
        let landlord = store::open(config)?.landlord;
        let mut registry = Self::with_model(landlord.read_model()?);
        let state = Arc::downgrade(&registry.state);
        let on_change = Arc::new(move |changed| {
            if let Some(state) = state.upgrade() {
                lock(&state).forget(changed);
            }
        });
        registry._watch = landlord.watch(staleness, on_change)?;
        lock(&registry.state).watched = registry._watch.is_some();
        Ok(registry)
    }

    /// A registry over any read model (another landlord store, or a test double).
    pub fn with_model(model: Box<dyn ReadModel>) -> Registry {
        let state = State { model, seen: None, watched: false, tenants: HashMap::new() };
        Registry { state: Arc::new(Mutex::new(state)), _watch: None }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The tenant's snapshot, from the cache unless the landlord changed.
    fn snapshot(&self, tenant: &str) -> Result<Option<Arc<TenantSnapshot>>> {
        let mut state = self.lock();
        if !state.watched {
            let version = state.model.version()?;
            if state.seen != Some(version) {
                state.tenants.clear();
                state.seen = Some(version);
            }
        }
        if let Some(cached) = state.tenants.get(tenant) {
            return Ok(cached.clone());
        }
        let loaded = state.model.tenant(tenant)?.map(Arc::new);
        state.tenants.insert(tenant.to_string(), loaded.clone());
        Ok(loaded)
    }

    fn module<T>(&self, tenant: &str, module: &str, read: impl FnOnce(&ModuleState) -> T) -> Result<Option<T>> {
        Ok(self.snapshot(tenant)?.and_then(|s| s.modules.get(module).map(read)))
    }

    /// Whether the tenant is registered.
    pub fn has_tenant(&self, tenant: &str) -> Result<bool> {
        Ok(self.snapshot(tenant)?.is_some())
    }

    /// The tenant's modules, by name (empty for an unknown tenant).
    pub fn modules(&self, tenant: &str) -> Result<Vec<TenantModule>> {
        let mut modules: Vec<TenantModule> = self
            .snapshot(tenant)?
            .map(|s| {
                s.modules
                    .iter()
                    .map(|(name, m)| TenantModule { name: name.clone(), version: m.version.clone(), enabled: m.enabled })
                    .collect()
            })
            .unwrap_or_default();
        modules.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(modules)
    }

    /// The installed version, if the tenant has the module.
    pub fn version(&self, tenant: &str, module: &str) -> Result<Option<String>> {
        self.module(tenant, module, |m| m.version.clone())
    }

    /// Installed and enabled.
    pub fn is_enabled(&self, tenant: &str, module: &str) -> Result<bool> {
        Ok(self.module(tenant, module, |m| m.enabled)?.unwrap_or(false))
    }

    /// A flag's value; `None` when the tenant lacks the module or the module the flag.
    pub fn flag(&self, tenant: &str, module: &str, flag: &str) -> Result<Option<bool>> {
        Ok(self.module(tenant, module, |m| m.flags.get(flag).copied())?.flatten())
    }

    /// "May this tenant use this module (and is this flag on)?": installed, enabled, and
    /// the flag, when given, on. What `modreg check` answers with its exit code.
    pub fn allows(&self, tenant: &str, module: &str, flag: Option<&str>) -> Result<bool> {
        Ok(self.module(tenant, module, |m| m.enabled && flag.is_none_or(|f| m.flags.get(f).copied().unwrap_or(false)))?.unwrap_or(false))
    }

    /// Drops the cache: the next call reads the landlord again.
    pub fn invalidate(&self) {
        let mut state = self.lock();
        state.forget(Changed::Everything);
        state.seen = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    /// A read model that counts reads and whose version the test moves.
    struct Fake {
        version: Arc<AtomicI64>,
        reads: Arc<AtomicUsize>,
    }

    impl ReadModel for Fake {
        fn version(&mut self) -> Result<i64> {
            Ok(self.version.load(Ordering::SeqCst))
        }

        fn tenant(&mut self, tenant: &str) -> Result<Option<TenantSnapshot>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if tenant != "acme" {
                return Ok(None);
            }
            let mut snapshot = TenantSnapshot::default();
            let flags = HashMap::from([("invoicing".to_string(), true), ("recurring".to_string(), false)]);
            snapshot.modules.insert("finance".into(), ModuleState { version: "1.2.0".into(), enabled: true, flags });
            snapshot.modules.insert("forum".into(), ModuleState { version: "1.0.0".into(), enabled: false, flags: HashMap::new() });
            Ok(Some(snapshot))
        }
    }

    #[test]
    fn answers_from_the_cache_until_the_landlord_changes() {
        let version = Arc::new(AtomicI64::new(1));
        let reads = Arc::new(AtomicUsize::new(0));
        let registry = Registry::with_model(Box::new(Fake { version: version.clone(), reads: reads.clone() }));
        assert!(registry.allows("acme", "finance", None).unwrap());
        assert!(registry.allows("acme", "finance", Some("invoicing")).unwrap());
        assert!(!registry.allows("acme", "finance", Some("recurring")).unwrap());
        assert!(!registry.allows("acme", "finance", Some("unknown")).unwrap());
        assert!(!registry.allows("acme", "forum", None).unwrap());
        assert!(!registry.allows("acme", "elections", None).unwrap());
        assert_eq!(registry.version("acme", "finance").unwrap().as_deref(), Some("1.2.0"));
        assert_eq!(registry.flag("acme", "finance", "recurring").unwrap(), Some(false));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        version.store(2, Ordering::SeqCst);
        assert!(registry.is_enabled("acme", "finance").unwrap());
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        assert!(!registry.has_tenant("ghost").unwrap());
        assert!(!registry.has_tenant("ghost").unwrap());
        assert_eq!(reads.load(Ordering::SeqCst), 3, "unknown tenants are cached too");
        registry.invalidate();
        assert_eq!(registry.modules("acme").unwrap().iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["finance", "forum"]);
        assert_eq!(reads.load(Ordering::SeqCst), 4);
    }
}
