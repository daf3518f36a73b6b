//! The checks every landlord engine must pass, written once against the store traits.
//! An engine provides a [`Fixture`]: fresh, empty storage, and as many handles on it as
//! a check asks for (each as another process would open it).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use modreg::domain::ErrorKind;
use modreg::domain::change::{self, Change, Commit, FileKind};
use modreg::domain::event::{Event, EventType};
use modreg::domain::job::{Effect, Job, JobKind, JobStatus, Step, StepStatus};
use modreg::domain::manifest::parse_manifest;
use modreg::domain::module::{Migration, ModuleVersion, Source};
use modreg::domain::recorded::{self, RecordedFlag, RecordedModule};
use modreg::ops::token::digest;
use modreg::store::{JobFilter, Landlord, NewJob, TokenRecord};

pub trait Fixture: Sync {
    /// A new handle on this fixture's one landlord.
    fn landlord(&self) -> Arc<dyn Landlord>;
}

/// One test per check, for an engine's fixture: `conformance_tests!(Some(SqliteFixture::new()));`
/// A fixture of `None` (the engine is not available here) passes without checking.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:expr) => {
        $crate::one_test_per_check!($fixture;
            tenants_are_added_once_and_removed_with_what_they_had,
            jobs_start_running_and_end_once,
            a_job_ends_only_from_a_state_that_may_become_its_end,
            completed_installs_upgrades_and_uninstalls_change_what_a_tenant_has,
            enable_disable_and_revert_are_recorded,
            kept_files_of_every_tenant_are_listed_until_forgotten,
            a_change_set_is_stored_whole_or_not_at_all,
            events_come_in_order_and_page_by_cursor,
            delivery_cursors_are_where_they_were_set,
            delivery_is_exclusive_across_handles,
            tenants_have_a_home_host_and_move_only_from_where_they_are,
            leases_run_out_unless_their_process_renews_them,
            ending_a_job_is_compare_and_set_on_its_host,
            a_flag_changes_only_from_the_value_it_was_read_at,
            subscriptions_are_granted_revoked_and_granted_again,
            tokens_are_found_by_digest_until_revoked,
            a_token_name_is_taken_until_its_token_is_revoked,
            of_handles_creating_one_token_name_at_once_exactly_one_does,
            the_catalog_keeps_the_first_content_of_a_version,
            jobs_are_found_by_every_filter,
            of_processes_completing_one_job_at_once_exactly_one_does,
            the_read_model_sees_what_another_handle_commits,
            handles_opened_at_once_on_fresh_storage_all_work,
            a_reader_following_concurrent_writers_sees_every_event_once_in_order,
            a_tenant_rebuilt_from_its_file_has_what_the_file_recorded,
        );
    };
}

const AT: &str = "2026-11-22T10:00:00.000Z";
const LATER: &str = "2026-11-22T11:00:00.000Z";
const HOST: &str = "host-a";

fn new_job(tenant: &str, module: &str, kind: JobKind, from: Option<&str>, to: Option<&str>, effect: Effect) -> NewJob {
    NewJob {
        batch: format!("batch-{tenant}"),
        tenant: tenant.into(),
        module: module.into(),
        kind,
        from_version: from.map(Into::into),
        to_version: to.map(Into::into),
        actor: "conformance".into(),
        effect,
        host: HOST.into(),
        lease: Duration::from_secs(60),
    }
}

fn install(tenant: &str, module: &str, version: &str, flags: &[(&str, bool)]) -> NewJob {
    let flags = flags.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    new_job(tenant, module, JobKind::Install, None, Some(version), Effect::Install { version: version.into(), flags, restored_from: None })
}

/// Starts jobs and returns them as they now stand.
fn start(landlord: &dyn Landlord, jobs: &[NewJob]) -> Vec<Job> {
    let ids = landlord.start_jobs(jobs, AT).expect("start jobs");
    assert_eq!(ids.len(), jobs.len());
    ids.iter().zip(jobs).map(|(&id, new)| new.started(id, AT)).collect()
}

fn step(name: &str) -> Step {
    Step { name: name.into(), status: StepStatus::Ok, duration_ms: 3, detail: Some(format!("{name} done")), output: None }
}

#[track_caller]
fn done(landlord: &dyn Landlord, changes: &[Change]) {
    assert_eq!(landlord.commit(changes).expect("commit"), Commit::Done);
}

/// Starts and completes jobs, one change set.
fn complete(landlord: &dyn Landlord, jobs: &[NewJob]) -> Vec<Job> {
    let started = start(landlord, jobs);
    let changes: Vec<Change> =
        started.iter().zip(jobs).flat_map(|(job, new)| change::complete_job(job, &new.effect, vec![step("work")], LATER)).collect();
    done(landlord, &changes);
    started
}

fn events(landlord: &dyn Landlord) -> Vec<Event> {
    landlord.events_after(0, 10_000).expect("events")
}

fn event_kinds(landlord: &dyn Landlord) -> Vec<EventType> {
    events(landlord).into_iter().map(|e| e.kind).collect()
}

fn flags(landlord: &dyn Landlord, tenant: &str, module: &str) -> BTreeMap<String, bool> {
    landlord.flags(tenant, Some(module)).expect("flags").into_iter().map(|f| (f.flag, f.value)).collect()
}

fn installed(landlord: &dyn Landlord, tenant: &str) -> Vec<(String, String, bool)> {
    landlord.installed(tenant).expect("installed").into_iter().map(|m| (m.module, m.version, m.enabled)).collect()
}

fn add_tenant(landlord: &dyn Landlord, name: &str) {
    done(landlord, &change::add_tenant(name, Some(HOST), AT));
}

