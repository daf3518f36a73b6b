//! Changes to the landlord, as data, and the rules that decide them: what a completed job
//! means (its effect: which modules and flags a tenant has, its version history, the
//! files kept, the event), what a failed or rolled-back job means, and what adding or
//! removing a tenant or setting a flag records. A landlord engine only stores a change
//! set, in order, in one transaction; it decides nothing.
//!
//! A tenant file keeps part of what its modules' changes mean (when the tenant was
//! added, whether each module is enabled, its flags: [`Change::kept_by_tenant_file`]),
//! written in the tenant's own transaction, so that a lost landlord can be rebuilt from
//! the tenant files (`domain::recorded`).
//!
//! A few changes are guarded: they say what the landlord must hold for them to apply (a
//! job still unfinished, a flag still at its old value, a tenant not yet there). When
//! one does not hold, the engine stores nothing of the set and says which failed.

use std::collections::BTreeMap;

use crate::domain::event::EventType;
use crate::domain::job::{Effect, Job, JobKind, JobStatus, Step, StepStatus};

/// A file modreg keeps beside the tenant files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A module's tables and rows, saved by uninstall for `install --restore`.
    Uninstall,
    /// A module as it was before an upgrade, for `revert`.
    UpgradeCopy,
    /// A removed tenant's file.
    Tenant,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Uninstall => "uninstall",
            FileKind::UpgradeCopy => "upgrade_copy",
            FileKind::Tenant => "tenant",
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: EventType,
    pub at: String,
    pub tenant: Option<String>,
    pub module: Option<String>,
    pub version: Option<String>,
    pub job_id: Option<i64>,
    /// Extra facts: a flag's name and value, a failure's reason, a kept file.
    pub data: Option<serde_json::Value>,
}

/// One change to the landlord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Registers a tenant, at home on `host` (none: on no host, any may work on it).
    /// Guarded: no tenant of that name exists.
    AddTenant {
        name: String,
        host: Option<String>,
        at: String,
    },
    /// Gives a tenant a new home host. Guarded: its home is still `from`.
    MoveTenant {
        name: String,
        from: Option<String>,
        to: String,
    },
    /// Forgets a tenant and what is kept under its name (its modules, flags and
    /// subscriptions); its jobs, events, version history and kept files stay.
    RemoveTenant {
        name: String,
    },
    /// The tenant has the module at `version`, enabled, installed at `at`.
    PutModule {
        tenant: String,
        module: String,
        version: String,
        at: String,
    },
    /// The tenant has the module as its file records it (a landlord rebuilt from the
    /// tenant files): at `version`, enabled or not, since `installed_at`, last changed at
    /// `updated_at`.
    RestoreModule {
        tenant: String,
        module: String,
        version: String,
        enabled: bool,
        installed_at: String,
        updated_at: String,
    },
    /// The tenant's module moves to `version`.
    SetVersion {
        tenant: String,
        module: String,
        version: String,
        at: String,
    },
    SetEnabled {
        tenant: String,
        module: String,
        enabled: bool,
        at: String,
    },
    /// The tenant no longer has the module.
    RemoveModule {
        tenant: String,
        module: String,
    },
    /// Adds each flag with its value, unless the tenant's module already has a flag of
    /// that name (which keeps its value).
    AddFlags {
        tenant: String,
        module: String,
        flags: BTreeMap<String, bool>,
        at: String,
    },
    /// Removes the tenant's module's flags, except those named.
    RemoveFlags {
        tenant: String,
        module: String,
        except: Vec<String>,
    },
    /// Sets a flag. Guarded: it exists with the value `was`.
    SetFlag {
        tenant: String,
        module: String,
        flag: String,
        value: bool,
        was: bool,
        at: String,
    },
    /// An entry of the tenant module's version history (`from` None: installed; `to`
    /// None: uninstalled), made by `job` (None: read from the tenant file by a rebuild).
    History {
        tenant: String,
        module: String,
        from: Option<String>,
        to: Option<String>,
        job: Option<i64>,
        at: String,
    },
    /// Records a kept file.
    KeepFile {
        tenant: String,
        module: Option<String>,
        version: Option<String>,
        kind: FileKind,
        path: String,
        job: Option<i64>,
        at: String,
    },
    /// Marks kept files as gone (pruned).
    ForgetFiles {
        ids: Vec<i64>,
        at: String,
    },
    Event(NewEvent),
    /// Ends a job with its steps. Guarded: the job is in one of `from`, and still the
    /// job of `host` (compare-and-set: of two hosts ending one job, one loses).
    EndJob {
        id: i64,
        host: Option<String>,
        from: Vec<JobStatus>,
        status: JobStatus,
        error: Option<String>,
        steps: Vec<Step>,
        at: String,
    },
}

