//! Kept files: archives, pre-upgrade copies and removed tenants' files that the landlord
//! refers to but that are gone, and files in the `archive` and `copies` folders that no
//! record refers to (a half-written archive of an interrupted job, a file copied in).

use std::collections::BTreeSet;

use crate::domain::Result;
use crate::domain::change::FileKind;
use crate::ops::Context;
use crate::ops::archives::{FileState, examine};
use crate::ops::doctor::{Finding, Landlord};
use crate::store::{ArchiveRecord, Kept};

/// What is wrong with the kept files of the tenants in `only` (all, without it).
pub(super) fn kept_files(ctx: &Context, landlord: &Landlord, only: Option<&BTreeSet<&str>>) -> Result<Vec<Finding>> {
    let wanted = |tenant: &str| only.is_none_or(|only| only.contains(tenant));
    let records: Vec<ArchiveRecord> = landlord.archives.iter().filter(|r| wanted(&r.tenant)).cloned().collect();
    let mut findings = Vec::new();
    let mut referenced = Vec::new();
    for kept in examine(ctx, records, false)? {
        match kept.file {
            FileState::Present => referenced.push(Kept::new(&kept.record.path)),
            FileState::Missing => findings.push(missing(&kept.record)),
            FileState::Elsewhere => {}
        }
    }
    for item in ctx.tenants.kept_here(only, &referenced)?.into_iter().filter(|i| !i.referenced) {
        let what = if item.partial {
            "is a half-written file that an interrupted uninstall or upgrade left"
        } else {
            "is kept for a tenant, but no record of the landlord refers to it"
        };
        findings.push(Finding::warning(
            Some(&item.tenant),
            "archives.unreferenced",
            format!("`{}` {what}", item.kept),
            format!("delete it if nothing needs it: `rm -- '{}'`", item.kept),
        ));
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
