use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::{Stderr, World, fifo, read_fifo, write_fifo};

/// A module whose pre_install hook says it started (on the pipe `<name>.started`), then
/// waits to be told to go on (on the pipe `<name>.go`). Returns the `go` pipe.
fn gated(world: &World, name: &str) -> (PathBuf, PathBuf) {
    let started = fifo(&world.path().join(format!("{name}.started")));
    let go = fifo(&world.path().join(format!("{name}.go")));
    world
        .module(name, name, "1.0.0")
        .migration("V1__x", &format!("CREATE TABLE {name}_t (x TEXT);"))
        .hook("pre_install", &format!("echo started > {}; read line < {}", started.display(), go.display()))
        .write();
    (started, go)
}

/// Modules `slow` (gated) and `quick`, tenant `acme`, and a first process installing
/// `slow` that is inside its hook, holding the tenant, until told to go on.
fn slow_install_under_way(world: &World) -> (Child, PathBuf) {
    let (started, go) = gated(world, "slow");
    world.module("quick", "quick", "1.0.0").migration("V1__q", "CREATE TABLE quick_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme"]);
    let first = world.spawn(&["install", "slow", "--tenant", "acme"]);
    assert_eq!(read_fifo(&started), "started\n");
    (first, go)
}

#[test]
fn a_second_process_on_the_same_tenant_waits_then_gives_up_busy() {
    let world = World::new();
    let (first, go) = slow_install_under_way(&world);
    let started = Instant::now();
    let second = world.run(&["install", "quick", "--tenant", "acme", "--lock-timeout", "0.3", "--json"]);
    second.code(6);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(second.error()["kind"], "busy");
    assert!(second.error()["message"].as_str().unwrap().contains("tenant `acme` is busy"));
    assert!(second.stderr.contains("Blocking waiting for lock on tenant acme"), "{}", second.stderr);
    assert!(!second.stdout.contains("database is locked") && !second.stderr.contains("database is locked"));
    write_fifo(&go, "go\n");
    assert!(first.wait_with_output().unwrap().status.success());
    world.ok(&["install", "quick", "--tenant", "acme"]);
}

/// A tenant's lock, held as another modreg process would hold it: the lock file under
/// the data folder's `locks`, or the tenant's advisory lock on PostgreSQL.
enum HeldLock {
    File(std::fs::File),
    Advisory(Box<postgres::Client>),
}

impl HeldLock {
    fn take(world: &World, tenant: &str) -> HeldLock {
        if let Some(url) = &world.tenants_url {
            let hash = Sha256::digest(format!("modreg tenant lock\u{0}{tenant}").as_bytes());
            let key = i64::from_be_bytes(hash[..8].try_into().unwrap());
            let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
            client.execute("SELECT pg_advisory_lock($1)", &[&key]).unwrap();
            return HeldLock::Advisory(Box::new(client));
        }
        let locks = world.data().join("locks");
        std::fs::create_dir_all(&locks).unwrap();
        let held = std::fs::File::create(locks.join(format!("{tenant}.lock"))).unwrap();
        held.lock().unwrap();
        HeldLock::File(held)
    }

    fn release(self) {
        match self {
            HeldLock::File(file) => file.unlock().unwrap(),
            HeldLock::Advisory(client) => client.close().unwrap(),
        }
    }
}

#[test]
fn adding_a_tenant_waits_for_its_lock_and_writes_nothing_when_busy() {
    let world = World::new();
    let held = HeldLock::take(&world, "acme");
    let busy = world.run(&["tenant", "add", "acme", "--lock-timeout", "0.2", "--json"]);
    busy.code(6);
    assert_eq!(busy.error()["kind"], "busy");
    assert!(!world.has_tenant_db("acme"));
    held.release();
    assert_eq!(world.json(&["tenant", "list"])["tenants"], serde_json::json!([]));
    world.ok(&["tenant", "add", "acme"]);
    assert!(world.has_tenant_db("acme"));
}

#[test]
fn work_on_one_tenant_is_serialized() {
    let world = World::new();
    let (first, go) = slow_install_under_way(&world);
    let mut second = world.spawn(&["install", "quick", "--tenant", "acme"]);
    // The second process says it waits; only then does the first go on.
    Stderr::of(&mut second).wait_for("Blocking waiting for lock on tenant acme");
    write_fifo(&go, "go\n");
    assert!(first.wait_with_output().unwrap().status.success());
    assert!(second.wait().unwrap().success());
    let jobs = world.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!((jobs[0]["module"].as_str(), jobs[1]["module"].as_str()), (Some("slow"), Some("quick")));
    assert!(jobs[0]["finished_at"].as_str().unwrap() <= jobs[1]["started_at"].as_str().unwrap(), "{jobs:#?}");
}

#[test]
fn different_tenants_proceed_in_parallel() {
    let world = World::new();
    // Each tenant's hook says it started and waits to be told to go on; the test lets
    // them go only when both have started, which they can only do side by side.
    let pipes = |tenant: &str| (fifo(&world.path().join(format!("{tenant}.started"))), fifo(&world.path().join(format!("{tenant}.go"))));
    let (acme, globex) = (pipes("acme"), pipes("globex"));
    let dir = world.path().display().to_string();
    world
        .module("meet", "meet", "1.0.0")
        .migration("V1__x", "CREATE TABLE meet_t (x TEXT);")
        .hook("pre_install", &format!("echo started > {dir}/$MODREG_TENANT.started; read line < {dir}/$MODREG_TENANT.go"))
        .write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    let one = world.spawn(&["install", "meet", "--tenant", "acme"]);
    let two = world.spawn(&["install", "meet", "--tenant", "globex"]);
    assert_eq!(read_fifo(&acme.0), "started\n");
    assert_eq!(read_fifo(&globex.0), "started\n");
    write_fifo(&acme.1, "go\n");
    write_fifo(&globex.1, "go\n");
    assert!(one.wait_with_output().unwrap().status.success());
    assert!(two.wait_with_output().unwrap().status.success());
    assert_eq!(world.installed("acme").len(), 1);
    assert_eq!(world.installed("globex").len(), 1);
}

#[test]
fn a_landlord_held_by_another_writer_is_reported_busy_not_locked() {
    let world = World::new();
    if world.landlord_url.is_some() {
        // A lock on the SQLite landlord file; PostgreSQL has no such file-wide lock.
        return;
    }
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme"]);
    let landlord = world.landlord();
    landlord.execute_batch("BEGIN IMMEDIATE; INSERT INTO tenants (name, created_at) VALUES ('held', 'now');").unwrap();
    let run = world.run(&["tenant", "add", "other", "--lock-timeout", "0.2", "--json"]);
    run.code(6);
    assert_eq!(run.error()["kind"], "busy");
    assert!(!run.stdout.contains("database is locked"), "{}", run.stdout);
    landlord.execute_batch("ROLLBACK").unwrap();
    world.ok(&["tenant", "add", "other"]);
}

#[test]
fn many_processes_at_once_all_succeed() {
    let world = World::new();
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.module("b", "b", "1.0.0").migration("V1__b", "CREATE TABLE b_t (x TEXT);").write();
    let tenants: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
    let mut args = vec!["tenant", "add"];
    args.extend(tenants.iter().map(String::as_str));
    world.ok(&args);
    let children: Vec<Child> = tenants
        .iter()
        .flat_map(|t| [world.spawn(&["install", "a", "--tenant", t]), world.spawn(&["install", "b", "--tenant", t])])
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for t in &tenants {
        assert_eq!(world.installed(t).len(), 2);
    }
}