impl Change {
    /// Whether the change carries a condition the landlord must meet.
    pub fn is_guarded(&self) -> bool {
        matches!(self, Change::AddTenant { .. } | Change::MoveTenant { .. } | Change::SetFlag { .. } | Change::EndJob { .. })
    }

    /// Whether a tenant file keeps this change too (in `_modreg_*` tables), so that a
    /// landlord rebuilt from it has it: when the tenant was added, whether each module is
    /// enabled, and its flags. A tenant file stores these unguarded (a flag it is told to
    /// set takes that value whatever it was) and ignores every other change: its modules'
    /// versions, objects and migration histories it records from the work itself.
    pub fn kept_by_tenant_file(&self) -> bool {
        matches!(
            self,
            Change::AddTenant { .. }
                | Change::PutModule { .. }
                | Change::RestoreModule { .. }
                | Change::SetEnabled { .. }
                | Change::RemoveModule { .. }
                | Change::AddFlags { .. }
                | Change::RemoveFlags { .. }
                | Change::SetFlag { .. }
        )
    }
}

/// How storing a change set went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Every change is stored.
    Done,
    /// The guarded change at this index of the set did not hold: nothing is stored.
    Conflict(usize),
}

fn event(kind: EventType, job: &Job, version: Option<&str>, data: Option<serde_json::Value>, at: &str) -> Change {
    Change::Event(NewEvent {
        kind,
        at: at.to_string(),
        tenant: Some(job.tenant.clone()),
        module: Some(job.module.clone()),
        version: version.map(str::to_string),
        job_id: Some(job.id),
        data,
    })
}

fn end(job: &Job, status: JobStatus, error: Option<String>, steps: Vec<Step>, at: &str) -> Change {
    let from = JobStatus::ALL.into_iter().filter(|s| s.can_become(status)).collect();
    Change::EndJob { id: job.id, host: job.host.clone(), from, status, error, steps, at: at.to_string() }
}

/// Replaces the module's flags with exactly `flags`.
fn replace_flags(job: &Job, flags: &BTreeMap<String, bool>, at: &str) -> [Change; 2] {
    let (tenant, module) = (job.tenant.clone(), job.module.clone());
    [
        Change::RemoveFlags { tenant: tenant.clone(), module: module.clone(), except: Vec::new() },
        Change::AddFlags { tenant, module, flags: flags.clone(), at: at.to_string() },
    ]
}

fn history(job: &Job, from: Option<&str>, to: Option<&str>, at: &str) -> Change {
    Change::History {
        tenant: job.tenant.clone(),
        module: job.module.clone(),
        from: from.map(str::to_string),
        to: to.map(str::to_string),
        job: Some(job.id),
        at: at.to_string(),
    }
}

fn keep_file(job: &Job, kind: FileKind, path: &str, at: &str) -> Change {
    Change::KeepFile {
        tenant: job.tenant.clone(),
        module: Some(job.module.clone()),
        version: job.from_version.clone(),
        kind,
        path: path.to_string(),
        job: Some(job.id),
        at: at.to_string(),
    }
}

