//! `modreg doctor`: every check finds what it is for, names the command that fixes it,
//! and changes nothing; exit 0 when healthy, 1 when something needs attention.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value as Json;

use super::storage::{damage_header, damage_table};
use crate::support::{World, fifo, read_fifo, write_fifo};

/// `doctor --json` (and more arguments), requiring `code`.
#[track_caller]
pub(crate) fn doctor(world: &World, args: &[&str], code: i32) -> Json {
    let mut all = vec!["doctor", "--json"];
    all.extend(args);
    let run = world.run(&all);
    run.exit(code);
    let report = run.json();
    assert_eq!(report["healthy"], code == 0, "{report:#}");
    report
}

/// The findings of a check, as (tenant, severity) pairs, each with a message and a fix.
pub(crate) fn found(report: &Json, check: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for finding in report["findings"].as_array().unwrap().iter().filter(|f| f["check"] == check) {
        assert!(finding["message"].as_str().is_some_and(|m| !m.is_empty()), "{finding}");
        assert!(finding["fix"].as_str().is_some_and(|f| !f.is_empty()), "{finding}");
        found.push((finding["tenant"].as_str().unwrap_or("-").to_string(), finding["severity"].as_str().unwrap().to_string()));
    }
    found
}

fn checks(report: &Json) -> BTreeSet<String> {
    report["findings"].as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap().to_string()).collect()
}

/// Every file of the data folder and its size, but SQLite's sidecar files (`-wal`,
/// `-shm`), which readers may create and remove: what "changes nothing" is held to.
fn files(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for entry in walkdir(dir) {
        let name = entry.strip_prefix(dir).unwrap().display().to_string();
        if !name.ends_with("-wal") && !name.ends_with("-shm") {
            out.push((name, std::fs::metadata(&entry).unwrap().len()));
        }
    }
    out.sort();
    out
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        if entry.path().is_dir() { out.extend(walkdir(&entry.path())) } else { out.push(entry.path()) }
    }
    out
}

/// `a` (two migrations, seeded rows) and `b` on it, with an upgrade of `a` and an
/// uninstall: every kind of kept file.
pub(crate) fn world_with_history() -> World {
    let world = World::new();
    world
        .module("a-1", "a", "1.0.0")
        .migration("V1__a", "CREATE TABLE a_t (id INTEGER PRIMARY KEY, v TEXT);")
        .migration("V2__a_index", "CREATE INDEX a_v ON a_t (v);")
        .seed("1.sql", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO a_t (id, v) SELECT i, 'row ' || i || ' with some text' FROM n;")
        .write();
    world
        .module("a-2", "a", "2.0.0")
        .migration("V1__a", "CREATE TABLE a_t (id INTEGER PRIMARY KEY, v TEXT);")
        .migration("V2__a_index", "CREATE INDEX a_v ON a_t (v);")
        .migration("V3__a_more", "ALTER TABLE a_t ADD COLUMN w TEXT;")
        .write();
    world.module("b", "b", "1.0.0").dep("a", ">=1").migration("V1__b", "CREATE TABLE b_t (a_id INTEGER REFERENCES a_t (id));").write();
    world.ok(&["tenant", "add", "acme", "globex", "initech"]);
    for tenant in ["acme", "globex", "initech"] {
        world.ok(&["install", "a@1.0.0", "b", "--tenant", tenant]);
    }
    world.ok(&["upgrade", "a", "--tenant", "acme"]);
    world.ok(&["uninstall", "b", "--tenant", "globex"]);
    world
}

#[test]
fn a_healthy_world_is_healthy_and_doctor_changes_nothing() {
    let world = world_with_history();
    let before: Vec<String> = ["acme", "globex", "initech"].iter().map(|t| world.dump(t)).collect();
    let files_before = files(&world.data());
    let report = doctor(&world, &[], 0);
    assert_eq!(report["findings"], serde_json::json!([]));
    assert_eq!(report["checked"]["tenants"], 3);
    let human = world.run(&["doctor"]);
    human.code(0);
    assert!(human.stderr.contains("Healthy the landlord and 3 tenants: nothing to fix"), "{}", human.stderr);
    assert_eq!(human.stdout, "");
    let after: Vec<String> = ["acme", "globex", "initech"].iter().map(|t| world.dump(t)).collect();
    assert_eq!(before, after);
    assert_eq!(files_before, files(&world.data()));
}

#[test]
fn the_landlord_and_a_tenant_file_that_disagree_are_found_and_the_fix_works() {
    let world = world_with_history();
    // acme's file forgets `b`; globex's loses a table `a` owns; initech's history loses
    // a migration; a file the landlord does not know appears.
    world.sql("acme", "DELETE FROM _modreg_modules WHERE module = 'b';");
    world.sql("globex", "DROP INDEX a_v;");
    match &world.tenants_url {
        None => {
            world.sql("initech", "DELETE FROM _modreg_history_a WHERE version = 2;");
            std::fs::copy(world.tenant_path("initech"), world.tenant_path("stray")).unwrap();
        }
        Some(url) => {
            world.sql("initech", "DELETE FROM _modreg_history WHERE module = 'a' AND version = 2;");
            // A schema another landlord made in the same tenants database.
            let other = World { dir: tempfile::tempdir().unwrap(), landlord_url: None, tenants_url: Some(url.clone()) };
            other.ok(&["tenant", "add", "stray"]);
        }
    }
    let report = doctor(&world, &[], 1);
    let pairs = |list: &[(&str, &str)]| list.iter().map(|(t, s)| (t.to_string(), s.to_string())).collect::<BTreeSet<_>>();
    let set = |check: &str| found(&report, check).into_iter().collect::<BTreeSet<_>>();
    assert_eq!(set("tenant.modules"), pairs(&[("acme", "error")]), "{report:#}");
    // What acme's file no longer records leaves `b`'s objects and history unowned.
    assert_eq!(set("tenant.objects"), pairs(&[("globex", "error"), ("acme", "warning")]), "{report:#}");
    assert_eq!(set("tenant.history"), pairs(&[("initech", "error"), ("acme", "warning")]), "{report:#}");
    // A file the landlord does not know is not held to it.
    assert_eq!(set("tenant.unregistered"), pairs(&[("stray", "warning")]), "{report:#}");
    assert_eq!(report["checked"]["tenants"], 4);
    // The fix it names for acme puts landlord and file back in agreement.
    let fix = report["findings"].as_array().unwrap().iter().find(|f| f["check"] == "tenant.modules").unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fix.contains("`modreg uninstall b --tenant acme --purge`"), "{fix}");
    world.ok(&["uninstall", "b", "--tenant", "acme", "--purge"]);
    assert!(!checks(&doctor(&world, &["--tenant", "acme"], 0)).contains("tenant.modules"));
}