pub fn tenants_are_added_once_and_removed_with_what_they_had(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    add_tenant(l.as_ref(), "globex");
    assert_eq!(l.commit(&change::add_tenant("acme", Some(HOST), LATER)).unwrap(), Commit::Conflict(0), "a tenant is added once");
    let acme = l.tenant("acme").unwrap().expect("acme");
    assert_eq!((acme.name.as_str(), acme.created_at.as_str(), acme.modules), ("acme", AT, 0));
    complete(l.as_ref(), &[install("acme", "forum", "1.0.0", &[("threads", true)])]);
    l.grant("acme", "forum", None, AT).unwrap();
    let names: Vec<(String, usize)> = l.tenants().unwrap().into_iter().map(|t| (t.name, t.modules)).collect();
    assert_eq!(names, [("acme".to_string(), 1), ("globex".to_string(), 0)]);

    done(l.as_ref(), &change::remove_tenant("acme", Some("archive/acme/tenant.db"), LATER));
    assert!(l.tenant("acme").unwrap().is_none());
    assert!(installed(l.as_ref(), "acme").is_empty());
    assert!(flags(l.as_ref(), "acme", "forum").is_empty());
    assert!(l.subscriptions("acme").unwrap().is_empty());
    assert!(l.installed_everywhere().unwrap().iter().all(|m| m.tenant != "acme"));
    // The audit trail stays: jobs, events, history and the kept file.
    assert_eq!(l.jobs(&JobFilter { tenant: Some("acme".into()), ..JobFilter::default() }).unwrap().len(), 1);
    assert_eq!(l.history("acme", None).unwrap().len(), 1);
    let kept = l.archives("acme", None, Some(FileKind::Tenant)).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].path.as_str(), kept[0].kind.as_str()), ("archive/acme/tenant.db", "tenant"));
    assert_eq!(
        event_kinds(l.as_ref()),
        [EventType::TenantAdded, EventType::TenantAdded, EventType::ModuleInstalled, EventType::TenantRemoved]
    );
    let removed = l.events_after(0, 100).unwrap().pop().unwrap();
    assert_eq!(removed.data, Some(serde_json::json!({ "archive": "archive/acme/tenant.db" })));
    // The name can be used again.
    add_tenant(l.as_ref(), "acme");
}

pub fn jobs_start_running_and_end_once(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    let jobs = start(l.as_ref(), &[install("acme", "membership", "1.0.0", &[]), install("acme", "forum", "1.0.0", &[])]);
    assert!(jobs[0].id < jobs[1].id, "ids grow");
    let (job, steps, effect) = l.job(jobs[0].id).unwrap().expect("stored");
    assert!(job.lease_until.is_some() && !job.lease_expired, "a running job holds a lease: {job:?}");
    assert_eq!(Job { lease_until: None, ..job }, jobs[0]);
    assert!(steps.is_empty());
    assert_eq!(effect, Effect::Install { version: "1.0.0".into(), flags: BTreeMap::new(), restored_from: None });
    assert_eq!(l.unfinished_jobs("acme").unwrap().len(), 2);
    assert_eq!(l.tenants_with_unfinished_jobs().unwrap(), ["acme"]);

    let started = Step { name: "pre_install hook".into(), status: StepStatus::Started, duration_ms: 0, detail: None, output: None };
    l.record_step(jobs[0].id, &started).unwrap();
    assert_eq!(l.job(jobs[0].id).unwrap().unwrap().1, std::slice::from_ref(&started));

    for _ in 0..2 {
        l.record_step(jobs[1].id, &started).unwrap();
    }
    let output = Step { output: Some("hook said hello".into()), ..step("post_install hook") };
    let mut changes = change::complete_job(&jobs[0], &effect, vec![step("migrate V1__a"), output.clone()], LATER);
    changes.extend(change::end_job(&jobs[1], JobStatus::RolledBack, "not run because `membership` failed", vec![], LATER));
    done(l.as_ref(), &changes);
    let (completed, steps, _) = l.job(jobs[0].id).unwrap().unwrap();
    assert_eq!((completed.status, completed.finished_at.as_deref(), completed.error), (JobStatus::Completed, Some(LATER), None));
    assert_eq!(steps, [step("migrate V1__a"), output], "the steps are replaced by the final ones, output kept");
    let rolled_back = l.job(jobs[1].id).unwrap().unwrap().0;
    assert_eq!(rolled_back.status, JobStatus::RolledBack);
    assert_eq!(rolled_back.error.as_deref(), Some("not run because `membership` failed"));
    assert!(l.job(jobs[1].id).unwrap().unwrap().1.is_empty(), "steps recorded while it ran are gone with the final (none)");
    assert!(l.unfinished_jobs("acme").unwrap().is_empty());
    assert!(l.tenants_with_unfinished_jobs().unwrap().is_empty());
    // Ending either again finds it ended: nothing changes.
    let again = change::complete_job(&jobs[0], &effect, vec![], "2027-01-01T00:00:00.000Z");
    assert_eq!(l.commit(&again).unwrap(), Commit::Conflict(0));
    assert_eq!(l.job(jobs[0].id).unwrap().unwrap().0.finished_at.as_deref(), Some(LATER));
    assert_eq!(event_kinds(l.as_ref()), [EventType::TenantAdded, EventType::ModuleInstalled, EventType::ModuleInstallFailed]);
    assert!(l.job(999_999).unwrap().is_none());
}

