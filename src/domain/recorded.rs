//! A tenant's modules as a tenant file records them (`_modreg_*`: enabled state and
//! flags beside the versions), and the changes that give a file an older modreg wrote
//! what it lacks, from the landlord. Pure values and rules.

use std::collections::BTreeMap;

use crate::domain::change::Change;

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

/// What a tenant file that an older modreg wrote gets from the landlord, for a rebuild
/// to find later: when the tenant was added (`created_at`, when the file lacks it), and
/// the enabled state and exactly the flags of each of `modules` (those it lacks).
pub fn fill_tenant_file(tenant: &str, created_at: Option<&str>, modules: &[RecordedModule]) -> Vec<Change> {
    let mut changes: Vec<Change> =
        created_at.map(|at| Change::AddTenant { name: tenant.to_string(), host: String::new(), at: at.to_string() }).into_iter().collect();
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
