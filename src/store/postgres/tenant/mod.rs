//! Tenant databases on PostgreSQL: one schema a tenant, named as the tenant, in one
//! database (which may be the landlord's). An application sets `search_path` to the
//! tenant's name. Beside the tenants' schemas modreg keeps `_modreg`: which schemas are
//! tenants, the module roles' runners (`confine`) and the rollback checkpoints (`dump`).
//!
//! Module work is one transaction of modreg's, DDL included; module SQL runs as the
//! module's own role (`confine`), so that PostgreSQL itself refuses what SPEC §5.1
//! forbids. What is kept aside of a tenant (an uninstall archive, a pre-upgrade copy, a
//! removed tenant) is a schema of its own, `_modreg_k_…`; a [`Kept`] reference is that
//! schema's name. The tenant lock is an advisory lock, so any host may work on any
//! tenant.

mod catalog;
mod confine;
mod db;
mod driver;
mod dump;
mod kept;
mod lend;
mod records;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::NoTls;
use r2d2_postgres::r2d2;
use sha2::{Digest, Sha256};

use crate::domain::change::FileKind;
use crate::domain::module::Engine;
use crate::domain::{Error, Result, StorageState};
use crate::store::clock::Clock;
use crate::store::postgres::pool::{self, Pooled};
use crate::store::{ArchiveSummary, Checkpoint, Interrupts, KeepFor, Kept, KeptItem, TenantDb, TenantFileCheck, TenantFiles, TenantLock};

use db::PostgresTenantDb;

/// modreg's own schema in the tenants' database.
const ADMIN: &str = "_modreg";

/// Checkouts after which a pooled connection is replaced (see `pool::Manager::renewing`).
const RENEW_AFTER: usize = 200;

/// What every kept schema's name starts with.
const KEPT_PREFIX: &str = "_modreg_k_";

/// The advisory lock taken to create modreg's own schema (`modreg` and `t` in ASCII).
const SETUP_LOCK: i64 = 0x6d6f_6472_6567_7401;

const ADMIN_SCHEMA: &str = "
CREATE SCHEMA IF NOT EXISTS _modreg;
CREATE TABLE IF NOT EXISTS _modreg.tenants (
    tenant     text PRIMARY KEY,
    created_at text NOT NULL
);
CREATE TABLE IF NOT EXISTS _modreg.roles (
    role   text PRIMARY KEY,
    tenant text NOT NULL,
    module text NOT NULL
);
CREATE TABLE IF NOT EXISTS _modreg.checkpoints (
    tenant     text PRIMARY KEY,
    dump       bytea NOT NULL,
    written_at text NOT NULL
);
";

