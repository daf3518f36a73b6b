//! The library API and the examples, against landlords the real binary wrote.

use std::time::{Duration, Instant};

use crate::support::World;

/// Requires `read` to give `expected`: at once on the SQLite landlord (the registry asks
/// it on every call whether anything changed), within the moment a notification takes on
/// PostgreSQL (the registry answers from memory and hears of changes by NOTIFY).
#[track_caller]
fn sees<T: PartialEq + std::fmt::Debug>(world: &World, expected: T, mut read: impl FnMut() -> T) {
    let started = Instant::now();
    loop {
        let got = read();
        if got == expected {
            return;
        }
        assert!(world.landlord_url.is_some() && started.elapsed() < Duration::from_secs(5), "expected {expected:?}, got {got:?}");
        std::thread::yield_now();
    }
}

#[test]
fn the_registry_sees_changes_made_by_another_process() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "elections", "--tenant", "acme"]);
    let registry = world.registry().unwrap();
    assert!(registry.allows("acme", "elections", None).unwrap());
    assert!(registry.allows("acme", "elections", Some("candidate_statements")).unwrap());
    assert!(!registry.allows("acme", "elections", Some("live_results")).unwrap());
    assert!(!registry.allows("acme", "forum", None).unwrap());
    assert_eq!(registry.version("acme", "membership").unwrap().as_deref(), Some("1.1.0"));

    world.ok(&["flags", "set", "--tenant", "acme", "elections.live_results=true"]);
    sees(&world, true, || registry.allows("acme", "elections", Some("live_results")).unwrap());
    world.ok(&["disable", "elections", "--tenant", "acme"]);
    sees(&world, false, || registry.allows("acme", "elections", None).unwrap());
    assert!(!registry.is_enabled("acme", "elections").unwrap());
    world.ok(&["install", "forum", "--tenant", "acme"]);
    let names = || registry.modules("acme").unwrap().into_iter().map(|m| m.name).collect::<Vec<String>>();
    sees(&world, vec!["elections".to_string(), "forum".into(), "membership".into()], names);
    assert!(!registry.has_tenant("globex").unwrap());
    world.ok(&["tenant", "add", "globex"]);
    sees(&world, true, || registry.has_tenant("globex").unwrap());
}

#[test]
fn opening_a_missing_landlord_is_not_found() {
    let world = World::new();
    let error = world.registry().err().unwrap();
    assert_eq!(error.kind, modreg::domain::ErrorKind::NotFound);
}

#[test]
fn the_provisioning_example_brings_tenants_to_the_desired_modules_idempotently() {
    let world = World::sample();
    let desired = world.write("desired.txt", "# tenant: modules\nacme: elections forum\nglobex: messaging\n\ninitech: finance\n");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/provision.sh");
    let run = |file: &std::path::Path| {
        std::process::Command::new("sh")
            .arg(script)
            .arg(file)
            .env("MODREG", assert_cmd::cargo::cargo_bin("modreg"))
            .env("MODREG_MODULES", world.modules())
            .env("MODREG_DATA", world.data())
            .envs(world.landlord_env())
            .output()
            .unwrap()
    };
    let first = run(&desired);
    // initech has no finance subscription: reported, the others done, exit non-zero.
    assert!(!first.status.success());
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("initech: needs a subscription first"), "{stderr}");
    assert_eq!(world.installed("acme").keys().cloned().collect::<Vec<_>>(), ["elections", "forum", "membership"]);
    assert_eq!(world.installed("globex").keys().cloned().collect::<Vec<_>>(), ["membership", "messaging"]);

    world.ok(&["subscription", "grant", "--tenant", "initech", "finance"]);
    let second = run(&desired);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let jobs = world.jobs().len();
    let third = run(&desired);
    assert!(third.status.success());
    assert_eq!(world.jobs().len(), jobs, "a third run changed something");

    // acme drops the forum: it goes; membership stays, elections needs it.
    let smaller = world.write("smaller.txt", "acme: elections\n");
    assert!(run(&smaller).status.success());
    assert_eq!(world.installed("acme").keys().cloned().collect::<Vec<_>>(), ["elections", "membership"]);
}