#[test]
fn kept_files_that_are_gone_or_that_nothing_refers_to_are_found() {
    let world = world_with_history();
    let archives = world.json(&["archives", "list"])["archives"].as_array().unwrap().clone();
    let archive = archives.iter().find(|a| a["kind"] == "uninstall").unwrap()["path"].as_str().unwrap().to_string();
    let stray = match &world.tenants_url {
        None => {
            std::fs::remove_file(&archive).unwrap();
            let stray = world.data().join("copies").join("acme").join("a-0.9.0-copied-by-hand.db");
            std::fs::write(&stray, "not a copy").unwrap();
            stray.display().to_string()
        }
        Some(url) => {
            // Kept schemas: the archive dropped, and a copy made by hand that no record names.
            let stray = "_modreg_k_c_copied_by_hand".to_string();
            let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
            client
                .batch_execute(&format!(
                    "DROP SCHEMA \"{archive}\" CASCADE;
                     CREATE SCHEMA {stray};
                     CREATE TABLE {stray}._modreg_archive (key text PRIMARY KEY, value text NOT NULL);
                     INSERT INTO {stray}._modreg_archive VALUES ('tenant', 'acme'), ('kind', 'copy'), ('written_at', '2020-01-01T00:00:00Z');"
                ))
                .unwrap();
            stray
        }
    };
    let report = doctor(&world, &[], 1);
    assert_eq!(found(&report, "archives.missing"), [("globex".to_string(), "warning".to_string())], "{report:#}");
    assert_eq!(found(&report, "archives.unreferenced"), [("acme".to_string(), "warning".to_string())], "{report:#}");
    let text = report.to_string();
    assert!(text.contains(&archive) && text.contains(&stray), "{report:#}");
    // Limited to a tenant, only its files count.
    assert_eq!(checks(&doctor(&world, &["--tenant", "globex"], 1)), BTreeSet::from(["archives.missing".to_string()]));
}

#[test]
fn an_installed_version_gone_from_the_catalog_and_the_landlord_is_an_error() {
    let world = world_with_history();
    // Gone from the modules folder only: the landlord's copy serves.
    std::fs::remove_dir_all(world.modules().join("b")).unwrap();
    doctor(&world, &[], 0);
    world.landlord_sql("DELETE FROM catalog WHERE module = 'b'");
    let report = doctor(&world, &[], 1);
    assert_eq!(found(&report, "catalog.missing"), [("-".to_string(), "error".to_string())], "{report:#}");
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("`b 1.0.0`") && message.contains("`acme`, `initech`"), "{message}");
}

#[test]
fn a_tenant_being_worked_on_is_checked_for_integrity_only() {
    let world = World::new();
    let started = fifo(&world.path().join("hook.started"));
    let go = fifo(&world.path().join("hook.go"));
    world
        .module("slow", "slow", "1.0.0")
        .migration("V1__s", "CREATE TABLE slow_t (x TEXT);")
        .hook("post_install", &format!("echo started > {}; read line < {}", started.display(), go.display()))
        .write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    let child = world.spawn(&["install", "slow", "--tenant", "acme"]);
    assert_eq!(read_fifo(&started), "started\n");
    // The module's work is committed, the job is running and the rollback copy is there:
    // none of that is a problem while the job runs.
    let report = doctor(&world, &[], 0);
    assert_eq!(report["checked"]["in_progress"], serde_json::json!(["acme"]));
    let human = world.run(&["doctor"]);
    assert!(human.stderr.contains("another process was working on `acme`"), "{}", human.stderr);
    write_fifo(&go, "go\n");
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(doctor(&world, &[], 0)["checked"]["in_progress"], serde_json::json!([]));
}