/// Quotes an SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Sixteen hex digits of the SHA-256 of `parts`: a short name that fits PostgreSQL's 63.
fn digest(parts: &[&str]) -> String {
    let hash = Sha256::digest(parts.join("\u{0}").as_bytes());
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A tenant's advisory lock key.
fn lock_key(tenant: &str) -> i64 {
    let hash = Sha256::digest(format!("modreg tenant lock\u{0}{tenant}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[..8]);
    i64::from_be_bytes(bytes)
}

/// What this process read of a tenant as it took the tenant's lock: whether it is a
/// tenant of the database, and whether it has a rollback checkpoint. True for as long as
/// the lock is held, since only the lock's holder changes either; whatever this process
/// changes of either forgets them ([`Shared::forget`]), to be read again.
#[derive(Debug, Clone, Copy)]
struct Facts {
    registered: bool,
    checkpoint: bool,
}

/// What the tenant databases share: the pool, the URL for PostgreSQL's own programs, and
/// what module SQL runs under.
pub(crate) struct Shared {
    pool: pool::Pool,
    /// The URL as given, for `pg_dump` and `pg_restore`.
    url: String,
    /// The database's name, part of its module roles' (which are the cluster's).
    database: String,
    /// The URL without its password, for messages.
    shown: String,
    sql_timeout: Duration,
    clock: Arc<dyn Clock>,
    interrupts: Arc<dyn Interrupts>,
    /// The facts of the tenants whose locks this process holds (by [`TenantFiles::lock`]).
    facts: Mutex<HashMap<String, Facts>>,
}

impl Shared {
    fn known(&self, tenant: &str) -> Option<Facts> {
        self.facts.lock().ok()?.get(tenant).copied()
    }

    fn learn(&self, tenant: &str, facts: Facts) {
        if let Ok(mut all) = self.facts.lock() {
            all.insert(tenant.to_string(), facts);
        }
    }

    /// Forgets what was read of `tenant` when its lock was taken: this process is
    /// changing it, or letting the lock go.
    fn forget(&self, tenant: &str) {
        if let Ok(mut all) = self.facts.lock() {
            all.remove(tenant);
        }
    }

    fn client(&self) -> Result<Pooled> {
        self.pool.get().map_err(|e| {
            Error::storage(format!("no connection to the tenants database `{}`: {e}", self.shown))
                .with_hint("check that PostgreSQL runs and accepts connections there, then run the command again")
                .with_storage(StorageState::Unreachable)
        })
    }

    fn err(&self, e: postgres::Error) -> Error {
        pg_error(&self.shown, e)
    }
}

/// What a PostgreSQL error says: the server's message, or the client's error.
pub(super) fn message(e: &postgres::Error) -> String {
    e.as_db_error().map_or_else(|| e.to_string(), |db| db.message().to_string())
}

/// A PostgreSQL error in the tenants database, in words, as the landlord's are.
pub(crate) fn pg_error(shown: &str, e: postgres::Error) -> Error {
    crate::store::postgres::database_error(crate::store::postgres::TENANTS, shown, e)
}

/// Tenant databases as schemas of one PostgreSQL database.
pub struct PostgresTenants {
    shared: Arc<Shared>,
}

static SCRATCH: AtomicU64 = AtomicU64::new(0);

impl PostgresTenants {
    /// Connects to the database at `url`, creating modreg's own schema there (under an
    /// advisory lock, so that any number of hosts may start at once). Each migration and
    /// seed may run for `sql_timeout`, and until `interrupts` says the process was
    /// interrupted.
    pub fn open(
        url: &str,
        timeout: Duration,
        sql_timeout: Duration,
        clock: Arc<dyn Clock>,
        interrupts: Arc<dyn Interrupts>,
    ) -> Result<PostgresTenants> {
        let (config, shown) = crate::store::postgres::config(url, timeout)?;
        let mut first = config.connect(NoTls).map_err(|e| pg_error(&shown, e).context("cannot connect"))?;
        first
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({SETUP_LOCK}); {ADMIN_SCHEMA} {} {} {} COMMIT;",
                catalog::OBJECTS_IN,
                confine::EXECUTOR,
                confine::module_role_function()
            ))
            .map_err(|e| pg_error(&shown, e).context("cannot create modreg's schema `_modreg`"))?;
        let (database, version): (String, i32) = first
            .query_one("SELECT current_database()::text, current_setting('server_version_num')::int", &[])
            .map(|r| (r.get(0), r.get(1)))
            .map_err(|e| pg_error(&shown, e))?;
        let mut config = config;
        if version >= 140_000 {
            // A server process whose client is gone (a killed modreg) stops the statement
            // within a second, and rolls back, instead of running it to its end.
            let options = config.get_options().map_or_else(String::new, |o| format!("{o} "));
            config.options(&format!("{options}-c client_connection_check_interval=1000"));
        }
        let pool = r2d2::Pool::builder()
            .max_size(32)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(timeout.max(Duration::from_secs(1)))
            .build_unchecked(pool::Manager::renewing(config, RENEW_AFTER));
        let facts = Mutex::new(HashMap::new());
        let shared = Shared { pool, url: url.to_string(), database, shown, sql_timeout, clock, interrupts, facts };
        Ok(PostgresTenants { shared: Arc::new(shared) })
    }

    /// The tenants database, as messages show it.
    pub fn shown(&self) -> &str {
        &self.shared.shown
    }

    fn query(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<Vec<postgres::Row>> {
        let mut conn = self.shared.client()?;
        conn.query(sql, params).map_err(|e| self.shared.err(e))
    }

    fn schema_exists(&self, schema: &str) -> Result<bool> {
        let rows = self.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])?;
        Ok(!rows.is_empty())
    }

    fn registered(&self, tenant: &str) -> Result<bool> {
        if let Some(facts) = self.shared.known(tenant) {
            return Ok(facts.registered);
        }
        Ok(!self.query("SELECT 1 FROM _modreg.tenants WHERE tenant = $1", &[&tenant])?.is_empty())
    }

    fn require(&self, tenant: &str) -> Result<()> {
        if self.registered(tenant)? {
            return Ok(());
        }
        Err(Error::not_found(format!("the schema of tenant `{tenant}` is missing from `{}`", self.shared.shown)))
    }
}