pub fn a_job_ends_only_from_a_state_that_may_become_its_end(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    let jobs = start(l.as_ref(), &[install("acme", "forum", "1.0.0", &[])]);
    // Undoing it failed: `failed`, then `recover` rolls it back.
    done(l.as_ref(), &change::end_job(&jobs[0], JobStatus::Failed, "undo failed", vec![], AT));
    assert_eq!(l.unfinished_jobs("acme").unwrap().len(), 1, "a failed job waits for recovery");
    let effect = l.job(jobs[0].id).unwrap().unwrap().2;
    assert_eq!(l.commit(&change::complete_job(&jobs[0], &effect, vec![], LATER)).unwrap(), Commit::Conflict(0), "failed never completes");
    done(l.as_ref(), &change::end_job(&jobs[0], JobStatus::RolledBack, "undo failed; rolled back by recovery", vec![], LATER));
    assert_eq!(l.job(jobs[0].id).unwrap().unwrap().0.status, JobStatus::RolledBack);
    assert_eq!(l.commit(&change::end_job(&jobs[0], JobStatus::RolledBack, "again", vec![], LATER)).unwrap(), Commit::Conflict(0));
    assert!(installed(l.as_ref(), "acme").is_empty());
}

pub fn completed_installs_upgrades_and_uninstalls_change_what_a_tenant_has(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    complete(l.as_ref(), &[install("acme", "app", "1.0.0", &[("keep", true), ("dropped", true), ("changed", false)])]);
    assert_eq!(installed(l.as_ref(), "acme"), [("app".into(), "1.0.0".into(), true)]);
    let record = &l.installed("acme").unwrap()[0];
    assert_eq!((record.installed_at.as_str(), record.updated_at.as_str()), (LATER, LATER));
    done(l.as_ref(), &change::set_flag("acme", "app", "changed", true, false, LATER));

    let features = BTreeMap::from([("keep".to_string(), false), ("changed".to_string(), false), ("added".to_string(), true)]);
    let upgrade = new_job(
        "acme",
        "app",
        JobKind::Upgrade,
        Some("1.0.0"),
        Some("2.0.0"),
        Effect::Upgrade { version: "2.0.0".into(), features, copy: Some("copies/acme/app-1.0.0.db".into()) },
    );
    let upgraded = complete(l.as_ref(), &[upgrade]);
    assert_eq!(installed(l.as_ref(), "acme"), [("app".into(), "2.0.0".into(), true)]);
    let expected = BTreeMap::from([("added".to_string(), true), ("changed".to_string(), true), ("keep".to_string(), true)]);
    assert_eq!(flags(l.as_ref(), "acme", "app"), expected, "new flags get defaults, values stay, dropped ones go");
    let copies = l.archives("acme", Some("app"), Some(FileKind::UpgradeCopy)).unwrap();
    assert_eq!(copies.len(), 1);
    assert_eq!((copies[0].version.as_deref(), copies[0].job_id), (Some("1.0.0"), Some(upgraded[0].id)));

    let uninstall = new_job(
        "acme",
        "app",
        JobKind::Uninstall,
        Some("2.0.0"),
        None,
        Effect::Uninstall { archive: Some("archive/acme/app-2.0.0.db".into()) },
    );
    complete(l.as_ref(), &[uninstall]);
    assert!(installed(l.as_ref(), "acme").is_empty());
    assert!(flags(l.as_ref(), "acme", "app").is_empty());
    let archives = l.archives("acme", Some("app"), Some(FileKind::Uninstall)).unwrap();
    assert_eq!(archives.iter().map(|a| a.path.as_str()).collect::<Vec<_>>(), ["archive/acme/app-2.0.0.db"]);
    assert_eq!(l.archives("acme", None, None).unwrap().len(), 2, "newest first, every kind");
    assert_eq!(l.archives("acme", None, None).unwrap()[0].kind, "uninstall");
    let history: Vec<(Option<String>, Option<String>)> =
        l.history("acme", Some("app")).unwrap().into_iter().map(|h| (h.from_version, h.to_version)).collect();
    assert_eq!(history, [(None, Some("1.0.0".into())), (Some("1.0.0".into()), Some("2.0.0".into())), (Some("2.0.0".into()), None)]);
    let kinds = event_kinds(l.as_ref());
    assert_eq!(kinds[1..], [EventType::ModuleInstalled, EventType::FlagChanged, EventType::ModuleUpgraded, EventType::ModuleUninstalled]);
    // Pruned files are forgotten.
    done(l.as_ref(), &[Change::ForgetFiles { ids: vec![copies[0].id], at: LATER.into() }]);
    assert!(l.archives("acme", Some("app"), Some(FileKind::UpgradeCopy)).unwrap().is_empty());
}

fn uninstall(tenant: &str, module: &str, version: &str, archive: &str) -> NewJob {
    let effect = Effect::Uninstall { archive: Some(archive.into()) };
    new_job(tenant, module, JobKind::Uninstall, Some(version), None, effect)
}