/// Completing `job`, which was started with `effect`: the job ends `completed` with
/// `steps`, and the landlord records what it did to the tenant.
pub fn complete_job(job: &Job, effect: &Effect, steps: Vec<Step>, at: &str) -> Vec<Change> {
    let (tenant, module) = (job.tenant.clone(), job.module.clone());
    let mut changes = vec![end(job, JobStatus::Completed, None, steps, at)];
    match effect {
        Effect::Install { version, flags, restored_from } => {
            changes.push(Change::PutModule { tenant, module, version: version.clone(), at: at.to_string() });
            changes.extend(replace_flags(job, flags, at));
            changes.push(history(job, None, Some(version), at));
            let data = restored_from.as_ref().map(|path| serde_json::json!({ "restored_from": path }));
            changes.push(event(EventType::ModuleInstalled, job, Some(version), data, at));
        }
        Effect::Upgrade { version, features, copy } => {
            // Flags the new version adds get their defaults, existing ones keep their
            // values, flags it dropped go.
            changes.push(Change::SetVersion {
                tenant: tenant.clone(),
                module: module.clone(),
                version: version.clone(),
                at: at.to_string(),
            });
            changes.push(Change::AddFlags { tenant: tenant.clone(), module: module.clone(), flags: features.clone(), at: at.to_string() });
            changes.push(Change::RemoveFlags { tenant, module, except: features.keys().cloned().collect() });
            changes.push(history(job, job.from_version.as_deref(), Some(version), at));
            if let Some(copy) = copy {
                changes.push(keep_file(job, FileKind::UpgradeCopy, copy, at));
            }
            changes.push(event(EventType::ModuleUpgraded, job, Some(version), None, at));
        }
        Effect::Uninstall { archive } => {
            changes.push(Change::RemoveModule { tenant: tenant.clone(), module: module.clone() });
            changes.push(Change::RemoveFlags { tenant, module, except: Vec::new() });
            changes.push(history(job, job.from_version.as_deref(), None, at));
            if let Some(archive) = archive {
                changes.push(keep_file(job, FileKind::Uninstall, archive, at));
            }
            changes.push(event(EventType::ModuleUninstalled, job, job.from_version.as_deref(), None, at));
        }
        Effect::SetEnabled { enabled } => {
            changes.push(Change::SetEnabled { tenant, module, enabled: *enabled, at: at.to_string() });
            let kind = if *enabled { EventType::ModuleEnabled } else { EventType::ModuleDisabled };
            changes.push(event(kind, job, job.to_version.as_deref(), None, at));
        }
        Effect::Revert { version, flags } => {
            changes.push(Change::SetVersion { tenant, module, version: version.clone(), at: at.to_string() });
            changes.extend(replace_flags(job, flags, at));
            changes.push(history(job, job.from_version.as_deref(), Some(version), at));
            changes.push(event(EventType::ModuleReverted, job, Some(version), None, at));
        }
    }
    changes
}

/// What the tenant file keeps of completing `job` (started with `effect`): its module's
/// enabled state and flags as [`complete_job`] leaves them, to be written in the same
/// tenant transaction as the job's work.
pub fn tenant_file_part(job: &Job, effect: &Effect, at: &str) -> Vec<Change> {
    complete_job(job, effect, Vec::new(), at).into_iter().filter(Change::kept_by_tenant_file).collect()
}

/// Completing, in recovery, a job whose tenant work is found committed: as
/// [`complete_job`], also when another host marked it failed after its lease ran out
/// (the tenant file, which only its home host holds, had the last word).
pub fn complete_recovered_job(job: &Job, effect: &Effect, steps: Vec<Step>, at: &str) -> Vec<Change> {
    let mut changes = complete_job(job, effect, steps, at);
    if let Some(Change::EndJob { from, .. }) = changes.first_mut() {
        from.push(JobStatus::Failed);
    }
    changes
}

/// The step a host adds to a job of another host that it gives up on ([`abandon_job`]).
pub const ABANDONED_STEP: &str = "lease expired";

/// Whether the outcome event of `job` (as the landlord has it, with its stored `steps`)
/// is out already. A job has one outcome event, ever: a job that ended `failed` (its undo
/// failed too) announced its failure then, and recovery, which finishes it, does not
/// again; a job another host gave up on announced nothing, since only its home host
/// knows how it ends.
pub fn outcome_announced(job: &Job, steps: &[Step]) -> bool {
    job.status == JobStatus::Failed && !steps.iter().any(|s| s.name == ABANDONED_STEP)
}