/// `url` with `default_transaction_read_only` on for its sessions, in its `options`
/// (which libpq and most drivers read): added to any the URL has, or as a new parameter.
fn read_only_url(url: &str) -> String {
    const READ_ONLY: &str = "-c%20default_transaction_read_only%3Don";
    let (base, fragment) = url.split_once('#').map_or((url, None), |(b, f)| (b, Some(f)));
    let mut out = match base.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.strip_prefix("options=") {
                    Some(value) => format!("options={READ_ONLY}%20{value}"),
                    None => p.to_string(),
                })
                .collect();
            let had = query.split('&').any(|p| p.starts_with("options="));
            let extra = if had { String::new() } else { format!("&options={READ_ONLY}") };
            format!("{path}?{}{extra}", params.join("&"))
        }
        None => format!("{base}?options={READ_ONLY}"),
    };
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Names PostgreSQL keeps for itself, which no tenant's schema may take.
fn reserved(tenant: &str) -> bool {
    tenant == "public" || tenant == "information_schema" || tenant.starts_with("pg_")
}

/// Advisory locks held on one pooled connection; dropping them lets the locks go, and
/// what was read of the tenant as its lock was taken (`facts`).
struct AdvisoryLock {
    conn: Option<Pooled>,
    keys: Vec<i64>,
    facts: Option<(Arc<Shared>, String)>,
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        if let Some((shared, tenant)) = self.facts.take() {
            shared.forget(&tenant);
        }
        if let Some(mut conn) = self.conn.take() {
            let released = self.keys.iter().all(|key| conn.query("SELECT pg_advisory_unlock($1)", &[key]).is_ok());
            if !released {
                // The lock may still be held by this session: the connection must not go
                // back to the pool with it.
                let _ = conn.client().batch_execute("SELECT pg_terminate_backend(pg_backend_pid())");
            }
        }
    }
}

impl TenantFiles for PostgresTenants {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn location(&self, tenant: &str) -> String {
        format!("schema `{tenant}` of {}", self.shared.shown)
    }

    /// A hook that may not write gets a URL whose sessions are read-only
    /// (`default_transaction_read_only`): its writes fail, and fail the job, as on SQLite.
    fn hook_env(&self, tenant: &str, writes: bool) -> Vec<(String, String)> {
        let url = if writes { self.shared.url.clone() } else { read_only_url(&self.shared.url) };
        vec![("MODREG_TENANT_URL".to_string(), url), ("MODREG_TENANT_SCHEMA".to_string(), tenant.to_string())]
    }

    fn hooks_join_transaction(&self) -> bool {
        true
    }

    fn exists(&self, tenant: &str) -> bool {
        self.registered(tenant).unwrap_or(false)
    }

