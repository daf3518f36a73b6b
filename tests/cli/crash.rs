//! A process killed at any point leaves work that the next command (or `recover`) puts
//! right. Debug builds honour `MODREG_FAULT_POINT`, which makes the process SIGKILL
//! itself at a named point; hooks that wait let a test kill it mid-hook.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use crate::support::{Stderr, World, fifo, read_fifo};

fn world() -> World {
    let world = World::new();
    world
        .module("a", "a", "1.0.0")
        .migration("V1__a", "CREATE TABLE a_t (id INTEGER PRIMARY KEY, v TEXT);")
        .seed("1.sql", "INSERT INTO a_t (id, v) VALUES (1, 'x');")
        .write();
    world
        .module("b", "b", "1.0.0")
        .dep("a", "^1")
        .migration("V1__b", "CREATE TABLE b_t (x TEXT);\nUPDATE a_t SET v = 'changed by b';")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.sql("acme", "CREATE TABLE app_data (x INTEGER); INSERT INTO app_data VALUES (1);");
    world
}

fn killed_at(world: &World, point: &str, args: &[&str]) {
    let run = world.run_with(args, &[("MODREG_FAULT_POINT", point)]);
    assert_eq!(run.code, -1, "{point}: the process was not killed\n{}", run.stderr);
}

/// Whether the tenant's rollback copy is kept: the file beside the tenant's, or its
/// checkpoint in `_modreg.checkpoints` on PostgreSQL.
fn has_rollback_copy(world: &World, tenant: &str) -> bool {
    if world.tenants_url.is_some() {
        let rows = world.tenant_client(tenant).query("SELECT 1 FROM _modreg.checkpoints WHERE tenant = $1", &[&tenant]).unwrap();
        return !rows.is_empty();
    }
    world.data().join("tenants").join(format!("{tenant}.db.rollback")).exists()
}

fn job_statuses(world: &World) -> Vec<String> {
    world.jobs().iter().map(|j| j["status"].as_str().unwrap().to_string()).collect()
}

#[test]
fn killed_before_the_tenant_commits_the_work_is_rolled_back() {
    for point in ["jobs-started", "module-applied"] {
        let world = world();
        let before = world.dump("acme");
        killed_at(&world, point, &["install", "b", "--tenant", "acme"]);
        assert_eq!(job_statuses(&world), ["running", "running"], "{point}");
        let report = world.json(&["recover"]);
        assert_eq!(report["tenants"][0]["rolled_back"].as_array().unwrap().len(), 2, "{point}: {report}");
        assert_eq!(job_statuses(&world), ["rolled_back", "rolled_back"], "{point}");
        assert!(world.jobs()[0]["error"].as_str().unwrap().contains("interrupted"));
        assert_eq!(world.dump("acme"), before, "{point}");
        assert!(world.installed("acme").is_empty());
        // And the work can be done again.
        world.ok(&["install", "b", "--tenant", "acme"]);
        assert_eq!(world.installed("acme").len(), 2);
    }
}

#[test]
fn killed_after_the_tenant_commits_the_jobs_are_completed() {
    for point in ["tenant-committed", "landlord-completed"] {
        let world = world();
        killed_at(&world, point, &["install", "b", "--tenant", "acme"]);
        // The next command that touches the tenant recovers it first.
        world.ok(&["install", "b", "--tenant", "acme"]);
        assert_eq!(job_statuses(&world), ["completed", "completed"], "{point}");
        assert_eq!(world.installed("acme").len(), 2, "{point}");
        assert!(world.has_object("acme", "b_t"));
        let flags_and_events = world.ok(&["events"]).stdout;
        assert_eq!(flags_and_events.matches("module.installed").count(), 2, "{point}: {flags_and_events}");
    }
}