/// Giving up, from host `by`, on a running job of another host whose lease ran out: it
/// is marked `failed` with `error`, its stored `steps` kept and a step added, and no
/// outcome event. Its home host, which holds the tenant's data, completes or rolls it
/// back (`recover` there), and that announces how it ended.
pub fn abandon_job(job: &Job, mut steps: Vec<Step>, by: &str, error: &str, at: &str) -> Vec<Change> {
    steps.push(Step {
        name: ABANDONED_STEP.into(),
        status: StepStatus::Failed,
        duration_ms: 0,
        detail: Some(format!("given up by host `{by}`")),
        output: None,
    });
    vec![end(job, JobStatus::Failed, Some(error.to_string()), steps, at)]
}

/// Ending a job that did not complete: `failed` (undoing it failed too; `recover`
/// retries) or `rolled_back`. A failed install or upgrade is an event, unless its
/// outcome was announced already ([`outcome_announced`]; `steps` are all the job's
/// steps); the tenant's modules do not change.
pub fn end_job(job: &Job, status: JobStatus, error: &str, steps: Vec<Step>, at: &str) -> Vec<Change> {
    let announced = outcome_announced(job, &steps);
    let mut changes = vec![end(job, status, Some(error.to_string()), steps, at)];
    if announced {
        return changes;
    }
    let kind = match job.kind {
        JobKind::Install => Some(EventType::ModuleInstallFailed),
        JobKind::Upgrade => Some(EventType::ModuleUpgradeFailed),
        _ => None,
    };
    if let Some(kind) = kind {
        let data = serde_json::json!({ "error": error, "status": status.as_str() });
        changes.push(event(kind, job, job.to_version.as_deref(), Some(data), at));
    }
    changes
}

pub(crate) fn tenant_event(kind: EventType, tenant: &str, data: Option<serde_json::Value>, at: &str) -> Change {
    Change::Event(NewEvent { kind, at: at.to_string(), tenant: Some(tenant.to_string()), module: None, version: None, job_id: None, data })
}

/// Registering a tenant at home on `host`.
pub fn add_tenant(name: &str, host: Option<&str>, at: &str) -> Vec<Change> {
    vec![
        Change::AddTenant { name: name.to_string(), host: host.map(str::to_string), at: at.to_string() },
        tenant_event(EventType::TenantAdded, name, Some(serde_json::json!({ "host": host })), at),
    ]
}

/// Moving a tenant's home from `from` to `to`.
pub fn move_tenant(name: &str, from: Option<&str>, to: &str, at: &str) -> Vec<Change> {
    vec![
        Change::MoveTenant { name: name.to_string(), from: from.map(str::to_string), to: to.to_string() },
        tenant_event(EventType::TenantMoved, name, Some(serde_json::json!({ "from": from, "to": to })), at),
    ]
}

/// Forgetting a tenant whose file went to `archive` (or was purged).
pub fn remove_tenant(name: &str, archive: Option<&str>, at: &str) -> Vec<Change> {
    let mut changes = vec![Change::RemoveTenant { name: name.to_string() }];
    if let Some(path) = archive {
        changes.push(Change::KeepFile {
            tenant: name.to_string(),
            module: None,
            version: None,
            kind: FileKind::Tenant,
            path: path.to_string(),
            job: None,
            at: at.to_string(),
        });
    }
    let data = archive.map(|a| serde_json::json!({ "archive": a }));
    changes.push(tenant_event(EventType::TenantRemoved, name, data, at));
    changes
}

/// Setting a flag that is `was` to `value`; nothing when they are the same.
pub fn set_flag(tenant: &str, module: &str, flag: &str, value: bool, was: bool, at: &str) -> Vec<Change> {
    if value == was {
        return Vec::new();
    }
    vec![
        Change::SetFlag { tenant: tenant.to_string(), module: module.to_string(), flag: flag.to_string(), value, was, at: at.to_string() },
        Change::Event(NewEvent {
            kind: EventType::FlagChanged,
            at: at.to_string(),
            tenant: Some(tenant.to_string()),
            module: Some(module.to_string()),
            version: None,
            job_id: None,
            data: Some(serde_json::json!({ "flag": flag, "value": value })),
        }),
    ]
}

