//! `modreg backup DEST [--tenants]`: a consistent copy of the landlord, and with
//! `--tenants` of every tenant file of this host, each consistent in itself, taken while
//! other processes keep working: `DEST/landlord.db`, `DEST/tenants/<tenant>.db`, and
//! `DEST/manifest.json`, what was copied and when. The landlord is copied first, so that a
//! tenant's copy is never behind it: a job that ran meanwhile is one the copied landlord
//! knows as running, which `recover` completes or rolls back after a restore.
//!
//! A landlord in PostgreSQL is no file to copy: `pg_dump` backs it up. Tenant databases
//! that are PostgreSQL schemas (`--tenants-db`) are copied each with `pg_dump --schema`,
//! as `DEST/tenants/<tenant>.dump`.

use std::path::{Path, PathBuf};

use crate::domain::module::Engine;
use crate::domain::name::TenantName;
use crate::domain::{Error, Result};
use crate::ops::fleet::each_tenant;
use crate::ops::{Context, Reporter};
use crate::store::storage::io_error;
use crate::store::{self, LandlordAccess};

/// The version of the manifest's shape.
const FORMAT: u32 = 1;

#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// A folder that does not exist yet, or is empty.
    pub dest: PathBuf,
    /// Copy every tenant file of this host too.
    pub tenants: bool,
}

/// One file of a backup.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopiedFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Where it is, relative to the backup's folder.
    pub file: String,
    pub bytes: u64,
    /// When its copy was taken (it is consistent as of then).
    pub copied_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i32>,
}

/// A tenant whose file was not copied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedCopy {
    pub tenant: String,
    pub error: String,
    pub error_kind: String,
}

/// What a backup holds: the report of `modreg backup`, and its `manifest.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupReport {
    pub format: u32,
    pub modreg_version: &'static str,
    pub host: String,
    pub dest: String,
    pub started_at: String,
    pub finished_at: String,
    /// None: the landlord is in PostgreSQL, which `pg_dump` backs up.
    pub landlord: Option<CopiedFile>,
    pub tenants: Vec<CopiedFile>,
    pub failed: Vec<FailedCopy>,
}

/// The refusal of what only a landlord file allows, on a landlord in PostgreSQL.
pub(crate) fn postgres_refusal(what: &str, how: &str) -> Error {
    Error::invalid(format!("the landlord is in PostgreSQL (`--landlord`, `MODREG_LANDLORD`): {what}")).with_hint(how.to_string())
}

pub fn backup(ctx: &Context, options: &BackupOptions, reporter: &dyn Reporter) -> Result<BackupReport> {
    let file = store::landlord_file(&ctx.settings.store_config(LandlordAccess::ReadOnly));
    if file.is_none() && !options.tenants {
        return Err(postgres_refusal(
            "`modreg backup` copies only a landlord that is a file",
            "back it up with `pg_dump` (`pg_dump --format=custom --file=landlord.dump URL`); \
             `modreg backup DEST --tenants` copies this host's tenant files",
        ));
    }
    let tenants = if options.tenants { this_hosts_tenants(ctx)? } else { Vec::new() };
    prepare_folder(&options.dest, options.tenants)?;
    let mut report = BackupReport {
        format: FORMAT,
        modreg_version: env!("CARGO_PKG_VERSION"),
        host: ctx.settings.host.clone(),
        dest: options.dest.display().to_string(),
        started_at: ctx.now(),
        finished_at: String::new(),
        landlord: None,
        tenants: Vec::new(),
        failed: Vec::new(),
    };
    match &file {
        Some(file) => {
            let copied_at = ctx.now();
            let copy = file.copy_to(&options.dest.join("landlord.db"))?;
            reporter.status("Copied", "the landlord");
            report.landlord = Some(CopiedFile {
                tenant: None,
                file: "landlord.db".into(),
                bytes: copy.bytes,
                copied_at,
                schema_version: Some(copy.schema_version),
            });
        }
        None => reporter.warning("the landlord is in PostgreSQL: back it up with `pg_dump`; only the tenant files are copied"),
    }
    let copies = each_tenant(
        &tenants,
        ctx.settings.jobs,
        reporter,
        |tenant| copy_tenant(ctx, tenant, &options.dest),
        |r| (r.is_ok(), false),
        || false,
    );
    for (copy, tenant) in copies.into_iter().zip(&tenants) {
        match copy {
            Some(Ok(copied)) => report.tenants.push(copied),
            Some(Err(e)) => {
                report.failed.push(FailedCopy { tenant: tenant.to_string(), error: e.message, error_kind: e.kind.as_str().to_string() })
            }
            None => {}
        }
    }
    report.finished_at = ctx.now();
    write_manifest(&options.dest, &report)?;
    Ok(report)
}

/// The tenants this host holds the files of.
fn this_hosts_tenants(ctx: &Context) -> Result<Vec<TenantName>> {
    ctx.landlord
        .tenants()?
        .into_iter()
        .filter(|t| ctx.require_home(t).is_ok())
        .map(|t| TenantName::parse(&t.name).map_err(Error::from))
        .collect()
}

/// Creates the backup's folder; one that holds anything already is refused, so that no
/// backup is mixed with another.
fn prepare_folder(dest: &Path, tenants: bool) -> Result<()> {
    let occupied = std::fs::read_dir(dest).map(|mut entries| entries.next().is_some()).unwrap_or(false);
    if occupied {
        return Err(Error::invalid(format!("`{}` is not empty: a backup goes into a folder of its own", dest.display()))
            .with_hint("name a new folder, e.g. one named after today's date"));
    }
    let folder = if tenants { dest.join("tenants") } else { dest.to_path_buf() };
    std::fs::create_dir_all(&folder).map_err(|e| io_error(format!("cannot create `{}`", folder.display()), e))
}

fn copy_tenant(ctx: &Context, tenant: &TenantName, dest: &Path) -> Result<CopiedFile> {
    // A SQLite file, or `pg_dump`'s custom format of a schema (`pg_restore` reads it).
    let extension = match ctx.tenants.engine() {
        Engine::Sqlite => "db",
        Engine::Postgres => "dump",
    };
    let file = format!("tenants/{tenant}.{extension}");
    let copied_at = ctx.now();
    let bytes = ctx.tenants.copy_to(tenant.as_str(), &dest.join(&file))?;
    Ok(CopiedFile { tenant: Some(tenant.to_string()), file, bytes, copied_at, schema_version: None })
}

/// `manifest.json`, written last: a folder with one holds a finished backup.
fn write_manifest(dest: &Path, report: &BackupReport) -> Result<()> {
    let path = dest.join("manifest.json");
    let partial = dest.join("manifest.json.partial");
    let text = serde_json::to_string_pretty(report).map_err(|e| Error::internal(format!("cannot encode the manifest: {e}")))?;
    std::fs::write(&partial, text + "\n")
        .and_then(|()| std::fs::File::open(&partial))
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| io_error(format!("cannot write `{}`", path.display()), e))
}
