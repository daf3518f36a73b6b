//! Whether the landlord and a tenant file agree on what the file keeps beyond its
//! modules' versions: whether each module is enabled, and its flags (what a landlord
//! rebuilt from the file would have); and what a file that an older modreg wrote does
//! not record yet. A `flags set` stopped between the file and the landlord shows here.

use std::collections::BTreeMap;

use crate::ops::doctor::Finding;
use crate::store::{FlagRecord, InstalledModule, TenantRecords};

fn state(enabled: bool) -> &'static str {
    if enabled { "enabled" } else { "disabled" }
}

fn verb(enabled: bool) -> &'static str {
    if enabled { "enable" } else { "disable" }
}

/// The landlord's enabled state and flags of a tenant's modules (`installed`, `flags`)
/// against its file's; `unfinished`: the tenant has unfinished jobs, which explain any
/// difference until they end.
pub(super) fn compare(
    tenant: &str,
    records: &TenantRecords,
    installed: &[InstalledModule],
    flags: &[FlagRecord],
    unfinished: bool,
) -> Vec<Finding> {
    let fixed = |fix: String| if unfinished { super::tenant::UNFINISHED_FIX.to_string() } else { fix };
    let mut findings = Vec::new();
    let mut unrecorded = Vec::new();
    // Modules only one side has are `tenant.modules`' to report.
    for m in installed.iter().filter(|m| records.modules.contains_key(&m.module)) {
        let module = m.module.as_str();
        let Some(recorded) = records.enabled.get(module) else {
            unrecorded.push(format!("`{module}`"));
            continue;
        };
        if recorded.enabled != m.enabled {
            let (said, found) = (m.enabled, recorded.enabled);
            findings.push(Finding::error(
                Some(tenant),
                "tenant.enabled",
                format!("the landlord says `{module}` of tenant `{tenant}` is {}, but its file records it {}", state(said), state(found)),
                fixed(format!(
                    "make both say {}: `modreg {} {module} --tenant {tenant}`; or both say {}: that, then `modreg {} {module} --tenant {tenant}`",
                    state(found),
                    verb(found),
                    state(said),
                    verb(said)
                )),
            ));
        }
        let in_landlord: BTreeMap<&str, bool> = flags.iter().filter(|f| f.module == module).map(|f| (f.flag.as_str(), f.value)).collect();
        let in_file: BTreeMap<&str, bool> = records.flags.get(module).into_iter().flatten().map(|f| (f.flag.as_str(), f.value)).collect();
        for (flag, said) in &in_landlord {
            let set = |value: bool| format!("`modreg flags set --tenant {tenant} {module}.{flag}={value}`");
            match in_file.get(flag) {
                Some(found) if found == said => {}
                Some(found) => findings.push(Finding::error(
                    Some(tenant),
                    "tenant.flags",
                    format!(
                        "the landlord says flag `{module}.{flag}` of tenant `{tenant}` is {said}, but its file records {found}: \
                         a `modreg flags set` that stopped between the two leaves this"
                    ),
                    fixed(format!(
                        "{} sets both to the file's value (what an interrupted `flags set` was setting), {} both to the landlord's",
                        set(*found),
                        set(*said)
                    )),
                )),
                None => findings.push(Finding::error(
                    Some(tenant),
                    "tenant.flags",
                    format!("the landlord has flag `{module}.{flag}` = {said} for tenant `{tenant}`, but its file does not record it"),
                    fixed(format!("{} records it in the file", set(*said))),
                )),
            }
        }
        for (flag, found) in in_file.iter().filter(|(flag, _)| !in_landlord.contains_key(*flag)) {
            findings.push(Finding::error(
                Some(tenant),
                "tenant.flags",
                format!("tenant `{tenant}`'s file records flag `{module}.{flag}` = {found}, which the landlord does not have for it"),
                fixed(format!(
                    "if the landlord is right, delete it from the tenant's file: `DELETE FROM _modreg_flags WHERE module = '{module}' AND flag = '{flag}'`; \
                     if the landlord lost it, put back a landlord backup that has it (`modreg restore-landlord BACKUP/landlord.db`)"
                )),
            ));
        }
    }
    let mut missing = Vec::new();
    if records.created_at.is_none() {
        missing.push("when the tenant was added".to_string());
    }
    if !unrecorded.is_empty() {
        missing
            .push(format!("whether {} enabled, nor the flags", unrecorded.join(", ") + if unrecorded.len() == 1 { " is" } else { " are" }));
    }
    if !missing.is_empty() {
        findings.push(Finding::warning(
            Some(tenant),
            "tenant.unrecorded",
            format!(
                "tenant `{tenant}`'s file does not record {}: an older modreg wrote it, and a landlord rebuilt from it would have to assume them",
                missing.join(", nor ")
            ),
            "`modreg recover` records them from the landlord (as does any command that works on the tenant)",
        ));
    }
    findings
}