/// What a tenant file keeps of setting a flag that the landlord has at `was` to `value`:
/// the value, also when it is `was` already, so that setting a flag mends a file that
/// disagrees with the landlord.
pub fn set_flag_in_tenant_file(tenant: &str, module: &str, flag: &str, value: bool, was: bool, at: &str) -> Vec<Change> {
    vec![Change::SetFlag { tenant: tenant.to_string(), module: module.to_string(), flag: flag.to_string(), value, was, at: at.to_string() }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: JobKind, from: Option<&str>, to: Option<&str>) -> Job {
        Job {
            id: 7,
            batch: "b".into(),
            tenant: "acme".into(),
            module: "finance".into(),
            kind,
            status: JobStatus::Running,
            from_version: from.map(Into::into),
            to_version: to.map(Into::into),
            actor: "tester".into(),
            host: Some("host-a".into()),
            started_at: Some("t0".into()),
            finished_at: None,
            error: None,
            lease_until: None,
            lease_expired: false,
        }
    }

    fn events(changes: &[Change]) -> Vec<EventType> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Event(e) => Some(e.kind),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn completing_ends_the_job_first_and_only_from_an_unfinished_state() {
        let changes = complete_job(
            &job(JobKind::Install, None, Some("1.0.0")),
            &Effect::Install { version: "1.0.0".into(), flags: BTreeMap::from([("invoicing".into(), true)]), restored_from: None },
            Vec::new(),
            "t1",
        );
        let Change::EndJob { id, host, from, status, .. } = &changes[0] else { panic!("{changes:?}") };
        assert_eq!((*id, *status, host.as_deref()), (7, JobStatus::Completed, Some("host-a")));
        assert_eq!(from, &[JobStatus::Running]);
        assert!(changes[0].is_guarded());
        assert_eq!(events(&changes), [EventType::ModuleInstalled]);
        assert!(changes.iter().any(|c| matches!(c, Change::History { from: None, to: Some(v), .. } if v == "1.0.0")));
    }

    #[test]
    fn recovery_completes_also_what_another_host_marked_failed() {
        let effect = Effect::Install { version: "1.0.0".into(), flags: BTreeMap::new(), restored_from: None };
        let changes = complete_recovered_job(&job(JobKind::Install, None, Some("1.0.0")), &effect, Vec::new(), "t1");
        let Change::EndJob { from, status, .. } = &changes[0] else { panic!("{changes:?}") };
        assert_eq!((from.as_slice(), *status), ([JobStatus::Running, JobStatus::Failed].as_slice(), JobStatus::Completed));
    }

    #[test]
    fn an_upgrade_keeps_existing_flags_adds_new_ones_and_drops_the_rest() {
        let features = BTreeMap::from([("keep".to_string(), false), ("added".to_string(), true)]);
        let effect = Effect::Upgrade { version: "2.0.0".into(), features: features.clone(), copy: Some("copy.db".into()) };
        let changes = complete_job(&job(JobKind::Upgrade, Some("1.0.0"), Some("2.0.0")), &effect, Vec::new(), "t1");
        assert!(changes.iter().any(|c| matches!(c, Change::AddFlags { flags, .. } if flags == &features)));
        assert!(changes.iter().any(|c| matches!(c, Change::RemoveFlags { except, .. } if except == &["added", "keep"])));
        assert!(changes.iter().any(
            |c| matches!(c, Change::KeepFile { kind: FileKind::UpgradeCopy, version: Some(v), path, .. } if v == "1.0.0" && path == "copy.db")
        ));
        assert_eq!(events(&changes), [EventType::ModuleUpgraded]);
    }

    #[test]
    fn failures_of_installs_and_upgrades_are_events_others_are_not() {
        let failed = end_job(&job(JobKind::Install, None, Some("1.0.0")), JobStatus::RolledBack, "boom", Vec::new(), "t1");
        assert_eq!(events(&failed), [EventType::ModuleInstallFailed]);
        let Change::EndJob { from, .. } = &failed[0] else { panic!() };
        assert_eq!(from, &[JobStatus::Pending, JobStatus::Running, JobStatus::Failed]);
        assert!(
            events(&end_job(&job(JobKind::Uninstall, Some("1.0.0"), None), JobStatus::RolledBack, "boom", Vec::new(), "t1")).is_empty()
        );
    }

    #[test]
    fn a_job_has_one_outcome_event_ever() {
        let install = job(JobKind::Install, None, Some("1.0.0"));
        let ran = vec![Step { name: "migrate V1__a".into(), status: StepStatus::Ok, duration_ms: 3, detail: None, output: None }];
        // Given up on by another host: failed, its steps kept, no event.
        let abandoned = abandon_job(&install, ran.clone(), "host-b", "lease ran out", "t1");
        assert!(events(&abandoned).is_empty(), "only the home host knows how it ended");
        let Change::EndJob { status, steps, from, .. } = &abandoned[0] else { panic!("{abandoned:?}") };
        assert_eq!(*status, JobStatus::Failed);
        assert_eq!(steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["migrate V1__a", ABANDONED_STEP]);
        assert!(from.contains(&JobStatus::Running));
        let Change::EndJob { steps: stored, .. } = abandoned[0].clone() else { unreachable!() };
        let failed = Job { status: JobStatus::Failed, ..install.clone() };
        assert!(!outcome_announced(&failed, &stored));
        // Its home host rolls it back, or completes it: that announces the outcome, once.
        assert_eq!(events(&end_job(&failed, JobStatus::RolledBack, "undone", stored.clone(), "t2")), [EventType::ModuleInstallFailed]);
        let effect = Effect::Install { version: "1.0.0".into(), flags: BTreeMap::new(), restored_from: None };
        assert_eq!(events(&complete_recovered_job(&failed, &effect, stored, "t2")), [EventType::ModuleInstalled]);
        // A job that ended failed (its undo failed too) announced it then: finishing the
        // undo says nothing more.
        assert!(outcome_announced(&failed, &ran));
        assert!(events(&end_job(&failed, JobStatus::RolledBack, "undone", ran, "t2")).is_empty());
    }

    #[test]
    fn a_flag_set_to_its_value_changes_nothing() {
        assert!(set_flag("acme", "finance", "invoicing", true, true, "t").is_empty());
        let changes = set_flag("acme", "finance", "invoicing", false, true, "t");
        assert!(changes[0].is_guarded());
        assert_eq!(events(&changes), [EventType::FlagChanged]);
    }

    #[test]
    fn a_removed_tenants_file_is_kept_and_said() {
        let changes = remove_tenant("acme", Some("archive/acme/tenant.db"), "t");
        assert!(matches!(&changes[1], Change::KeepFile { kind: FileKind::Tenant, .. }));
        let Change::Event(e) = &changes[2] else { panic!() };
        assert_eq!(e.data, Some(serde_json::json!({ "archive": "archive/acme/tenant.db" })));
        assert_eq!(remove_tenant("acme", None, "t").len(), 2);
    }

    #[test]
    fn a_tenant_file_keeps_enabled_state_and_flags_of_every_completion_and_nothing_else() {
        let install = Effect::Install { version: "1.0.0".into(), flags: BTreeMap::from([("invoicing".into(), true)]), restored_from: None };
        let kept = tenant_file_part(&job(JobKind::Install, None, Some("1.0.0")), &install, "t1");
        assert!(matches!(&kept[0], Change::PutModule { version, .. } if version == "1.0.0"), "{kept:?}");
        assert!(kept.iter().any(|c| matches!(c, Change::AddFlags { flags, .. } if flags.get("invoicing") == Some(&true))));
        assert!(kept.iter().all(Change::kept_by_tenant_file));
        assert!(!kept.iter().any(|c| matches!(c, Change::EndJob { .. } | Change::History { .. } | Change::Event(_))));
        let disable = tenant_file_part(&job(JobKind::Disable, Some("1.0.0"), Some("1.0.0")), &Effect::SetEnabled { enabled: false }, "t1");
        assert!(matches!(disable.as_slice(), [Change::SetEnabled { enabled: false, .. }]), "{disable:?}");
        let upgrade = Effect::Upgrade { version: "2.0.0".into(), features: BTreeMap::new(), copy: Some("c.db".into()) };
        let kept = tenant_file_part(&job(JobKind::Upgrade, Some("1.0.0"), Some("2.0.0")), &upgrade, "t1");
        assert!(!kept.iter().any(|c| matches!(c, Change::KeepFile { .. } | Change::SetVersion { .. })), "{kept:?}");
        assert!(set_flag("acme", "finance", "invoicing", false, true, "t").iter().filter(|c| c.kept_by_tenant_file()).count() == 1);
    }
}
