//! The landlord on PostgreSQL, for platforms whose tenants live on several hosts: one
//! catalog, job log, event stream and set of flags and subscriptions for all of them.
//! The same traits as the SQLite landlord and the same conformance suite; only storage
//! differs. Here: connecting (a pool), the schema migrated under an advisory lock, the
//! helpers the stores share, the catalog and the tenants; change sets in `changes`,
//! jobs in `jobs`, flags and subscriptions in `runtime`, events in `events`, API tokens
//! in `tokens`, the read model in `reader`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::NoTls;
use postgres::types::ToSql;
use r2d2_postgres::r2d2;
use time::OffsetDateTime;

use crate::domain::change::FileKind;
use crate::domain::module::ModuleVersion;
use crate::domain::{Error, Result, StorageState};
use crate::store::clock::{format_time, parse_time};
use crate::store::version_content;
use crate::store::{
    ArchiveRecord, CatalogEntry, CatalogStore, Changed, Exclusive, HistoryEntry, InstalledModule, ReadModel, ReadModelSource,
    StoredVersion, TenantRecord, TenantStore,
};

mod changes;
mod driver;
mod events;
mod jobs;
mod listen;
mod pool;
mod reader;
mod runtime;
mod tenant;
mod tokens;

pub use reader::PostgresReadModel;
pub use tenant::PostgresTenants;

mod embedded {
    refinery::embed_migrations!("src/store/postgres/migrations");
}

/// The landlord schema version this binary writes: the number of embedded migrations.
const SCHEMA_VERSION: i32 = 3;

/// The advisory lock every host takes to migrate the landlord's schema: `modreg` in ASCII.
const MIGRATION_LOCK: i64 = 0x6d6f_6472_6567;

type Client = pool::Pooled;

pub struct PostgresLandlord {
    pool: pool::Pool,
    config: postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    /// A connection of its own that LISTENs, for `wait_for_change` (made on first use).
    listener: Mutex<Option<postgres::Client>>,
}

/// How one try at the landlord failed.
enum Attempt {
    /// A statement before the commit: nothing was stored.
    Db(postgres::Error),
    /// The commit itself: whether it took effect is not known.
    Commit(postgres::Error),
    /// Not the database's doing (a value that cannot be stored).
    Input(Error),
}

impl From<postgres::Error> for Attempt {
    fn from(e: postgres::Error) -> Self {
        Attempt::Db(e)
    }
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Self {
        Attempt::Input(e)
    }
}

impl PostgresLandlord {
    /// The URL as it may be shown: the password replaced.
    pub fn redact(url: &str) -> String {
        redact(url)
    }
}

/// The URL as it may be shown: the password replaced.
fn redact(url: &str) -> String {
    match without_password(url) {
        (rest, Some(_)) => match rest.rfind('@') {
            Some(at) => format!("{}:***{}", &rest[..at], &rest[at..]),
            None => rest,
        },
        (url, None) => url,
    }
}

/// The URL without its password, and the password, when it has one.
pub(crate) fn without_password(url: &str) -> (String, Option<String>) {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, password)) => (format!("{}{user}{}", &url[..scheme + 3], &url[at..]), Some(password.to_string())),
            None => (url.to_string(), None),
        },
        _ => (url.to_string(), None),
    }
}

/// A PostgreSQL database modreg uses, as its messages name it: the landlord, or the
/// tenants' database, each with its flag and environment variable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Database {
    noun: &'static str,
    flag: &'static str,
    env: &'static str,
}

pub(crate) const LANDLORD: Database = Database { noun: "landlord", flag: "--landlord", env: "MODREG_LANDLORD" };
pub(crate) const TENANTS: Database = Database { noun: "tenants database", flag: "--tenants-db", env: "MODREG_TENANTS" };

/// Maps a PostgreSQL error to a user-facing one, naming the landlord: what the URL got
/// wrong (credentials, database) is invalid input, a server that cannot be reached or a
/// connection that broke is storage, and only the rest is internal.
pub(crate) fn pg_error(shown: &str, e: postgres::Error) -> Error {
    database_error(LANDLORD, shown, e)
}

