//! A tenant's modules as a tenant file records them (`_modreg_*`: enabled state and
//! flags beside the versions), and what that means for the landlord: the changes that
//! register a tenant in a landlord rebuilt from its file, and those that give a file an
//! older modreg wrote what it lacks, from the landlord. Pure values and rules.

use std::collections::BTreeMap;

use crate::domain::change::{Change, tenant_event};
use crate::domain::event::EventType;

/// A flag as one side records it, with when it got its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFlag {
    pub flag: String,
    pub value: bool,
    pub at: String,
}

/// A tenant's module as its file records it (what a landlord rebuilt from the file has),
/// or as the landlord does (what a file that an older modreg wrote gets from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedModule {
    pub module: String,
    pub version: String,
    pub enabled: bool,
    pub installed_at: String,
    /// When it got this version.
    pub version_at: String,
    /// When its version or its enabled state last changed.
    pub updated_at: String,
    pub flags: Vec<RecordedFlag>,
}

/// Each flag of `module` with its value, as of when it got it.
fn recorded_flags<'a>(tenant: &'a str, module: &'a RecordedModule) -> impl Iterator<Item = Change> + 'a {
    module.flags.iter().map(move |f| Change::AddFlags {
        tenant: tenant.to_string(),
        module: module.module.clone(),
        flags: BTreeMap::from([(f.flag.clone(), f.value)]),
        at: f.at.clone(),
    })
}

/// Registering, in a landlord rebuilt from the tenant files, a tenant as its file
/// (`file`) records it: at home on `host` (none: on no host), added at `created_at`, with its modules, their
/// enabled state and flags, and one entry of version history each, made by no job: the
/// version it has, since when (what it had before, the file does not record). Its event
/// is `tenant.added`, saying that it was rebuilt and from which file.
pub fn rebuild_tenant(name: &str, host: Option<&str>, created_at: &str, modules: &[RecordedModule], file: &str, at: &str) -> Vec<Change> {
    let mut changes = vec![Change::AddTenant { name: name.to_string(), host: host.map(str::to_string), at: created_at.to_string() }];
    for m in modules {
        changes.push(Change::RestoreModule {
            tenant: name.to_string(),
            module: m.module.clone(),
            version: m.version.clone(),
            enabled: m.enabled,
            installed_at: m.installed_at.clone(),
            updated_at: m.updated_at.clone(),
        });
        changes.extend(recorded_flags(name, m));
        changes.push(Change::History {
            tenant: name.to_string(),
            module: m.module.clone(),
            from: None,
            to: Some(m.version.clone()),
            job: None,
            at: m.version_at.clone(),
        });
    }
    let data = serde_json::json!({ "host": host, "rebuilt_from": file, "modules": modules.len() });
    changes.push(tenant_event(EventType::TenantAdded, name, Some(data), at));
    changes
}

/// What a tenant file that an older modreg wrote gets from the landlord, for a rebuild
/// to find later: when the tenant was added (`created_at`, when the file lacks it), and
/// the enabled state and exactly the flags of each of `modules` (those it lacks).
pub fn fill_tenant_file(tenant: &str, created_at: Option<&str>, modules: &[RecordedModule]) -> Vec<Change> {
    let mut changes: Vec<Change> =
        created_at.map(|at| Change::AddTenant { name: tenant.to_string(), host: None, at: at.to_string() }).into_iter().collect();
    for m in modules {
        changes.push(Change::SetEnabled {
            tenant: tenant.to_string(),
            module: m.module.clone(),
            enabled: m.enabled,
            at: m.updated_at.clone(),
        });
        changes.push(Change::RemoveFlags { tenant: tenant.to_string(), module: m.module.clone(), except: Vec::new() });
        changes.extend(recorded_flags(tenant, m));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> RecordedModule {
        RecordedModule {
            module: "finance".into(),
            version: "1.2.0".into(),
            enabled: false,
            installed_at: "t0".into(),
            version_at: "t1".into(),
            updated_at: "t2".into(),
            flags: vec![
                RecordedFlag { flag: "invoicing".into(), value: false, at: "t3".into() },
                RecordedFlag { flag: "recurring".into(), value: true, at: "t0".into() },
            ],
        }
    }

    #[test]
    fn a_rebuilt_tenant_has_its_modules_flags_and_one_history_entry_each_as_its_file_says() {
        let changes = rebuild_tenant("acme", Some("host-a"), "t-1", &[recorded()], "tenants/acme.db", "now");
        assert!(matches!(&changes[0], Change::AddTenant { at, host, .. } if at == "t-1" && host.as_deref() == Some("host-a")));
        assert!(changes[0].is_guarded(), "a tenant another process added meanwhile is not overwritten");
        assert!(changes.iter().any(|c| matches!(c,
            Change::RestoreModule { enabled: false, installed_at, updated_at, .. } if installed_at == "t0" && updated_at == "t2")));
        let flags: Vec<(&str, &str)> = changes
            .iter()
            .filter_map(|c| match c {
                Change::AddFlags { flags, at, .. } => flags.keys().next().map(|f| (f.as_str(), at.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(flags, [("invoicing", "t3"), ("recurring", "t0")], "each flag as of when it got its value");
        assert!(
            changes
                .iter()
                .any(|c| matches!(c, Change::History { from: None, to: Some(v), job: None, at, .. } if v == "1.2.0" && at == "t1"))
        );
        let Some(Change::Event(event)) = changes.last() else { panic!("{changes:?}") };
        assert_eq!(event.kind, EventType::TenantAdded);
        assert_eq!(event.data, Some(serde_json::json!({ "host": "host-a", "rebuilt_from": "tenants/acme.db", "modules": 1 })));
    }

    #[test]
    fn filling_a_tenant_file_replaces_its_modules_flags_and_sets_their_state() {
        let changes = fill_tenant_file("acme", Some("t-1"), &[recorded()]);
        assert!(changes.iter().all(Change::kept_by_tenant_file));
        assert!(matches!(&changes[0], Change::AddTenant { at, .. } if at == "t-1"));
        assert!(matches!(&changes[1], Change::SetEnabled { enabled: false, at, .. } if at == "t2"));
        assert!(matches!(&changes[2], Change::RemoveFlags { except, .. } if except.is_empty()));
        assert_eq!(changes.len(), 5);
        assert!(fill_tenant_file("acme", None, &[]).is_empty());
    }
}