    fn accepts(&self, tenant: &str) -> Result<()> {
        if reserved(tenant) {
            return Err(Error::invalid(format!("tenant `{tenant}` cannot have a schema of its name: PostgreSQL keeps it for itself"))
                .with_hint("choose another tenant id"));
        }
        // A schema modreg did not make (the application's, or one left by hand) is
        // not taken over, as a stray tenant file is not.
        if !self.registered(tenant)? && self.schema_exists(tenant)? {
            return Err(Error::invalid(format!(
                "a schema `{tenant}` already exists in the tenants database, but modreg did not make it for a tenant"
            ))
            .with_hint("rename or drop that schema, or choose another tenant id"));
        }
        Ok(())
    }

    fn create(&self, tenant: &str) -> Result<()> {
        self.accepts(tenant)?;
        let schema = ident(tenant);
        let sql = format!(
            "BEGIN;
             CREATE SCHEMA IF NOT EXISTS {schema};
             {internal}
             {role}
             INSERT INTO _modreg.tenants (tenant, created_at) VALUES ({name}, {now}) ON CONFLICT (tenant) DO NOTHING;
             COMMIT;",
            internal = catalog::internal_schema(tenant),
            role = confine::tenant_role_call(tenant),
            name = literal(tenant),
            now = literal(&self.shared.clock.now_text()),
        );
        self.shared.forget(tenant);
        let mut conn = self.shared.client()?;
        conn.client().batch_execute(&sql).map_err(|e| {
            let _ = conn.client().batch_execute("ROLLBACK");
            self.shared.err(e).context(format!("cannot create the schema of tenant `{tenant}`"))
        })
    }

    fn open(&self, tenant: &str) -> Result<Box<dyn TenantDb>> {
        self.require(tenant).map_err(|e| e.with_hint(format!("`modreg tenant add {tenant}` recreates an empty one")))?;
        Ok(Box::new(PostgresTenantDb::new(self.shared.clone(), self.shared.client()?, tenant.to_string(), false)))
    }

    fn scratch(&self) -> Result<Box<dyn TenantDb>> {
        let stamp = format!("{}{}", std::process::id(), SCRATCH.fetch_add(1, Ordering::Relaxed));
        let schema = format!("_modreg_s_{}", digest(&[&stamp, &self.shared.clock.now_text()]));
        let mut conn = self.shared.client()?;
        let sql = format!("CREATE SCHEMA {}; {}", ident(&schema), catalog::internal_schema(&schema));
        conn.client().batch_execute(&sql).map_err(|e| self.shared.err(e).context("cannot create a scratch schema"))?;
        Ok(Box::new(PostgresTenantDb::new(self.shared.clone(), conn, schema, true)))
    }

    fn retire(&self, tenant: &str, kept: Option<&Kept>) -> Result<()> {
        let schema = ident(tenant);
        let moved = match kept {
            Some(kept) => format!(
                "ALTER SCHEMA {schema} RENAME TO {kept_schema};
                 {meta}",
                kept_schema = ident(kept.reference()),
                meta = kept::meta_table(kept.reference(), tenant, &self.shared.clock.now_text()),
            ),
            None => format!("DROP SCHEMA {schema} CASCADE;"),
        };
        let present = self.schema_exists(tenant)?;
        let sql = format!(
            "BEGIN;
             {work}
             DELETE FROM _modreg.tenants WHERE tenant = {name};
             DELETE FROM _modreg.checkpoints WHERE tenant = {name};
             {roles}
             COMMIT;",
            work = if present { moved.as_str() } else { "" },
            name = literal(tenant),
            roles = if kept.is_none() { confine::DROP_UNUSED_ROLES } else { "" },
        );
        self.shared.forget(tenant);
        let mut conn = self.shared.client()?;
        conn.client().batch_execute(&sql).map_err(|e| {
            let _ = conn.client().batch_execute("ROLLBACK");
            self.shared.err(e).context(format!("cannot retire the schema of tenant `{tenant}`"))
        })
    }

