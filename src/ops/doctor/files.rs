//! Kept files: archives, pre-upgrade copies and removed tenants' files that the landlord
//! refers to but that are gone, and files in the `archive` and `copies` folders that no
//! record refers to (a half-written archive of an interrupted job, a file copied in).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::domain::Result;
use crate::domain::change::FileKind;
use crate::ops::Context;
use crate::ops::archives::{FileState, examine};
use crate::ops::doctor::{Finding, Landlord};
use crate::store::ArchiveRecord;
use crate::store::storage::io_error;

/// The folders of the data folder that hold kept files, a folder a tenant.
const FOLDERS: [&str; 2] = ["archive", "copies"];

/// A path as it can be compared: absolute, links resolved (records keep the path as the
/// data folder was given then).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// What is wrong with the kept files of the tenants in `only` (all, without it).
pub(super) fn kept_files(ctx: &Context, landlord: &Landlord, only: Option<&BTreeSet<&str>>) -> Result<Vec<Finding>> {
    let wanted = |tenant: &str| only.is_none_or(|only| only.contains(tenant));
    let records: Vec<ArchiveRecord> = landlord.archives.iter().filter(|r| wanted(&r.tenant)).cloned().collect();
    let mut findings = Vec::new();
    let mut referenced = BTreeSet::new();
    for kept in examine(ctx, records, false)? {
        match kept.file {
            FileState::Present => {
                referenced.insert(canonical(Path::new(&kept.record.path)));
            }
            FileState::Missing => findings.push(missing(&kept.record)),
            FileState::Elsewhere => {}
        }
    }
    for folder in FOLDERS {
        let root = ctx.settings.data_dir.join(folder);
        for tenant_dir in entries(&root)? {
            let tenant = tenant_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !tenant_dir.is_dir() || !wanted(&tenant) {
                continue;
            }
            for file in entries(&tenant_dir)?.into_iter().filter(|f| f.is_file() && !referenced.contains(&canonical(f))) {
                let what = if file.extension().is_some_and(|e| e == "partial") {
                    "is a half-written file that an interrupted uninstall or upgrade left"
                } else {
                    "is kept for a tenant, but no record of the landlord refers to it"
                };
                findings.push(Finding::warning(
                    Some(&tenant),
                    "archives.unreferenced",
                    format!("`{}` {what}", file.display()),
                    format!("delete it if nothing needs it: `rm -- '{}'`", file.display()),
                ));
            }
        }
    }
    Ok(findings)
}

/// A kept file the landlord refers to that is gone.
fn missing(record: &ArchiveRecord) -> Finding {
    let module = match (&record.module, &record.version) {
        (Some(module), Some(version)) => format!("`{module} {version}`"),
        (Some(module), None) => format!("`{module}`"),
        _ => "a module".to_string(),
    };
    let (what, needed_by) = match record.kind.as_str() {
        k if k == FileKind::Uninstall.as_str() => (format!("the archive of {module} that uninstall kept"), "`modreg install --restore`"),
        k if k == FileKind::UpgradeCopy.as_str() => (format!("the pre-upgrade copy of {module}"), "`modreg revert`"),
        _ => ("the file kept of the removed tenant".to_string(), "bringing the tenant back"),
    };
    let tenant = &record.tenant;
    Finding::warning(
        Some(tenant),
        "archives.missing",
        format!("{what} for tenant `{tenant}` is gone from `{}`", record.path),
        format!(
            "put it back from a backup of the data folder ({needed_by} needs it); if it is lost for good, \
             `modreg archives prune --older-than DURATION` forgets it with the other files kept longer than DURATION"
        ),
    )
}

/// The entries of a folder, sorted; none when it does not exist.
pub(crate) fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(format!("cannot read `{}`", dir.display()), e)),
    };
    let mut paths = read
        .map(|entry| entry.map(|e| e.path()).map_err(|e| io_error(format!("cannot read `{}`", dir.display()), e)))
        .collect::<Result<Vec<_>>>()?;
    paths.sort();
    Ok(paths)
}
