//! `modreg doctor --rebuild-landlord`: a lost landlord (the file deleted; on PostgreSQL,
//! an empty new database) rebuilt from the tenant files has what it had of every tenant,
//! says what it assumed and what is lost, and is refused over a landlord with tenants.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::support::{World, event_types};

/// Drops what changes by nature between a landlord and one rebuilt from the tenant
/// files: when each record was last written (the files record their own times, a few
/// milliseconds off the landlord's).
fn without_times(mut value: Json) -> Json {
    match &mut value {
        Json::Object(map) => {
            map.remove("updated_at");
            for v in map.values_mut() {
                *v = without_times(v.take());
            }
        }
        Json::Array(items) => {
            for v in items.iter_mut() {
                *v = without_times(v.take());
            }
        }
        _ => {}
    }
    value
}

/// Makes the world lose its landlord: the file with its sidecars, or, on PostgreSQL, a
/// new empty database in its place.
pub fn lose_the_landlord(world: &mut World) {
    match &world.landlord_url {
        Some(_) => world.landlord_url = crate::pg::cluster().map(|c| c.database()),
        None => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(world.data().join(format!("landlord.db{suffix}")));
            }
        }
    }
}

/// Everything a user sees of every tenant: status, flags, tenant list, kept files.
fn seen(world: &World, tenants: &[String]) -> (Json, BTreeMap<String, Json>, Json, Json) {
    let status = without_times(world.json(&["status"]));
    let flags = tenants.iter().map(|t| (t.clone(), without_times(world.json(&["flags", "list", "--tenant", t])))).collect();
    let list = world.json(&["tenant", "list"]);
    let mut kept: Vec<Json> = world.json(&["archives", "list"])["archives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| serde_json::json!([a["tenant"], a["kind"], a["module"], a["version"], a["path"], a["holds"]]))
        .collect();
    kept.sort_by_key(|a| a.to_string());
    (status, flags, list, Json::Array(kept))
}

fn catalog(world: &World) {
    world
        .module("base-1", "base", "1.0.0")
        .flag("audit", false)
        .migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY);")
        .write();
    world
        .module("base-2", "base", "2.0.0")
        .flag("audit", false)
        .flag("export", true)
        .migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY);")
        .migration("V2__base_more", "ALTER TABLE base_t ADD COLUMN note TEXT;")
        .write();
    world
        .module("shop", "shop", "1.0.0")
        .dep("base", ">=1")
        .flag("cart", true)
        .flag("coupons", false)
        .migration("V1__shop", "CREATE TABLE shop_t (id INTEGER PRIMARY KEY, base_id INTEGER REFERENCES base_t (id));")
        .seed("1.sql", "INSERT INTO shop_t (id) VALUES (1), (2);")
        .write();
    world.module("blog-1", "blog", "1.0.0").flag("comments", true).migration("V1__blog", "CREATE TABLE blog_t (x TEXT);").write();
    world.module("blog-2", "blog", "1.1.0").flag("comments", true).migration("V1__blog", "CREATE TABLE blog_t (x TEXT);").write();
    world.module("paid", "paid", "1.0.0").subscription().flag("gold", false).migration("V1__paid", "CREATE TABLE paid_t (x TEXT);").write();
}

/// `--tenant` for each of `tenants[range]`.
fn each(tenants: &[String], range: std::ops::Range<usize>) -> Vec<&str> {
    tenants[range].iter().flat_map(|t| ["--tenant", t.as_str()]).collect()
}