#[cfg(debug_assertions)]
#[test]
fn a_job_a_killed_process_left_is_found_and_recover_fixes_it() {
    let world = World::new();
    // A hook that may write the tenant file: the plan keeps a rollback copy.
    world
        .module("h", "h", "1.0.0")
        .migration("V1__h", "CREATE TABLE h_t (x TEXT);")
        .hook("post_install", "true")
        .writes_tenant_db(&["post_install"])
        .write();
    world.ok(&["tenant", "add", "acme"]);
    let killed = world.run_with(&["install", "h", "--tenant", "acme"], &[("MODREG_FAULT_POINT", "module-applied")]);
    assert_eq!(killed.code, -1, "not killed: {}", killed.stderr);
    let report = doctor(&world, &[], 1);
    assert_eq!(found(&report, "jobs.unfinished"), [("acme".to_string(), "warning".to_string())], "{report:#}");
    if world.tenants_url.is_some() {
        // The hook works inside the job's transaction, which went with the process: no
        // copy, and nothing of the job in the schema.
        assert!(found(&report, "tenant.rollback_copy").is_empty(), "{report:#}");
        assert!(found(&report, "tenant.modules").is_empty(), "{report:#}");
        world.ok(&["recover"]);
        doctor(&world, &[], 0);
        return;
    }
    assert_eq!(found(&report, "tenant.rollback_copy"), [("acme".to_string(), "warning".to_string())], "{report:#}");
    // The module's work committed with its hook ahead: file and landlord differ, and
    // the fix is recovery.
    let modules = report["findings"].as_array().unwrap().iter().find(|f| f["check"] == "tenant.modules").cloned().unwrap();
    assert!(modules["fix"].as_str().unwrap().contains("`modreg recover`"), "{modules}");
    world.ok(&["recover"]);
    doctor(&world, &[], 0);
}

/// The `tenant.integrity` findings of a world whose globex file had its header damaged:
/// globex's error on SQLite; none on PostgreSQL, whose schemas have no file to damage
/// (there the tenants are still checked, and found sound).
fn damaged_globex(world: &World) -> Vec<(String, String)> {
    if world.tenants_url.is_some() { Vec::new() } else { vec![("globex".to_string(), "error".to_string())] }
}

#[test]
fn an_unreachable_landlord_is_a_finding_and_the_tenant_files_are_still_checked() {
    let world = World::new();
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    if world.tenants_url.is_none() {
        damage_header(&world.tenant_path("globex"));
    }
    // Nothing listens on port 1.
    let run = world.run_with(&["doctor", "--json", "--lock-timeout", "1"], &[("MODREG_LANDLORD", "postgres://modreg@127.0.0.1:1/modreg")]);
    run.exit(1);
    let report = run.json();
    assert_eq!(found(&report, "landlord.open"), [("-".to_string(), "error".to_string())], "{report:#}");
    assert_eq!(found(&report, "tenant.integrity"), damaged_globex(&world), "{report:#}");
    assert_eq!(report["checked"]["tenants"], 2);
}

#[test]
fn a_damaged_landlord_file_is_found_and_the_tenant_files_are_still_checked() {
    let world = World::new();
    if world.landlord_url.is_some() {
        // Only the SQLite landlord is a file to damage; the PostgreSQL counterpart is
        // the unreachable landlord above.
        return;
    }
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    damage_table(&world.data().join("landlord.db"), "tenant_modules");
    if world.tenants_url.is_none() {
        damage_header(&world.tenant_path("globex"));
    }
    let report = doctor(&world, &[], 1);
    assert_eq!(found(&report, "landlord.integrity"), [("-".to_string(), "error".to_string())], "{report:#}");
    assert_eq!(found(&report, "tenant.integrity"), damaged_globex(&world), "{report:#}");
    assert_eq!(report["checked"]["tenants"], 2);
    let fix = report["findings"][0]["fix"].as_str().unwrap();
    assert!(fix.contains("`modreg restore-landlord BACKUP/landlord.db`"), "{fix}");
}

#[test]
fn many_tenants_are_checked_in_parallel_and_unknown_ones_are_not_found() {
    let world = World::new();
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    let tenants: Vec<String> = (0..24).map(|i| format!("t{i:02}")).collect();
    let mut add = vec!["tenant", "add"];
    add.extend(tenants.iter().map(String::as_str));
    world.ok(&add);
    world.ok(&["install", "a", "--all-tenants"]);
    world.sql("t17", "DELETE FROM _modreg_modules;");
    let report = doctor(&world, &["--jobs", "4"], 1);
    assert_eq!(report["checked"]["tenants"], 24);
    assert_eq!(found(&report, "tenant.modules"), [("t17".to_string(), "error".to_string())]);
    let unknown = world.run(&["doctor", "--tenant", "nobody", "--json"]);
    unknown.code(3);
    assert!(unknown.error()["message"].as_str().unwrap().contains("tenant `nobody` does not exist"), "{}", unknown.stdout);
}