/// [`pg_error`] for any of modreg's databases.
pub(crate) fn database_error(database: Database, shown: &str, e: postgres::Error) -> Error {
    use postgres::error::SqlState;
    let Database { noun, flag, env } = database;
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            return Error::invalid(format!("the {noun} `{shown}` refused the credentials: {}", db.message()))
                .with_hint(format!("check the user and password in `{flag}` (or `{env}`)"));
        }
        if *code == SqlState::UNDEFINED_DATABASE {
            return Error::invalid(format!("the {noun} `{shown}` has no such database: {}", db.message()))
                .with_hint("create the database first (`createdb`), or correct its name in the URL");
        }
        if code.code().starts_with("08") || code.code().starts_with("57P") || *code == SqlState::TOO_MANY_CONNECTIONS {
            return Error::storage(format!("the {noun} `{shown}` is not available: {}", db.message()))
                .with_hint("check that PostgreSQL runs and accepts connections there, then run the command again")
                .with_storage(StorageState::Unreachable);
        }
        return Error::internal(format!("{noun} `{shown}`: {}", db.message()));
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return Error::storage(format!("cannot reach the {noun} `{shown}`: {e}"))
            .with_hint(format!(
                "check that PostgreSQL runs and accepts connections at that address (`{flag}`, `{env}`); `modreg recover` finishes what a lost connection interrupted"
            ))
            .with_storage(StorageState::Unreachable);
    }
    Error::storage(format!("{noun} `{shown}`: {e}"))
        .with_hint(format!("check that PostgreSQL runs and accepts connections at that address (`{flag}`, `{env}`)"))
}

/// Maps the failure to open a connection: as [`pg_error`], except that whatever is not
/// wrong with the URL itself (credentials, database name) means the server cannot be
/// reached now, such as a database that lets no one in while it is restarted.
pub(crate) fn connect_error(shown: &str, e: postgres::Error) -> Error {
    let error = pg_error(shown, e);
    if error.kind == crate::domain::ErrorKind::Invalid || error.storage_unreachable() {
        return error;
    }
    Error::storage(format!("cannot connect to the landlord: {}", error.message))
        .with_hint("check that PostgreSQL runs and accepts connections there, then run the command again")
        .with_storage(StorageState::Unreachable)
}

/// The connection settings of `url`, and the URL as it may be shown: connecting gives up
/// after `timeout` (at least 1 s, at most 10) unless the URL says otherwise.
pub(crate) fn config(url: &str, timeout: Duration) -> Result<(postgres::Config, String)> {
    let shown = redact(url);
    let mut config: postgres::Config = url.parse().map_err(|e| {
        Error::invalid(format!("`{shown}` is not a PostgreSQL URL: {e}"))
            .with_hint("write it as `postgres://USER:PASSWORD@HOST:PORT/DATABASE`")
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout.clamp(Duration::from_secs(1), Duration::from_secs(10)));
    }
    if config.get_application_name().is_none() {
        config.application_name("modreg");
    }
    Ok((config, shown))
}

/// A stored time, from the domain's text.
fn time(text: &str) -> Result<OffsetDateTime> {
    parse_time(text).ok_or_else(|| Error::internal(format!("`{text}` is not an RFC 3339 time")))
}

fn text(t: OffsetDateTime) -> String {
    format_time(t)
}

fn text_opt(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(format_time)
}

impl PostgresLandlord {
    /// Connects to the landlord at `url` (`postgres://user:password@host:port/database`),
    /// creating or upgrading its schema under an advisory lock, so that any number of
    /// hosts may start at once.
    pub fn open(url: &str, timeout: Duration) -> Result<PostgresLandlord> {
        let (landlord, mut first) = Self::connect(url, timeout)?;
        landlord.migrate(&mut first)?;
        Ok(landlord)
    }