pub fn kept_files_of_every_tenant_are_listed_until_forgotten(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    assert!(l.archives_everywhere().unwrap().is_empty());
    for tenant in ["zeta", "acme", "globex"] {
        add_tenant(l.as_ref(), tenant);
        complete(l.as_ref(), &[install(tenant, "app", "1.0.0", &[])]);
    }
    complete(l.as_ref(), &[uninstall("zeta", "app", "1.0.0", "archive/zeta/app-1.db")]);
    complete(l.as_ref(), &[uninstall("acme", "app", "1.0.0", "archive/acme/app-1.db")]);
    complete(l.as_ref(), &[install("acme", "app", "1.0.0", &[])]);
    complete(l.as_ref(), &[uninstall("acme", "app", "1.0.0", "archive/acme/app-2.db")]);
    complete(l.as_ref(), &[uninstall("globex", "app", "1.0.0", "archive/globex/app-1.db")]);
    done(l.as_ref(), &change::remove_tenant("zeta", Some("archive/zeta/tenant.db"), LATER));

    let paths = |records: &[modreg::store::ArchiveRecord]| records.iter().map(|a| a.path.clone()).collect::<Vec<_>>();
    let all = l.archives_everywhere().unwrap();
    assert_eq!(
        paths(&all),
        ["archive/acme/app-2.db", "archive/acme/app-1.db", "archive/globex/app-1.db", "archive/zeta/tenant.db", "archive/zeta/app-1.db"],
        "by tenant, newest first, a removed tenant's too"
    );
    assert_eq!(all[3].kind, "tenant");
    assert_eq!((all[3].module.as_deref(), all[3].job_id), (None, None));
    assert_eq!((all[0].module.as_deref(), all[0].version.as_deref()), (Some("app"), Some("1.0.0")));
    assert_eq!(all[0].created_at, LATER);
    for tenant in ["acme", "globex", "zeta"] {
        let of_tenant: Vec<_> = all.iter().filter(|a| a.tenant == tenant).cloned().collect();
        assert_eq!(l.archives(tenant, None, None).unwrap(), of_tenant, "the same records as a tenant's own list");
    }

    done(l.as_ref(), &[Change::ForgetFiles { ids: vec![all[1].id, all[3].id], at: LATER.into() }]);
    assert_eq!(
        paths(&l.archives_everywhere().unwrap()),
        ["archive/acme/app-2.db", "archive/globex/app-1.db", "archive/zeta/app-1.db"],
        "forgotten files are not listed"
    );
    // Forgetting again, or nothing, is no conflict and changes nothing.
    done(
        l.as_ref(),
        &[Change::ForgetFiles { ids: vec![all[1].id], at: LATER.into() }, Change::ForgetFiles { ids: vec![], at: LATER.into() }],
    );
    assert_eq!(l.archives_everywhere().unwrap().len(), 3);
}

pub fn enable_disable_and_revert_are_recorded(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    complete(l.as_ref(), &[install("acme", "app", "1.0.0", &[("a", true)])]);
    let toggle = |enabled| {
        let kind = if enabled { JobKind::Enable } else { JobKind::Disable };
        new_job("acme", "app", kind, Some("1.0.0"), Some("1.0.0"), Effect::SetEnabled { enabled })
    };
    complete(l.as_ref(), &[toggle(false)]);
    assert_eq!(installed(l.as_ref(), "acme"), [("app".into(), "1.0.0".into(), false)]);
    complete(l.as_ref(), &[toggle(true)]);
    assert_eq!(installed(l.as_ref(), "acme"), [("app".into(), "1.0.0".into(), true)]);
    let revert = new_job(
        "acme",
        "app",
        JobKind::Revert,
        Some("1.0.0"),
        Some("0.9.0"),
        Effect::Revert { version: "0.9.0".into(), flags: BTreeMap::from([("old".to_string(), false)]) },
    );
    complete(l.as_ref(), &[revert]);
    assert_eq!(installed(l.as_ref(), "acme"), [("app".into(), "0.9.0".into(), true)]);
    assert_eq!(flags(l.as_ref(), "acme", "app"), BTreeMap::from([("old".to_string(), false)]), "exactly the copy's flags");
    let kinds = event_kinds(l.as_ref());
    assert_eq!(kinds[2..], [EventType::ModuleDisabled, EventType::ModuleEnabled, EventType::ModuleReverted]);
}

pub fn a_change_set_is_stored_whole_or_not_at_all(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    let jobs = complete(l.as_ref(), &[install("acme", "forum", "1.0.0", &[])]);
    let before = (events(l.as_ref()), installed(l.as_ref(), "acme"));
    let late = start(l.as_ref(), &[install("acme", "wiki", "1.0.0", &[("pages", true)])]);
    // A set whose last change is a job that already ended: its earlier changes must go too.
    let mut changes = change::complete_job(&late[0], &l.job(late[0].id).unwrap().unwrap().2, vec![], LATER);
    let conflicting = change::end_job(&jobs[0], JobStatus::RolledBack, "late", vec![], LATER);
    let at = changes.len();
    changes.extend(conflicting);
    assert_eq!(l.commit(&changes).unwrap(), Commit::Conflict(at));
    assert_eq!((events(l.as_ref()), installed(l.as_ref(), "acme")), before);
    assert!(flags(l.as_ref(), "acme", "wiki").is_empty());
    assert_eq!(l.job(late[0].id).unwrap().unwrap().0.status, JobStatus::Running);
}

pub fn events_come_in_order_and_page_by_cursor(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    for i in 0..25 {
        add_tenant(l.as_ref(), &format!("t{i:02}"));
    }
    let all = l.events_after(0, 1000).unwrap();
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ids grow");
    let tenants: Vec<String> = all.iter().map(|e| e.tenant.clone().unwrap()).collect();
    assert_eq!(tenants, (0..25).map(|i| format!("t{i:02}")).collect::<Vec<_>>(), "in the order they were written");
    let mut paged = Vec::new();
    let mut cursor = 0;
    loop {
        let page = l.events_after(cursor, 7).unwrap();
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 7);
        cursor = last.id;
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert!(l.events_after(all[24].id, 10).unwrap().is_empty());
    // Within one set, in the set's order, with their facts.
    done(l.as_ref(), &change::remove_tenant("t00", None, LATER));
    add_tenant(l.as_ref(), "t00");
    let tail = l.events_after(all[24].id, 10).unwrap();
    assert_eq!(tail.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventType::TenantRemoved, EventType::TenantAdded]);
    assert_eq!((tail[0].at.as_str(), tail[0].data.clone()), (LATER, None));
}

