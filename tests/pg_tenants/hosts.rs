//! Hosts that share the tenants' database as well as the landlord: no tenant is pinned to
//! a host, two hosts work one fleet at once, and a host killed mid-fleet leaves nothing
//! that another host cannot finish.

use std::time::{Duration, Instant};

use crate::support::World;
use crate::world;

/// The world's tenants database as the landlord too, and a host name.
fn on(world: &World, host: &str) -> Vec<(&'static str, String)> {
    vec![("MODREG_LANDLORD", world.tenants_url.clone().unwrap()), ("MODREG_HOST", host.to_string())]
}

fn run(world: &World, host: &str, args: &[&str]) -> crate::support::Run {
    let env = on(world, host);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    world.run_with(args, &env)
}

fn spawn(world: &World, host: &str, args: &[&str], more: &[(&str, &str)]) -> std::process::Child {
    let env = on(world, host);
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(more);
    world.spawn_with(args, &env)
}

fn slow_module(world: &World, gate: &std::path::Path) {
    world
        .module("slow", "slow", "1.0.0")
        .migration("postgres/V1__slow", "CREATE TABLE slow_rows (id bigint PRIMARY KEY);")
        .seed("postgres/01.sql", "INSERT INTO slow_rows VALUES (1);")
        .hook("post_install", &format!("sleep 0.2; while [ -e {} ]; do sleep 0.1; done", gate.display()))
        .write();
}

#[test]
fn two_hosts_work_one_fleet_of_postgresql_tenants_at_once() {
    let Some(world) = world(false) else { return };
    slow_module(&world, &world.path().join("no-gate"));
    let tenants: Vec<String> = (1..=8).map(|i| format!("t{i:02}")).collect();
    let mut add = vec!["tenant", "add"];
    add.extend(tenants.iter().map(String::as_str));
    run(&world, "a", &add).code(0);
    let listed = run(&world, "b", &["tenant", "list", "--json"]).code(0).json();
    assert!(listed["tenants"].as_array().unwrap().iter().all(|t| t["host"].is_null()), "no tenant has a home: {listed}");

    // The hosts take the fleet from either end, and meet in the middle.
    fn fleet(order: Vec<&str>) -> Vec<&str> {
        let mut args = vec!["install", "slow", "--jobs", "2", "--lock-timeout", "60"];
        for tenant in order {
            args.extend(["--tenant", tenant]);
        }
        args
    }
    let forward: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let backward: Vec<&str> = forward.iter().rev().copied().collect();
    let a = spawn(&world, "a", &fleet(forward), &[]);
    let b = spawn(&world, "b", &fleet(backward), &[]);
    for (host, child) in [("a", a), ("b", b)] {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "host {host}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let jobs = run(&world, "a", &["jobs", "list", "--json"]).code(0).json();
    let jobs = jobs["jobs"].as_array().unwrap();
    for tenant in &tenants {
        let installs: Vec<_> = jobs.iter().filter(|j| j["tenant"] == tenant.as_str() && j["kind"] == "install").collect();
        assert_eq!(installs.len(), 1, "{tenant}: one install, by whichever host came first: {installs:?}");
        assert_eq!(installs[0]["status"], "completed");
        assert_eq!(world.count(tenant, "slow_rows"), 1);
    }
    let hosts: std::collections::BTreeSet<&str> = jobs.iter().filter_map(|j| j["host"].as_str()).collect();
    assert_eq!(hosts.len(), 2, "both hosts worked the fleet: {hosts:?}");
    let error = run(&world, "b", &["tenant", "move", "t01", "--to", "b", "--json"]).code(2).error();
    assert!(error["message"].as_str().unwrap().contains("needs no move"), "{error}");
}

#[test]
fn a_host_killed_mid_fleet_loses_nothing_and_another_hosts_recover_finishes_after_the_lease() {
    let Some(world) = world(false) else { return };
    let gate = world.path().join("gate");
    std::fs::write(&gate, "").unwrap();
    slow_module(&world, &gate);
    run(&world, "a", &["tenant", "add", "acme", "globex", "initech"]).code(0);
    let lease = [("MODREG_LEASE_SECONDS", "1")];
    let mut a = spawn(&world, "a", &["install", "slow", "--all-tenants", "--jobs", "1"], &lease);
    // Wait for its first job to run (its hook holds at the gate), then kill the host.
    let deadline = Instant::now() + Duration::from_secs(30);
    let running = loop {
        let jobs = run(&world, "b", &["jobs", "list", "--json"]).code(0).json();
        if let Some(job) = jobs["jobs"].as_array().unwrap().iter().find(|j| j["status"] == "running") {
            break job.clone();
        }
        assert!(Instant::now() < deadline, "no job started");
        std::thread::sleep(Duration::from_millis(50));
    };
    a.kill().unwrap();
    a.wait().unwrap();
    std::fs::remove_file(&gate).unwrap();
    let tenant = running["tenant"].as_str().unwrap().to_string();
    assert!(!world.has_object(&tenant, "slow_rows"), "the killed host's open transaction went with it");

    // Host b finishes it once the lease ran out (by the landlord's clock), then works on.
    std::thread::sleep(Duration::from_millis(2500));
    let recovered = run(&world, "b", &["recover", "--json"]).code(0).json();
    let rolled_back: Vec<i64> = recovered["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["rolled_back"].as_array().unwrap().iter().map(|j| j.as_i64().unwrap()))
        .collect();
    assert_eq!(rolled_back, [running["id"].as_i64().unwrap()], "{recovered}");
    run(&world, "b", &["install", "slow", "--all-tenants"]).code(0);
    for tenant in ["acme", "globex", "initech"] {
        assert_eq!(world.count(tenant, "slow_rows"), 1, "{tenant}");
    }
    let events = run(&world, "b", &["events"]);
    events.code(0);
    let failed = events.stdout.lines().filter(|l| l.contains("module.install_failed")).count();
    assert_eq!(failed, 1, "one outcome for the killed job: {}", events.stdout);
    run(&world, "b", &["doctor"]).code(0);
}

#[test]
fn all_hosts_is_refused_with_the_word_that_all_tenants_is_every_tenant_here() {
    let Some(world) = world(false) else { return };
    world.module("m", "m", "1.0.0").migration("postgres/V1__m", "CREATE TABLE m_t (id int);").write();
    world.ok(&["tenant", "add", "acme"]);
    let error = world.run(&["install", "m", "--all-hosts", "--json"]).code(2).error();
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("with the tenants on PostgreSQL, `--tenants-db`, `--all-tenants` on one host is every tenant"),
        "{error}"
    );
}