    /// Connects to an existing landlord without changing it: `None` when the database
    /// holds no landlord schema yet.
    pub fn open_existing(url: &str, timeout: Duration) -> Result<Option<PostgresLandlord>> {
        let (landlord, mut first) = Self::connect(url, timeout)?;
        match landlord.schema_version(&mut first)? {
            None => Ok(None),
            Some(_) => Ok(Some(landlord)),
        }
    }

    /// A pool on `url`, and a first connection made directly, so that a wrong URL or
    /// password is told apart from a server that is down.
    fn connect(url: &str, timeout: Duration) -> Result<(PostgresLandlord, postgres::Client)> {
        let (config, shown) = config(url, timeout)?;
        let first = config.connect(NoTls).map_err(|e| pg_error(&shown, e).context("cannot connect"))?;
        let manager = pool::Manager::new(config.clone());
        let pool = r2d2::Pool::builder()
            .max_size(16)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(timeout.max(Duration::from_secs(1)))
            .build_unchecked(manager);
        Ok((PostgresLandlord { pool, config, shown, listener: Mutex::new(None) }, first))
    }

    fn err(&self, e: postgres::Error) -> Error {
        pg_error(&self.shown, e)
    }

    fn client(&self) -> Result<Client> {
        self.pool.get().map_err(|e| {
            Error::storage(format!("no connection to the landlord `{}`: {e}", self.shown))
                .with_hint("check that PostgreSQL runs and accepts connections there (or raise `--lock-timeout` if it is busy)")
                .with_storage(StorageState::Unreachable)
        })
    }

    /// Runs `f` on a pooled connection. A connection the server ended while it sat in
    /// the pool (a restart, a network cut) is found out on its first statement; then,
    /// since nothing can have been committed yet, `f` runs once more on a new one. The
    /// pool does not ask each connection first whether it still lives: that would cost
    /// a round trip on every call.
    fn on_connection<T>(&self, mut f: impl FnMut(&mut pool::Connection) -> std::result::Result<T, Attempt>) -> Result<T> {
        let mut retried = false;
        loop {
            let mut conn = self.client()?;
            match f(&mut conn) {
                Ok(value) => return Ok(value),
                Err(Attempt::Db(e)) if !retried && conn.is_closed() => {
                    retried = true;
                    drop(e);
                }
                Err(Attempt::Db(e) | Attempt::Commit(e)) => return Err(self.err(e)),
                Err(Attempt::Input(e)) => return Err(e),
            }
        }
    }

    /// Runs a query and maps every row.
    fn rows<T>(&self, sql: &str, params: &[&(dyn ToSql + Sync)], map: impl FnMut(&postgres::Row) -> Result<T>) -> Result<Vec<T>> {
        let rows = self.on_connection(|conn| Ok(conn.query(sql, params)?))?;
        rows.iter().map(map).collect()
    }