pub fn delivery_cursors_are_where_they_were_set(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    assert_eq!(l.cursor("command").unwrap(), 0);
    l.set_cursor("command", 5, AT).unwrap();
    assert_eq!(l.cursor("command").unwrap(), 5);
    // The last event delivered, whatever its id: ids need not grow in commit order.
    l.set_cursor("command", 3, LATER).unwrap();
    assert_eq!(l.cursor("command").unwrap(), 3);
    assert_eq!(l.cursor("other").unwrap(), 0);
}

pub fn delivery_is_exclusive_across_handles(fixture: &dyn Fixture) {
    let (first, second) = (fixture.landlord(), fixture.landlord());
    let held = first.try_exclusive("event-delivery").unwrap().expect("free at first");
    assert!(second.try_exclusive("event-delivery").unwrap().is_none(), "held by the first handle");
    assert!(second.try_exclusive("another").unwrap().is_some(), "a right of another name is free");
    drop(held);
    assert!(second.try_exclusive("event-delivery").unwrap().is_some(), "free again once dropped");
}

pub fn tenants_have_a_home_host_and_move_only_from_where_they_are(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    assert_eq!(l.tenant("acme").unwrap().unwrap().host.as_deref(), Some(HOST));
    done(l.as_ref(), &change::move_tenant("acme", Some(HOST), "host-b", LATER));
    assert_eq!(l.tenants().unwrap()[0].host.as_deref(), Some("host-b"));
    let stale = change::move_tenant("acme", Some(HOST), "host-c", LATER);
    assert_eq!(l.commit(&stale).unwrap(), Commit::Conflict(0), "moved only from where it lives");
    assert_eq!(l.tenant("acme").unwrap().unwrap().host.as_deref(), Some("host-b"));
    let moved = l.events_after(0, 100).unwrap().pop().unwrap();
    assert_eq!((moved.kind, moved.data), (EventType::TenantMoved, Some(serde_json::json!({ "from": HOST, "to": "host-b" }))));
}

pub fn leases_run_out_unless_their_process_renews_them(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    let pid = std::process::id();
    let short = NewJob { lease: Duration::ZERO, ..install("acme", "forum", "1.0.0", &[]) };
    let other_host = NewJob { host: "host-b".into(), lease: Duration::ZERO, ..install("acme", "wiki", "1.0.0", &[]) };
    let jobs = start(l.as_ref(), &[short, other_host, install("acme", "blog", "1.0.0", &[])]);
    // A lease of no time ends as soon as the landlord's clock moves on.
    std::thread::sleep(Duration::from_millis(5));
    let expired = |l: &dyn Landlord| l.expired_jobs().unwrap().into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(expired(l.as_ref()), [jobs[0].id, jobs[1].id]);
    let unfinished = l.unfinished_jobs("acme").unwrap();
    assert_eq!(unfinished.iter().map(|j| j.lease_expired).collect::<Vec<_>>(), [true, true, false]);
    assert_eq!(unfinished.iter().map(|j| j.host.as_deref().unwrap()).collect::<Vec<_>>(), [HOST, "host-b", HOST]);
    // Renewing extends this process's running jobs on this host, and no one else's.
    assert_eq!(l.renew_leases(HOST, pid, Duration::from_secs(60)).unwrap(), 2);
    assert_eq!(expired(l.as_ref()), [jobs[1].id]);
    assert_eq!(l.renew_leases(HOST, pid + 1, Duration::from_secs(60)).unwrap(), 0);
    // An ended job holds no lease.
    done(l.as_ref(), &change::end_job(&jobs[1], JobStatus::Failed, "host-b stopped renewing", vec![], LATER));
    assert!(expired(l.as_ref()).is_empty());
    assert!(!l.job(jobs[1].id).unwrap().unwrap().0.lease_expired);
}

pub fn ending_a_job_is_compare_and_set_on_its_host(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    let jobs = start(l.as_ref(), &[install("acme", "forum", "1.0.0", &[])]);
    let effect = l.job(jobs[0].id).unwrap().unwrap().2;
    let elsewhere = Job { host: Some("host-b".into()), ..jobs[0].clone() };
    let taken = change::complete_job(&elsewhere, &effect, vec![], LATER);
    assert_eq!(l.commit(&taken).unwrap(), Commit::Conflict(0), "not host-b's job");
    assert_eq!(l.job(jobs[0].id).unwrap().unwrap().0.status, JobStatus::Running);
    // Marked failed by another host after its lease ran out: the normal completion now
    // loses, recovery's (from the tenant file) still completes it.
    done(l.as_ref(), &change::end_job(&jobs[0], JobStatus::Failed, "lease ran out", vec![], LATER));
    assert_eq!(l.commit(&change::complete_job(&jobs[0], &effect, vec![], LATER)).unwrap(), Commit::Conflict(0));
    done(l.as_ref(), &change::complete_recovered_job(&jobs[0], &effect, vec![step("recover")], LATER));
    assert_eq!(l.job(jobs[0].id).unwrap().unwrap().0.status, JobStatus::Completed);
    assert_eq!(installed(l.as_ref(), "acme"), [("forum".to_string(), "1.0.0".to_string(), true)]);
}

pub fn a_flag_changes_only_from_the_value_it_was_read_at(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    complete(l.as_ref(), &[install("acme", "finance", "1.0.0", &[("invoicing", true)])]);
    let events_before = event_kinds(l.as_ref()).len();
    // Read as false, but it is true: someone else changed it.
    assert_eq!(l.commit(&change::set_flag("acme", "finance", "invoicing", true, false, LATER)).unwrap(), Commit::Conflict(0));
    assert_eq!(event_kinds(l.as_ref()).len(), events_before, "no event without the change");
    done(l.as_ref(), &change::set_flag("acme", "finance", "invoicing", false, true, LATER));
    let record = l.flags("acme", Some("finance")).unwrap().pop().unwrap();
    assert_eq!((record.value, record.updated_at.as_str()), (false, LATER));
    let last = l.events_after(0, 100).unwrap().pop().unwrap();
    assert_eq!((last.kind, last.data), (EventType::FlagChanged, Some(serde_json::json!({ "flag": "invoicing", "value": false }))));
    // A flag that does not exist cannot be set.
    assert_eq!(l.commit(&change::set_flag("acme", "finance", "ghost", true, false, LATER)).unwrap(), Commit::Conflict(0));
    assert!(l.flags("acme", None).unwrap().iter().all(|f| f.flag != "ghost"));
}