#[test]
fn a_landlord_rebuilt_from_fifty_tenant_files_shows_every_tenant_as_before() {
    let mut world = World::new();
    catalog(&world);
    let tenants: Vec<String> = (0..50).map(|i| format!("t{i:02}")).collect();
    let mut add = vec!["tenant", "add"];
    add.extend(tenants.iter().map(String::as_str));
    world.ok(&add);
    world.ok(&["install", "base@1.0.0", "--all-tenants"]);
    world.ok(&[&["install", "shop"][..], &each(&tenants, 0..30)].concat());
    world.ok(&[&["install", "blog@=1.0.0"][..], &each(&tenants, 10..40)].concat());
    world.ok(&[&["upgrade", "blog"][..], &each(&tenants, 20..40)].concat());
    world.ok(&[&["upgrade", "base"][..], &each(&tenants, 0..25)].concat());
    for t in &tenants[44..49] {
        world.ok(&["subscription", "grant", "--tenant", t, "paid"]);
    }
    world.ok(&[&["install", "paid"][..], &each(&tenants, 44..49)].concat());
    for (tenant, module) in [("t05", "shop"), ("t06", "shop"), ("t15", "blog"), ("t33", "blog"), ("t46", "paid")] {
        world.ok(&["disable", module, "--tenant", tenant]);
    }
    for (tenant, flag) in [
        ("t00", "shop.coupons=true"),
        ("t01", "base.audit=true"),
        ("t02", "base.export=false"),
        ("t12", "blog.comments=false"),
        ("t47", "paid.gold=true"),
        ("t05", "shop.cart=false"),
    ] {
        world.ok(&["flags", "set", "--tenant", tenant, flag]);
    }
    world.ok(&["uninstall", "shop", "--tenant", "t29"]);
    world.ok(&["tenant", "remove", "t49"]);
    let remaining = &tenants[..49];
    let before = seen(&world, remaining);
    assert_eq!(before.0["tenants"].as_array().unwrap().len(), 49);
    let disabled = before.0["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["modules"].as_array().unwrap())
        .filter(|m| m["enabled"] == false)
        .count();
    assert_eq!(disabled, 5, "the world has what the test means it to");
    let kept_before = before.3.as_array().unwrap().len();
    assert!(kept_before >= 20, "uninstall archives, pre-upgrade copies and a removed tenant's file: {kept_before}");

    lose_the_landlord(&mut world);
    // The version that t10…t19 still have is gone from the modules folder too.
    std::fs::remove_dir_all(world.modules().join("blog-1")).unwrap();
    let run = world.run(&["doctor", "--rebuild-landlord", "--json"]);
    run.code(0);
    let report = run.json();
    assert_eq!(report["tenants"].as_array().unwrap().len(), 49, "{report:#}");
    assert_eq!(report["not_rebuilt"], serde_json::json!([]));
    assert_eq!(report["assumed"], serde_json::json!([]), "every file records its tenant's state");
    let missing = &report["missing_versions"];
    assert_eq!((missing[0]["module"].as_str(), missing[0]["version"].as_str()), (Some("blog"), Some("1.0.0")), "{missing:#}");
    assert_eq!(missing[0]["tenants"], serde_json::json!(tenants[10..20]));
    let to_grant: Vec<&str> = report["subscriptions"].as_array().unwrap().iter().map(|g| g["tenant"].as_str().unwrap()).collect();
    assert_eq!(to_grant, ["t44", "t45", "t46", "t47", "t48"]);
    assert_eq!(report["kept_files"], kept_before);
    let lost = report["lost"].to_string();
    assert!(lost.contains("jobs") && lost.contains("events") && lost.contains("subscriptions"), "{lost}");
    assert!(run.stderr_lines("warning:").iter().any(|l| l.contains("lost with the landlord")), "{}", run.stderr);

    // Status, flags, tenants and kept files are what they were.
    let after = seen(&world, remaining);
    assert_eq!(after.0, before.0, "status");
    for tenant in remaining {
        assert_eq!(after.1[tenant], before.1[tenant], "flags of {tenant}");
    }
    assert_eq!(after.2, before.2, "tenant list: names, when added, home hosts, module counts");
    assert_eq!(after.3, before.3, "kept files");
    // What is lost is lost, and said: no jobs, one event a tenant.
    assert!(world.jobs().is_empty());
    let events = world.events(None);
    assert_eq!(event_types(&events), vec!["tenant.added"; 49]);
    let rebuilt_from = events[0]["data"]["rebuilt_from"].as_str().unwrap();
    match &world.tenants_url {
        Some(url) => assert_eq!(rebuilt_from, format!("schema `t00` of {url}"), "{:#}", events[0]),
        None => assert!(rebuilt_from.ends_with("t00.db"), "{:#}", events[0]),
    }
    let history = world.json(&["history", "--tenant", "t00", "base"])["history"].clone();
    assert_eq!((history[0]["change"].as_str(), history[0]["to_version"].as_str()), (Some("rebuilt"), Some("2.0.0")));
    assert_eq!(history.as_array().unwrap().len(), 1);

    // `doctor` finds only the gone version; put back, the landlord is whole and works.
    let doctor = world.run(&["doctor", "--json"]);
    doctor.exit(1);
    let checks: Vec<String> =
        doctor.json()["findings"].as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap().to_string()).collect();
    assert_eq!(checks, ["catalog.missing"], "{}", doctor.stdout);
    catalog(&world);
    world.ok(&["doctor"]);
    world.ok(&["upgrade", "blog", "--tenant", "t10"]);
    assert_eq!(world.installed("t10")["blog"], "1.1.0");
    world.ok(&["install", "shop", "--tenant", "t29", "--restore"]);
    assert_eq!(world.count("t29", "shop_t"), 2);
    world.ok(&["subscription", "grant", "--tenant", "t44", "paid"]);
    world.ok(&["uninstall", "paid", "--tenant", "t44", "--purge"]);
}

#[test]
fn a_rebuild_is_refused_while_the_landlord_has_tenants() {
    let world = World::new();
    world.module("a", "a", "1.0.0").flag("x", true).migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    let events = world.events(None).len();
    let run = world.run(&["doctor", "--rebuild-landlord", "--json"]);
    run.code(2);
    let error = run.error();
    assert_eq!(error["kind"], "invalid");
    assert!(error["message"].as_str().unwrap().contains("the landlord still has 1 tenant(s) (`acme`)"), "{error}");
    let hint = error["hint"].as_str().unwrap();
    assert!(hint.contains("it is for a landlord that was lost"), "{hint}");
    if world.landlord_url.is_none() {
        assert!(hint.contains("`modreg restore-landlord BACKUP/landlord.db`"), "{hint}");
    }
    assert_eq!(world.events(None).len(), events, "nothing was written");
    assert_eq!(world.jobs().len(), 1);
    // `--tenant` is for checking; a rebuild takes every file.
    world.run(&["doctor", "--rebuild-landlord", "--tenant", "acme"]).code(2);
}

#[test]
fn a_rebuild_on_a_landlord_too_damaged_to_open_says_to_move_it_aside() {
    let world = World::new();
    if world.landlord_url.is_some() {
        // Only the SQLite landlord is a file; an empty PostgreSQL database is the case
        // of the test above.
        return;
    }
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    let landlord = world.data().join("landlord.db");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(world.data().join(format!("landlord.db{suffix}")));
    }
    std::fs::write(&landlord, "this is no database any more: something wrote over it, page after page".repeat(100)).unwrap();
    let run = world.run(&["doctor", "--rebuild-landlord"]);
    run.code(7);
    assert!(run.stderr.contains("hint: to rebuild a landlord too damaged to open, move `"), "{}", run.stderr);
    // An empty file is a landlord that was lost: rebuilt in place.
    std::fs::write(&landlord, b"").unwrap();
    world.run(&["doctor", "--rebuild-landlord"]).code(0);
    assert_eq!(world.installed("acme")["a"], "1.0.0");
}