    /// Runs `f` in one transaction.
    fn write<T>(&self, mut f: impl FnMut(&mut pool::Tx<'_>) -> std::result::Result<T, postgres::Error>) -> Result<T> {
        self.on_connection(|conn| {
            let mut tx = conn.begin("")?;
            let value = f(&mut tx)?;
            tx.commit("").map_err(Attempt::Commit)?;
            Ok(value)
        })
    }

    /// The schema version recorded, refusing one newer than this binary's.
    fn schema_version(&self, client: &mut impl postgres::GenericClient) -> Result<Option<i32>> {
        let has_history: bool = client
            .query_one("SELECT to_regclass('_landlord_schema_history') IS NOT NULL", &[])
            .map(|row| row.get(0))
            .map_err(|e| self.err(e))?;
        if !has_history {
            return Ok(None);
        }
        let recorded: Option<i32> =
            client.query_one("SELECT max(version) FROM _landlord_schema_history", &[]).map(|row| row.get(0)).map_err(|e| self.err(e))?;
        if let Some(version) = recorded.filter(|v| *v > SCHEMA_VERSION) {
            return Err(Error::storage(format!(
                "the landlord `{}` has schema version {version}, newer than this modreg understands ({SCHEMA_VERSION})",
                self.shown
            ))
            .with_hint("use the modreg release that last wrote it, or a newer one"));
        }
        Ok(recorded)
    }

    /// Brings the schema to this binary's version, in one transaction that holds an
    /// advisory lock: hosts starting at once migrate one after another, and the later
    /// ones find nothing left to do.
    fn migrate(&self, client: &mut postgres::Client) -> Result<()> {
        let mut tx = client.transaction().map_err(|e| self.err(e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(|e| self.err(e))?;
        if self.schema_version(&mut tx)? != Some(SCHEMA_VERSION) {
            let mut driver = driver::MigrationTx::new(&mut tx);
            let mut runner = embedded::migrations::runner().set_grouped(true);
            runner.set_migration_table_name("_landlord_schema_history");
            runner.run(&mut driver).map_err(|e| Error::internal(format!("cannot upgrade the landlord schema of `{}`: {e}", self.shown)))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }
}

impl ReadModelSource for PostgresLandlord {
    fn read_model(&self) -> Result<Box<dyn ReadModel>> {
        Ok(Box::new(PostgresReadModel::connect(&self.config, &self.shown)?))
    }

    fn watch(&self, staleness: Duration, on_change: Arc<dyn Fn(Changed) + Send + Sync>) -> Result<Option<Exclusive>> {
        Ok(Some(Box::new(listen::Watcher::start(self.config.clone(), self.shown.clone(), staleness, on_change)?)))
    }
}

fn bad_json(what: &str, e: serde_json::Error) -> Error {
    Error::internal(format!("the landlord holds unreadable {what}: {e}"))
}

impl CatalogStore for PostgresLandlord {
    fn catalog_entries(&self) -> Result<Vec<CatalogEntry>> {
        self.rows("SELECT module, version, checksum, first_seen_at FROM catalog", &[], |r| {
            Ok(CatalogEntry { module: r.get(0), version: r.get(1), checksum: r.get(2), first_seen_at: text(r.get(3)) })
        })
    }

    fn record_versions(&self, versions: &[&ModuleVersion], now: &str) -> Result<()> {
        if versions.is_empty() {
            return Ok(());
        }
        let now = time(now)?;
        self.write(|tx| {
            for v in versions {
                let (migrations, seeds) = version_content::encode(v);
                tx.execute(
                    "INSERT INTO catalog (module, version, checksum, manifest, migrations, seeds, first_seen_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (module, version) DO NOTHING",
                    &[&v.name().as_str(), &v.version().to_string(), &v.checksum, &v.manifest_text, &migrations, &seeds, &now],
                )?;
            }
            Ok(())
        })
    }

    fn known_module(&self, module: &str) -> Result<bool> {
        Ok(!self.rows("SELECT 1 FROM catalog WHERE module = $1 LIMIT 1", &[&module], |_| Ok(()))?.is_empty())
    }

    fn stored_version(&self, module: &str, version: &str) -> Result<Option<StoredVersion>> {
        let found = self.rows(
            "SELECT checksum, manifest, migrations, seeds, first_seen_at FROM catalog WHERE module = $1 AND version = $2",
            &[&module, &version],
            |r| {
                let (migrations, seeds, postgres) =
                    version_content::decode(r.get(2), r.get(3)).map_err(|e| bad_json("migrations or seeds in the catalog", e))?;
                Ok(StoredVersion {
                    module: module.to_string(),
                    version: version.to_string(),
                    checksum: r.get(0),
                    manifest: r.get(1),
                    migrations,
                    seeds,
                    postgres,
                    first_seen_at: text(r.get(4)),
                })
            },
        )?;
        Ok(found.into_iter().next())
    }
}

fn tenant_from_row(r: &postgres::Row) -> Result<TenantRecord> {
    Ok(TenantRecord { name: r.get(0), created_at: text(r.get(1)), modules: r.get::<_, i64>(2).max(0) as usize, host: r.get(3) })
}

fn installed_from_row(r: &postgres::Row) -> Result<InstalledModule> {
    Ok(InstalledModule {
        tenant: r.get(0),
        module: r.get(1),
        version: r.get(2),
        enabled: r.get(3),
        installed_at: text(r.get(4)),
        updated_at: text(r.get(5)),
    })
}

impl TenantStore for PostgresLandlord {
    fn tenant(&self, name: &str) -> Result<Option<TenantRecord>> {
        let found = self.rows(
            "SELECT name, created_at, (SELECT count(*) FROM tenant_modules WHERE tenant = name), host FROM tenants WHERE name = $1",
            &[&name],
            tenant_from_row,
        )?;
        Ok(found.into_iter().next())
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>> {
        self.rows(
            "SELECT t.name, t.created_at, count(m.module), t.host FROM tenants t LEFT JOIN tenant_modules m ON m.tenant = t.name
             GROUP BY t.name, t.created_at, t.host ORDER BY t.name",
            &[],
            tenant_from_row,
        )
    }

    fn installed(&self, tenant: &str) -> Result<Vec<InstalledModule>> {
        self.rows(
            "SELECT tenant, module, version, enabled, installed_at, updated_at FROM tenant_modules WHERE tenant = $1 ORDER BY module",
            &[&tenant],
            installed_from_row,
        )
    }

    fn installed_everywhere(&self) -> Result<Vec<InstalledModule>> {
        self.rows(
            "SELECT tenant, module, version, enabled, installed_at, updated_at FROM tenant_modules ORDER BY tenant, module",
            &[],
            installed_from_row,
        )
    }

    fn history(&self, tenant: &str, module: Option<&str>) -> Result<Vec<HistoryEntry>> {
        self.rows(
            "SELECT tenant, module, from_version, to_version, job_id, at FROM version_history
             WHERE tenant = $1 AND ($2::text IS NULL OR module = $2) ORDER BY id",
            &[&tenant, &module],
            |r| {
                Ok(HistoryEntry {
                    tenant: r.get(0),
                    module: r.get(1),
                    from_version: r.get(2),
                    to_version: r.get(3),
                    job_id: r.get(4),
                    at: text(r.get(5)),
                })
            },
        )
    }

    fn archives(&self, tenant: &str, module: Option<&str>, kind: Option<FileKind>) -> Result<Vec<ArchiveRecord>> {
        let kind = kind.map(FileKind::as_str);
        self.rows(
            "SELECT id, tenant, module, version, kind, path, job_id, created_at FROM archives
             WHERE tenant = $1 AND ($2::text IS NULL OR module = $2) AND ($3::text IS NULL OR kind = $3) AND deleted_at IS NULL
             ORDER BY id DESC",
            &[&tenant, &module, &kind],
            archive_from_row,
        )
    }

    /// Tenants in byte order, as SQLite sorts them, whatever the database's locale.
    fn archives_everywhere(&self) -> Result<Vec<ArchiveRecord>> {
        self.rows(
            "SELECT id, tenant, module, version, kind, path, job_id, created_at FROM archives
             WHERE deleted_at IS NULL ORDER BY tenant COLLATE \"C\", id DESC",
            &[],
            archive_from_row,
        )
    }
}

fn archive_from_row(r: &postgres::Row) -> Result<ArchiveRecord> {
    Ok(ArchiveRecord {
        id: r.get(0),
        tenant: r.get(1),
        module: r.get(2),
        version: r.get(3),
        kind: r.get(4),
        path: r.get(5),
        job_id: r.get(6),
        created_at: text(r.get(7)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("postgres://modreg:s3cret@db.example:5432/landlord"), "postgres://modreg:***@db.example:5432/landlord");
        assert_eq!(redact("postgres://modreg@db.example/landlord"), "postgres://modreg@db.example/landlord");
        assert_eq!(redact("host=db user=modreg"), "host=db user=modreg");
        assert_eq!(
            without_password("postgres://modreg:s3cr@t@db.example/landlord"),
            ("postgres://modreg@db.example/landlord".to_string(), Some("s3cr@t".to_string()))
        );
        assert_eq!(redact("postgres://modreg:s3cr@t@db.example/landlord"), "postgres://modreg:***@db.example/landlord");
    }
}