/// Module `c` (on `a`), whose migration empties `a_t` and whose post_install hook says it
/// started and then waits, listed in `writes_tenant_db` when `writes`; and a process
/// installing it on `acme`, killed inside that hook. Returns the tenant's dump from
/// before and the file the rollback hook writes the job's id to.
fn killed_in_post_install(world: &World, writes: bool) -> (String, PathBuf) {
    let started = fifo(&world.path().join("hook.started"));
    let marker = world.path().join("rolled-back.txt");
    let mut module = world
        .module("c", "c", "1.0.0")
        .dep("a", "^1")
        .migration("V1__c", "CREATE TABLE c_t (x TEXT);\nDELETE FROM a_t;")
        .hook("post_install", &format!("echo started > {}; sleep 60", started.display()))
        .hook("rollback", &format!("echo \"$MODREG_JOB_ID\" >> {}", marker.display()));
    if writes {
        module = module.writes_tenant_db(&["post_install"]);
    }
    module.write();
    world.ok(&["install", "a", "--tenant", "acme"]);
    let before = world.dump("acme");
    let mut child = world.spawn(&["install", "c", "--tenant", "acme"]);
    assert_eq!(read_fifo(&started), "started\n");
    if !writes {
        // The hook runs inside the open transaction: readers see the file as it was.
        assert_eq!(world.dump("acme"), before, "the hook saw uncommitted work");
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    (before, marker)
}

/// After `recover`: the tenant as before, the job rolled back, its rollback hook called.
#[track_caller]
fn recovered(world: &World, before: &str, marker: &Path, restored_copy: bool) {
    let report = world.json(&["recover"]);
    assert_eq!(report["tenants"][0]["restored_copy"], restored_copy, "{report}");
    assert_eq!(report["tenants"][0]["rolled_back"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(world.dump("acme"), before);
    let last = world.jobs().last().unwrap().clone();
    assert_eq!(last["status"], "rolled_back");
    assert_eq!(std::fs::read_to_string(marker).unwrap().trim(), last["id"].to_string());
    assert!(!has_rollback_copy(world, "acme"));
    assert_eq!(world.json(&["recover"])["tenants"], serde_json::json!([]));
}

#[test]
fn killed_during_a_hook_that_writes_the_copy_is_put_back_and_rollback_is_called() {
    let world = world();
    let (before, marker) = killed_in_post_install(&world, true);
    if world.tenants_url.is_some() {
        // The hook works inside the job's transaction, which went with the process.
        assert!(!has_rollback_copy(&world, "acme"), "a checkpoint was taken");
        assert_eq!(world.dump("acme"), before, "the uncommitted work survived the kill");
        return recovered(&world, &before, &marker, false);
    }
    assert!(has_rollback_copy(&world, "acme"), "no rollback copy was kept");
    assert_ne!(world.dump("acme"), before, "the migration had committed for the hook to see");
    recovered(&world, &before, &marker, true);
}

#[test]
fn killed_during_a_hook_that_only_reads_the_transaction_is_gone_and_rollback_is_called() {
    let world = world();
    let (before, marker) = killed_in_post_install(&world, false);
    assert!(!has_rollback_copy(&world, "acme"), "a rollback copy was made");
    assert_eq!(world.dump("acme"), before, "the uncommitted work survived the kill");
    recovered(&world, &before, &marker, false);
}

#[test]
fn killed_mid_migration_the_transaction_is_gone() {
    let world = world();
    // A migration that takes seconds: the kill lands inside it.
    world
        .module("slow", "slow", "1.0.0")
        .dep("a", "^1")
        .migration(
            "V1__slow",
            "CREATE TABLE slow_t (x TEXT);\nDELETE FROM a_t;\nWITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) SELECT count(*) FROM n;",
        )
        .write();
    world.ok(&["install", "a", "--tenant", "acme"]);
    let before = world.dump("acme");
    let mut child = world.spawn(&["install", "slow", "--tenant", "acme"]);
    // Said just before its migrations start; they take seconds, so the kill lands in them.
    Stderr::of(&mut child).wait_for("Installing slow 1.0.0 for acme");
    child.kill().unwrap();
    child.wait().unwrap();
    let status = world.json(&["status", "--tenant", "acme"]);
    assert_eq!(status["tenants"][0]["unfinished_jobs"], 1);
    world.ok(&["recover"]);
    assert_eq!(world.dump("acme"), before);
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
}

/// What is kept aside of tenants: the files under the data folder's `archive` and
/// `copies` folders, or the kept schemas (`_modreg_k_…`) on PostgreSQL.
fn kept_files(world: &World) -> Vec<PathBuf> {
    if world.tenants_url.is_some() {
        let rows = world
            .tenant_client("public")
            .query("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE '\\_modreg\\_k\\_%' ORDER BY 1", &[])
            .unwrap();
        return rows.iter().map(|r| PathBuf::from(r.get::<_, String>(0))).collect();
    }
    let mut files = Vec::new();
    for folder in ["archive", "copies"] {
        for tenant in std::fs::read_dir(world.data().join(folder)).into_iter().flatten().flatten() {
            files.extend(std::fs::read_dir(tenant.path()).unwrap().flatten().map(|f| f.path()));
        }
    }
    files
}

#[test]
fn recover_removes_the_archive_or_copy_a_killed_job_wrote() {
    let world = world();
    world
        .module("a-1.1", "a", "1.1.0")
        .migration("V1__a", "CREATE TABLE a_t (id INTEGER PRIMARY KEY, v TEXT);")
        .migration("V2__a", "ALTER TABLE a_t ADD COLUMN w TEXT;")
        .write();
    world.ok(&["install", "a@=1.0.0", "--tenant", "acme"]);
    for args in [&["uninstall", "a", "--tenant", "acme"][..], &["upgrade", "a", "--tenant", "acme"]] {
        let before = world.dump("acme");
        // Killed once the module's work is done: its archive (or pre-upgrade copy) is
        // written, the tenant's transaction not committed. On PostgreSQL the kept schema
        // is written in that transaction, and goes with it.
        let left_behind = if world.tenants_url.is_some() { 0 } else { 1 };
        killed_at(&world, "module-applied", args);
        assert_eq!(kept_files(&world).len(), left_behind, "{args:?}: what the killed job kept");
        let run = world.run(&["doctor", "--json"]);
        run.exit(1);
        let report = world.json(&["recover"]);
        let tenant = &report["tenants"][0];
        assert_eq!(tenant["rolled_back"].as_array().unwrap().len(), 1, "{args:?}: {report}");
        assert_eq!(tenant["discarded_files"].as_array().unwrap().len(), left_behind, "{args:?}: {report}");
        assert_eq!(kept_files(&world), Vec::<PathBuf>::new(), "{args:?}");
        assert_eq!(world.dump("acme"), before, "{args:?}");
        assert_eq!(world.installed("acme").get("a").map(String::as_str), Some("1.0.0"), "{args:?}");
        assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back", "{args:?}");
        assert_eq!(world.run(&["doctor", "--json"]).json()["healthy"], true, "{args:?}");
    }
    // The same work, not killed, keeps its file: recovery took only what nothing records.
    world.ok(&["uninstall", "a", "--tenant", "acme"]);
    assert_eq!(kept_files(&world).len(), 1);
    world.ok(&["recover"]);
    assert_eq!(kept_files(&world).len(), 1);
}