pub fn subscriptions_are_granted_revoked_and_granted_again(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    l.grant("acme", "finance", Some("2026-12-31"), AT).unwrap();
    l.grant("acme", "elections", None, AT).unwrap();
    let subs = l.subscriptions("acme").unwrap();
    assert_eq!(subs.iter().map(|s| s.module.as_str()).collect::<Vec<_>>(), ["elections", "finance"]);
    assert!(subs[1].is_active("2026-12-31") && !subs[1].is_active("2027-01-01"));
    assert!(l.revoke("acme", "finance", LATER).unwrap());
    assert!(!l.revoke("acme", "finance", LATER).unwrap(), "nothing left to revoke");
    let finance = l.subscriptions("acme").unwrap().into_iter().find(|s| s.module == "finance").unwrap();
    assert_eq!(finance.revoked_at.as_deref(), Some(LATER));
    assert!(!finance.is_active("2026-01-01"));
    l.grant("acme", "finance", None, LATER).unwrap();
    let finance = l.subscriptions("acme").unwrap().into_iter().find(|s| s.module == "finance").unwrap();
    assert_eq!((finance.revoked_at, finance.until, finance.granted_at.as_str()), (None, None, LATER));
    assert!(l.subscriptions("globex").unwrap().is_empty());
}

fn token(name: &str, tenants: &[&str], read_only: bool, at: &str) -> TokenRecord {
    TokenRecord {
        name: name.into(),
        tenants: tenants.iter().map(|t| t.to_string()).collect(),
        read_only,
        created_at: at.into(),
        revoked_at: None,
    }
}

pub fn tokens_are_found_by_digest_until_revoked(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    assert!(l.tokens().unwrap().is_empty());
    let deploy = token("deploy", &[], false, AT);
    let reader = token("reader.eu", &["globex", "acme"], true, AT);
    l.create_token(&deploy, &digest("secret-deploy")).unwrap();
    l.create_token(&reader, &digest("secret-reader")).unwrap();
    assert_eq!(l.tokens().unwrap(), [deploy.clone(), reader.clone()], "by name, scope and read-only as created");
    assert_eq!(l.token_by_digest(&digest("secret-reader")).unwrap(), Some(reader.clone()), "the scope keeps its order");
    assert_eq!(l.token_by_digest(&digest("secret-deploy")).unwrap(), Some(deploy.clone()));
    assert_eq!(l.token_by_digest(&digest("secret-other")).unwrap(), None);
    assert_eq!(l.token_by_digest("secret-deploy").unwrap(), None, "looked up by the digest, not the secret");

    assert!(l.revoke_token("deploy", LATER).unwrap());
    assert!(!l.revoke_token("deploy", LATER).unwrap(), "nothing left to revoke");
    assert!(!l.revoke_token("ghost", LATER).unwrap());
    assert_eq!(l.token_by_digest(&digest("secret-deploy")).unwrap(), None, "a revoked token is no longer found");
    assert_eq!(l.token_by_digest(&digest("secret-reader")).unwrap(), Some(reader.clone()), "the other one still is");
    let revoked = TokenRecord { revoked_at: Some(LATER.into()), ..deploy };
    assert_eq!(l.tokens().unwrap(), [revoked, reader], "revoked tokens are listed, with when");
    // Another handle, as another process (the server) would open it, sees the same.
    assert_eq!(fixture.landlord().token_by_digest(&digest("secret-deploy")).unwrap(), None);
}

pub fn a_token_name_is_taken_until_its_token_is_revoked(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    let first = token("ci", &["acme"], true, AT);
    l.create_token(&first, &digest("first")).unwrap();
    let error = l.create_token(&token("ci", &[], false, LATER), &digest("second")).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{}", error.message);
    assert!(error.message.contains("`ci`"), "{}", error.message);
    assert!(error.hint.as_deref().is_some_and(|h| h.contains("modreg token revoke ci")), "{:?}", error.hint);
    assert_eq!(l.tokens().unwrap(), std::slice::from_ref(&first), "never overwritten");
    assert_eq!(l.token_by_digest(&digest("second")).unwrap(), None);

    let error = l.create_token(&token("other", &[], false, LATER), &digest("first")).unwrap_err();
    assert_ne!(error.kind, ErrorKind::Invalid, "a digest held twice is no input's fault: {}", error.message);
    assert_eq!(l.tokens().unwrap().len(), 1);

    assert!(l.revoke_token("ci", LATER).unwrap());
    let again = token("ci", &[], false, LATER);
    l.create_token(&again, &digest("second")).unwrap();
    let tokens = l.tokens().unwrap();
    assert_eq!(tokens, [TokenRecord { revoked_at: Some(LATER.into()), ..first }, again.clone()], "the old one kept, revoked");
    assert_eq!(l.token_by_digest(&digest("second")).unwrap(), Some(again));
    assert_eq!(l.token_by_digest(&digest("first")).unwrap(), None);
}