    fn checkpoint(&self, tenant: &str) -> Checkpoint {
        // A checkpoint is written in one statement: it is there whole, or not at all.
        if let Some(facts) = self.shared.known(tenant) {
            return if facts.checkpoint { Checkpoint::Complete } else { Checkpoint::None };
        }
        match self.query("SELECT 1 FROM _modreg.checkpoints WHERE tenant = $1", &[&tenant]) {
            Ok(rows) if !rows.is_empty() => Checkpoint::Complete,
            _ => Checkpoint::None,
        }
    }

    fn discard_partial_checkpoint(&self, _tenant: &str) -> Result<()> {
        Ok(())
    }

    fn place(&self, tenant: &str, what: KeepFor<'_>) -> Kept {
        let (kind, parts): (FileKind, Vec<&str>) = match what {
            KeepFor::Archive { module, version, batch } => (FileKind::Uninstall, vec![tenant, module, version, batch]),
            KeepFor::UpgradeCopy { module, from, batch } => (FileKind::UpgradeCopy, vec![tenant, module, from, batch]),
            KeepFor::RemovedTenant { stamp } => (FileKind::Tenant, vec![tenant, stamp]),
        };
        Kept::new(format!("{KEPT_PREFIX}{}_{}", kept::letter(kind), digest(&parts)))
    }

    fn kept_size(&self, kept: &Kept) -> Option<u64> {
        kept::size(&mut *self.shared.client().ok()?, kept.reference()).ok().flatten()
    }

    fn read_archive(&self, kept: &Kept) -> Result<ArchiveSummary> {
        kept::read_summary(self.shared.client()?.client(), kept.reference()).map_err(|e| match e {
            kept::Failure::Db(e) => self.shared.err(e).context(format!("cannot read the archive `{kept}`")),
            kept::Failure::Other(e) => e,
        })
    }

    fn discard_kept(&self, kept: &Kept) -> Result<bool> {
        if !kept.reference().starts_with(KEPT_PREFIX) || !self.schema_exists(kept.reference())? {
            return Ok(false);
        }
        let mut conn = self.shared.client()?;
        conn.client()
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE; {}", ident(kept.reference()), confine::DROP_UNUSED_ROLES))
            .map_err(|e| self.shared.err(e).context(format!("cannot remove `{kept}`")))?;
        Ok(true)
    }

    fn kept_here(&self, only: Option<&BTreeSet<&str>>, referenced: &[Kept]) -> Result<Vec<KeptItem>> {
        let referenced: BTreeSet<&str> = referenced.iter().map(Kept::reference).collect();
        let mut conn = self.shared.client()?;
        let items = kept::list(&mut conn).map_err(|e| self.shared.err(e).context("cannot list what is kept"))?;
        Ok(items
            .into_iter()
            .filter(|item| only.is_none_or(|only| only.contains(item.tenant.as_str())))
            .map(|mut item| {
                item.referenced = referenced.contains(item.kept.reference());
                item
            })
            .collect())
    }

    /// Also reads, in the same round trip once the lock is held, whether the tenant is
    /// one and has a checkpoint (`Facts`), which the work under the lock asks again and
    /// again.
    fn lock(&self, tenant: &str, timeout: Duration) -> Result<TenantLock> {
        let (key, name) = (lock_key(tenant), literal(tenant));
        // Each statement of a simple query reads what is committed as it starts: the
        // second, what the lock's last holder committed.
        let sql = format!(
            "SELECT pg_try_advisory_lock({key});
             SELECT EXISTS (SELECT 1 FROM _modreg.tenants WHERE tenant = {name}),
                    EXISTS (SELECT 1 FROM _modreg.checkpoints WHERE tenant = {name})"
        );
        let mut conn = self.shared.client()?;
        let deadline = Instant::now() + timeout;
        loop {
            let messages = conn.client().simple_query(&sql).map_err(|e| self.shared.err(e))?;
            let rows: Vec<&postgres::SimpleQueryRow> =
                messages.iter().filter_map(|m| if let postgres::SimpleQueryMessage::Row(row) = m { Some(row) } else { None }).collect();
            let yes = |row: usize, column: usize| rows.get(row).and_then(|r| r.get(column)) == Some("t");
            if yes(0, 0) {
                self.shared.learn(tenant, Facts { registered: yes(1, 0), checkpoint: yes(1, 1) });
                let facts = Some((self.shared.clone(), tenant.to_string()));
                return Ok(Box::new(AdvisoryLock { conn: Some(conn), keys: vec![key], facts }));
            }
            if Instant::now() >= deadline {
                return Err(Error::busy(format!("tenant `{tenant}` is busy: another modreg process is working on it"))
                    .with_hint("wait for it to finish, or raise `--lock-timeout`"));
            }
            std::thread::sleep(Duration::from_millis(25).min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    /// All on one connection: as many tenants as there are, without a connection each.
    fn lock_each(&self, tenants: &[String]) -> std::result::Result<Vec<TenantLock>, (String, Error)> {
        let Some(first) = tenants.first() else { return Ok(Vec::new()) };
        let conn = self.shared.client().map_err(|e| (first.clone(), e))?;
        let mut held = AdvisoryLock { conn: Some(conn), keys: Vec::with_capacity(tenants.len()), facts: None };
        for tenant in tenants {
            let key = lock_key(tenant);
            let Some(conn) = held.conn.as_mut() else {
                return Err((tenant.clone(), Error::internal("the tenant locks' connection is gone")));
            };
            let row = conn.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).map_err(|e| (tenant.clone(), self.shared.err(e)))?;
            if !row.get::<_, bool>(0) {
                let busy = Error::busy(format!("tenant `{tenant}` is busy: another modreg process is working on it"));
                return Err((tenant.clone(), busy.with_hint("wait for it to finish, or raise `--lock-timeout`")));
            }
            held.keys.push(key);
        }
        Ok(vec![Box::new(held)])
    }

    fn names(&self) -> Result<Vec<String>> {
        let rows = self.query("SELECT tenant FROM _modreg.tenants ORDER BY tenant", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn check(&self, tenant: &str) -> Result<TenantFileCheck> {
        self.require(tenant)?;
        let mut conn = self.shared.client()?;
        let records = records::read(&mut conn, tenant).map_err(|e| self.shared.err(e));
        // PostgreSQL checks its own pages and every foreign key as it writes them.
        Ok(TenantFileCheck { integrity: Vec::new(), foreign_keys: Vec::new(), records })
    }

    fn copy_to(&self, tenant: &str, dest: &std::path::Path) -> Result<u64> {
        self.require(tenant)?;
        dump::to_file(&self.shared, tenant, dest)
    }
}

#[cfg(test)]
mod tests {
    use super::read_only_url;

    #[test]
    fn a_read_only_url_adds_the_setting_to_the_options_the_url_has_or_as_a_new_parameter() {
        let on = "-c%20default_transaction_read_only%3Don";
        assert_eq!(read_only_url("postgres://u@h:5432/db"), format!("postgres://u@h:5432/db?options={on}"));
        assert_eq!(read_only_url("postgres://u@h/db?sslmode=disable"), format!("postgres://u@h/db?sslmode=disable&options={on}"));
        assert_eq!(
            read_only_url("postgres://u@h/db?options=-c%20work_mem%3D64MB&sslmode=disable"),
            format!("postgres://u@h/db?options={on}%20-c%20work_mem%3D64MB&sslmode=disable")
        );
        assert_eq!(read_only_url("postgres://u@h/db#x"), format!("postgres://u@h/db?options={on}#x"));
    }
}