pub fn of_handles_creating_one_token_name_at_once_exactly_one_does(fixture: &dyn Fixture) {
    let contenders = 4;
    let barrier = Barrier::new(contenders);
    let outcomes: Vec<Result<(), ErrorKind>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..contenders)
            .map(|i| {
                let (landlord, barrier) = (fixture.landlord(), &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    landlord.create_token(&token("ci", &[], false, AT), &digest(&format!("secret {i}"))).map_err(|e| e.kind)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("contender")).collect()
    });
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, Ok(()) | Err(ErrorKind::Invalid))), "{outcomes:?}");
    assert_eq!(fixture.landlord().tokens().unwrap().len(), 1);
}

fn version(text_extra: &str, sql: &str) -> ModuleVersion {
    let text = format!("[module]\nname = \"finance\"\nversion = \"1.2.0\"\ndescription = \"conformance{text_extra}\"\n");
    let manifest = parse_manifest(&text, Path::new("module.toml")).expect("manifest");
    let migrations = vec![Migration { name: "V1__invoices".into(), version: 1, sql: sql.into() }];
    ModuleVersion::new(manifest, text, migrations, vec![], Source::Landlord)
}

pub fn the_catalog_keeps_the_first_content_of_a_version(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    assert!(!l.known_module("finance").unwrap());
    let first = version("", "CREATE TABLE invoices (id INTEGER PRIMARY KEY);");
    l.record_versions(&[&first], AT).unwrap();
    assert!(l.known_module("finance").unwrap());
    let edited = version(" edited", "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER);");
    assert_ne!(first.checksum, edited.checksum);
    l.record_versions(&[&edited], LATER).unwrap();
    let entries = l.catalog_entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].checksum.as_str(), entries[0].first_seen_at.as_str()), (first.checksum.as_str(), AT));
    let stored = l.stored_version("finance", "1.2.0").unwrap().expect("stored");
    assert_eq!((stored.manifest, stored.migrations, stored.seeds), (first.manifest_text.clone(), first.migrations.clone(), vec![]));
    assert_eq!(stored.checksum, first.checksum);
    assert!(l.stored_version("finance", "9.9.9").unwrap().is_none());
}

pub fn jobs_are_found_by_every_filter(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    add_tenant(l.as_ref(), "acme");
    add_tenant(l.as_ref(), "globex");
    let acme = complete(l.as_ref(), &[install("acme", "forum", "1.0.0", &[]), install("acme", "wiki", "1.0.0", &[])]);
    let globex = start(l.as_ref(), &[install("globex", "forum", "1.0.0", &[])]);
    let ids = |filter: JobFilter| l.jobs(&filter).unwrap().into_iter().map(|j| j.id).collect::<Vec<_>>();
    let all = JobFilter::default();
    assert_eq!(ids(all.clone()), [globex[0].id, acme[1].id, acme[0].id], "newest first");
    assert_eq!(ids(JobFilter { tenant: Some("acme".into()), ..all.clone() }), [acme[1].id, acme[0].id]);
    assert_eq!(ids(JobFilter { module: Some("forum".into()), ..all.clone() }), [globex[0].id, acme[0].id]);
    assert_eq!(ids(JobFilter { status: Some(JobStatus::Running), ..all.clone() }), [globex[0].id]);
    assert_eq!(ids(JobFilter { kind: Some(JobKind::Install), limit: Some(1), ..all.clone() }), [globex[0].id]);
    assert_eq!(ids(JobFilter { batch: Some("batch-acme".into()), ..all.clone() }), [acme[1].id, acme[0].id]);
    assert_eq!(ids(JobFilter { from_id: Some(acme[1].id), ..all.clone() }), [globex[0].id, acme[1].id]);
    assert_eq!(ids(JobFilter { since: Some(LATER.into()), ..all.clone() }), Vec::<i64>::new());
    assert_eq!(ids(JobFilter { since: Some(AT.into()), tenant: Some("globex".into()), ..all }), [globex[0].id]);
}

pub fn of_processes_completing_one_job_at_once_exactly_one_does(fixture: &dyn Fixture) {
    let first = fixture.landlord();
    add_tenant(first.as_ref(), "acme");
    let jobs = start(first.as_ref(), &[install("acme", "forum", "1.0.0", &[("threads", true)])]);
    let effect = first.job(jobs[0].id).unwrap().unwrap().2;
    let contenders = 4;
    let barrier = Barrier::new(contenders);
    let outcomes: Vec<Commit> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..contenders)
            .map(|i| {
                let landlord = fixture.landlord();
                let (barrier, job, effect) = (&barrier, &jobs[0], &effect);
                scope.spawn(move || {
                    let changes = change::complete_job(job, effect, vec![step(&format!("contender {i}"))], LATER);
                    barrier.wait();
                    landlord.commit(&changes).expect("commit")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("contender")).collect()
    });
    assert_eq!(outcomes.iter().filter(|c| **c == Commit::Done).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|c| matches!(c, Commit::Done | Commit::Conflict(0))));
    assert_eq!(event_kinds(first.as_ref()).iter().filter(|k| **k == EventType::ModuleInstalled).count(), 1);
    assert_eq!(first.history("acme", None).unwrap().len(), 1);
    assert_eq!(first.job(jobs[0].id).unwrap().unwrap().1.len(), 1, "the winner's steps only");
}

pub fn the_read_model_sees_what_another_handle_commits(fixture: &dyn Fixture) {
    let writer = fixture.landlord();
    add_tenant(writer.as_ref(), "acme");
    let mut reader = fixture.landlord().read_model().expect("read model");
    let seen = reader.version().unwrap();
    assert!(reader.tenant("acme").unwrap().expect("acme").modules.is_empty());
    assert!(reader.tenant("ghost").unwrap().is_none());
    complete(writer.as_ref(), &[install("acme", "finance", "1.2.0", &[("invoicing", true)])]);
    assert_ne!(reader.version().unwrap(), seen, "the version moves when another handle commits");
    let snapshot = reader.tenant("acme").unwrap().expect("acme");
    let finance = &snapshot.modules["finance"];
    assert_eq!((finance.version.as_str(), finance.enabled, finance.flags.get("invoicing")), ("1.2.0", true, Some(&true)));
}

pub fn handles_opened_at_once_on_fresh_storage_all_work(fixture: &dyn Fixture) {
    // The first handles create the schema; opened at once, they must not collide.
    let barrier = Barrier::new(4);
    let handles: Vec<Arc<dyn Landlord>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    fixture.landlord()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("open at once")).collect()
    });
    for (i, l) in handles.iter().enumerate() {
        add_tenant(l.as_ref(), &format!("t{i}"));
    }
    assert_eq!(handles[0].tenants().unwrap().len(), 4);
}

pub fn a_reader_following_concurrent_writers_sees_every_event_once_in_order(fixture: &dyn Fixture) {
    let (writers, each) = (4, 25);
    let reader = fixture.landlord();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let seen: Vec<i64> = std::thread::scope(|scope| {
        for w in 0..writers {
            let (landlord, done) = (fixture.landlord(), &done);
            scope.spawn(move || {
                for i in 0..each {
                    add_tenant(landlord.as_ref(), &format!("w{w}_{i:02}"));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        // Follow as `events --follow` does: from the last event handed out.
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst) == writers;
            let batch = reader.events_after(cursor, 7).unwrap();
            if let Some(last) = batch.last() {
                cursor = last.id;
            }
            let empty = batch.is_empty();
            seen.extend(batch.into_iter().map(|e| e.id));
            if finished && empty {
                return seen;
            }
        }
    });
    assert_eq!(seen.len(), writers * each, "every event once");
    let distinct: std::collections::BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), seen.len(), "none twice");
    // In the order a reader from the start sees them: commit order.
    let all: Vec<i64> = reader.events_after(0, 10_000).unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(seen, all);
}

pub fn a_tenant_rebuilt_from_its_file_has_what_the_file_recorded(fixture: &dyn Fixture) {
    let l = fixture.landlord();
    let (installed_at, version_at, updated_at) = ("2026-11-01T08:00:00.000Z", "2026-11-10T08:00:00.000Z", "2026-11-12T08:00:00.000Z");
    let flag = |flag: &str, value, at: &str| RecordedFlag { flag: flag.into(), value, at: at.into() };
    let modules = [
        RecordedModule {
            module: "finance".into(),
            version: "1.2.0".into(),
            enabled: false,
            installed_at: installed_at.into(),
            version_at: version_at.into(),
            updated_at: updated_at.into(),
            flags: vec![flag("invoicing", false, updated_at), flag("recurring", true, installed_at)],
        },
        RecordedModule {
            module: "membership".into(),
            version: "1.0.0".into(),
            enabled: true,
            installed_at: installed_at.into(),
            version_at: installed_at.into(),
            updated_at: installed_at.into(),
            flags: Vec::new(),
        },
    ];
    let changes = recorded::rebuild_tenant("acme", Some(HOST), AT, &modules, "tenants/acme.db", LATER);
    done(l.as_ref(), &changes);
    let acme = l.tenant("acme").unwrap().expect("acme");
    assert_eq!((acme.created_at.as_str(), acme.host.as_deref(), acme.modules), (AT, Some(HOST), 2));
    let records: Vec<(String, String, bool, String, String)> =
        l.installed("acme").unwrap().into_iter().map(|m| (m.module, m.version, m.enabled, m.installed_at, m.updated_at)).collect();
    assert_eq!(
        records,
        [
            ("finance".into(), "1.2.0".into(), false, installed_at.into(), updated_at.into()),
            ("membership".into(), "1.0.0".into(), true, installed_at.into(), installed_at.into()),
        ]
    );
    let flags: Vec<(String, bool, String)> = l.flags("acme", None).unwrap().into_iter().map(|f| (f.flag, f.value, f.updated_at)).collect();
    assert_eq!(flags, [("invoicing".into(), false, updated_at.into()), ("recurring".into(), true, installed_at.into())]);
    type Entry = (String, Option<String>, Option<String>, Option<i64>, String);
    let history: Vec<Entry> =
        l.history("acme", None).unwrap().into_iter().map(|h| (h.module, h.from_version, h.to_version, h.job_id, h.at)).collect();
    assert_eq!(
        history,
        [
            ("finance".into(), None, Some("1.2.0".into()), None, version_at.into()),
            ("membership".into(), None, Some("1.0.0".into()), None, installed_at.into())
        ],
        "one entry a module, made by no job"
    );
    let events = events(l.as_ref());
    assert_eq!(events.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventType::TenantAdded]);
    assert_eq!(events[0].data, Some(serde_json::json!({ "host": HOST, "rebuilt_from": "tenants/acme.db", "modules": 2 })));
    // The read model sees it as it sees any tenant.
    let snapshot = l.read_model().unwrap().tenant("acme").unwrap().expect("acme");
    assert!(!snapshot.modules["finance"].enabled);
    assert_eq!(snapshot.modules["finance"].flags.get("recurring"), Some(&true));
    // A tenant already there is not rebuilt over: nothing of the set is stored.
    let again = recorded::rebuild_tenant("acme", Some(HOST), LATER, &modules[1..], "tenants/acme.db", LATER);
    assert_eq!(l.commit(&again).unwrap(), Commit::Conflict(0));
    assert_eq!(l.history("acme", None).unwrap().len(), 2);
    assert_eq!(installed(l.as_ref(), "acme").len(), 2);
}
