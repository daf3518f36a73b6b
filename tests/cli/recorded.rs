//! What a tenant file records beyond its modules' versions, for a landlord rebuilt from
//! it: when the tenant was added, whether each module is enabled and its flags, written
//! in the tenant's file before the landlord by every command that sets them; a file an
//! older modreg wrote gets them from the landlord; `doctor` holds the two to each other.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::rebuild::lose_the_landlord;
use crate::support::World;

/// Module to whether it is enabled, as the tenant file records it.
fn enabled_in_file(world: &World, tenant: &str) -> BTreeMap<String, bool> {
    recorded(world, tenant, "SELECT module, enabled FROM _modreg_enabled")
}

/// `module.flag` to its value, as the tenant file records them.
fn flags_in_file(world: &World, tenant: &str) -> BTreeMap<String, bool> {
    recorded(world, tenant, "SELECT module || '.' || flag, value FROM _modreg_flags")
}

/// The (name, yes or no) rows `sql` selects from the tenant's database: booleans on
/// PostgreSQL, 0 or 1 on SQLite.
fn recorded(world: &World, tenant: &str, sql: &str) -> BTreeMap<String, bool> {
    if world.tenants_url.is_some() {
        return world.tenant_client(tenant).query(sql, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    }
    let conn = world.tenant_db(tenant);
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// `module.flag` to its value, as the landlord has them (`flags list`).
fn flags_listed(world: &World, tenant: &str) -> BTreeMap<String, bool> {
    let flags = world.json(&["flags", "list", "--tenant", tenant])["flags"].clone();
    flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (format!("{}.{}", f["module"].as_str().unwrap(), f["flag"].as_str().unwrap()), f["value"].as_bool().unwrap()))
        .collect()
}

/// Module to whether it is enabled, as `status` shows it.
fn enabled_listed(world: &World, tenant: &str) -> BTreeMap<String, bool> {
    let status = world.json(&["status", "--tenant", tenant]);
    status["tenants"][0]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_string(), m["enabled"].as_bool().unwrap()))
        .collect()
}

/// Makes the tenant's database one that records neither when the tenant was added nor
/// its modules' enabled state and flags: a file as an older modreg wrote it, without
/// those tables; on PostgreSQL, where every tenant schema has had them, the tables
/// without their rows.
fn forget_the_records(world: &World, tenant: &str) {
    match world.tenants_url {
        Some(_) => world.sql(tenant, "DELETE FROM _modreg_tenant; DELETE FROM _modreg_enabled; DELETE FROM _modreg_flags;"),
        None => world.sql(tenant, "DROP TABLE _modreg_tenant; DROP TABLE _modreg_enabled; DROP TABLE _modreg_flags;"),
    }
}

fn world() -> World {
    let world = World::new();
    world.module("base", "base", "1.0.0").flag("audit", false).migration("V1__base", "CREATE TABLE base_t (x TEXT);").write();
    world
        .module("shop-1", "shop", "1.0.0")
        .dep("base", "^1")
        .flag("cart", true)
        .flag("coupons", false)
        .migration("V1__shop", "CREATE TABLE shop_t (x TEXT);")
        .write();
    world
        .module("shop-2", "shop", "2.0.0")
        .dep("base", "^1")
        .flag("cart", true)
        .flag("wishlist", true)
        .migration("V1__shop", "CREATE TABLE shop_t (x TEXT);")
        .migration("V2__shop", "CREATE TABLE shop_w (x TEXT);")
        .write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["install", "shop@=1.0.0", "--tenant", "acme", "--tenant", "globex"]);
    world
}

/// `doctor --json`, requiring `code`; the findings as (check, tenant, severity, fix).
fn doctor(world: &World, code: i32) -> Vec<(String, String, String, String)> {
    let run = world.run(&["doctor", "--json"]);
    run.exit(code);
    let field = |f: &Json, k: &str| f[k].as_str().unwrap_or("-").to_string();
    run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (field(f, "check"), field(f, "tenant"), field(f, "severity"), field(f, "fix")))
        .collect()
}

#[test]
fn installs_upgrades_toggles_and_flag_changes_are_written_to_the_tenant_file() {
    let world = world();
    let added = world.text("acme", "SELECT value FROM _modreg_tenant WHERE key = 'created_at'");
    assert_eq!(world.json(&["tenant", "list"])["tenants"][0]["created_at"].as_str(), Some(added.as_str()), "the landlord's time");
    assert_eq!(enabled_in_file(&world, "acme"), BTreeMap::from([("base".into(), true), ("shop".into(), true)]));
    assert_eq!(flags_in_file(&world, "acme"), flags_listed(&world, "acme"));
    assert_eq!(flags_in_file(&world, "acme").len(), 3);

    world.ok(&["flags", "set", "--tenant", "acme", "shop.coupons=true"]);
    world.ok(&["disable", "shop", "--tenant", "acme"]);
    assert!(!enabled_in_file(&world, "acme")["shop"]);
    assert!(flags_in_file(&world, "acme")["shop.coupons"]);
    // An upgrade keeps values, adds the new version's flags and drops those it lost, in
    // the file as in the landlord.
    world.ok(&["flags", "set", "--tenant", "acme", "shop.cart=false"]);
    world.ok(&["upgrade", "shop", "--tenant", "acme"]);
    let expected =
        BTreeMap::from([("base.audit".to_string(), false), ("shop.cart".to_string(), false), ("shop.wishlist".to_string(), true)]);
    assert_eq!(flags_in_file(&world, "acme"), expected);
    assert_eq!(flags_listed(&world, "acme"), expected);
    assert_eq!(enabled_in_file(&world, "acme"), enabled_listed(&world, "acme"));
    world.ok(&["enable", "shop", "--tenant", "acme"]);
    assert!(enabled_in_file(&world, "acme")["shop"]);
    // Uninstall forgets them; a restore brings the archived values back.
    world.ok(&["uninstall", "shop", "--tenant", "acme"]);
    assert!(!enabled_in_file(&world, "acme").contains_key("shop"));
    assert!(!flags_in_file(&world, "acme").keys().any(|k| k.starts_with("shop.")));
    world.ok(&["install", "shop", "--tenant", "acme", "--restore"]);
    assert_eq!(flags_in_file(&world, "acme"), expected);
    // A job that fails leaves neither side changed.
    world
        .module("bad", "bad", "1.0.0")
        .flag("f", true)
        .migration("V1__bad", "CREATE TABLE bad_t (x TEXT); SELECT no_such_function();")
        .write();
    world.run(&["install", "bad", "--tenant", "acme"]).code(1);
    assert!(!flags_in_file(&world, "acme").contains_key("bad.f") && !enabled_in_file(&world, "acme").contains_key("bad"));
    assert_eq!(doctor(&world, 0), []);
}

#[test]
fn a_flag_set_to_the_value_the_landlord_has_still_mends_the_file() {
    let world = world();
    world.sql("acme", "UPDATE _modreg_flags SET value = true WHERE module = 'shop' AND flag = 'coupons';");
    let found = doctor(&world, 1);
    assert_eq!(found.iter().map(|f| (f.0.as_str(), f.1.as_str(), f.2.as_str())).collect::<Vec<_>>(), [("tenant.flags", "acme", "error")]);
    assert!(found[0].3.contains("`modreg flags set --tenant acme shop.coupons=false`"), "{}", found[0].3);
    let run = world.ok(&["flags", "set", "--tenant", "acme", "shop.coupons=false"]);
    assert!(run.stderr.contains("Unchanged"), "the landlord had it: {}", run.stderr);
    assert!(!flags_in_file(&world, "acme")["shop.coupons"]);
    assert_eq!(doctor(&world, 0), []);
}

#[test]
fn an_enabled_state_that_differs_is_found_with_the_commands_that_mend_it() {
    let world = world();
    world.sql("globex", "UPDATE _modreg_enabled SET enabled = false WHERE module = 'shop';");
    let found = doctor(&world, 1);
    assert_eq!(found.iter().map(|f| (f.0.as_str(), f.1.as_str())).collect::<Vec<_>>(), [("tenant.enabled", "globex")]);
    assert!(found[0].3.contains("`modreg disable shop --tenant globex`"), "{}", found[0].3);
    world.ok(&["disable", "shop", "--tenant", "globex"]);
    assert_eq!(doctor(&world, 0), []);
}

#[test]
fn a_file_an_older_modreg_wrote_gets_its_state_from_the_landlord_on_the_next_command() {
    let world = world();
    world.ok(&["disable", "shop", "--tenant", "acme"]);
    world.ok(&["flags", "set", "--tenant", "acme", "base.audit=true"]);
    let (flags, enabled) = (flags_in_file(&world, "acme"), enabled_in_file(&world, "acme"));
    for tenant in ["acme", "globex"] {
        forget_the_records(&world, tenant);
    }
    let found = doctor(&world, 1);
    let unrecorded: Vec<(&str, &str)> = found.iter().map(|f| (f.0.as_str(), f.2.as_str())).collect();
    assert_eq!(unrecorded, [("tenant.unrecorded", "warning"), ("tenant.unrecorded", "warning")], "{found:?}");
    assert!(found[0].3.contains("`modreg recover`"));
    // Any command that works on the tenant fills the file in; `recover` does every one.
    world.ok(&["flags", "set", "--tenant", "globex", "shop.cart=false"]);
    assert_eq!(flags_in_file(&world, "globex"), flags_listed(&world, "globex"));
    let recover = world.run(&["recover", "--json"]);
    recover.code(0);
    assert_eq!(recover.json()["recorded"], serde_json::json!(["acme"]));
    assert_eq!((flags_in_file(&world, "acme"), enabled_in_file(&world, "acme")), (flags, enabled));
    assert_eq!(doctor(&world, 0), []);
}

#[test]
fn a_rebuild_from_a_file_an_older_modreg_wrote_assumes_its_state_and_says_so() {
    let mut world = world();
    world.ok(&["disable", "shop", "--tenant", "globex"]);
    world.ok(&["flags", "set", "--tenant", "globex", "shop.cart=false"]);
    world.ok(&["flags", "set", "--tenant", "acme", "shop.coupons=true"]);
    let acme = (enabled_listed(&world, "acme"), flags_listed(&world, "acme"));
    forget_the_records(&world, "globex");
    lose_the_landlord(&mut world);
    let run = world.run(&["doctor", "--rebuild-landlord", "--json"]);
    run.code(0);
    let assumed: Vec<(String, Json)> = run.json()["assumed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["tenant"].as_str().unwrap().to_string(), a["module"].clone()))
        .collect();
    assert_eq!(
        assumed,
        [("globex".to_string(), Json::Null), ("globex".into(), Json::from("base")), ("globex".into(), Json::from("shop"))],
        "{}",
        run.stdout
    );
    // acme is as it was; globex's shop comes back enabled, with its version's defaults.
    assert_eq!((enabled_listed(&world, "acme"), flags_listed(&world, "acme")), acme);
    assert!(enabled_listed(&world, "globex")["shop"]);
    assert!(flags_listed(&world, "globex")["shop.cart"]);
    // Once rebuilt, it has tenants: a second rebuild is refused.
    world.run(&["doctor", "--rebuild-landlord"]).code(2);
}

#[cfg(debug_assertions)]
#[test]
fn a_flags_set_killed_between_the_tenant_file_and_the_landlord_is_found_by_doctor() {
    let world = world();
    let killed = world.run_with(&["flags", "set", "--tenant", "acme", "shop.coupons=true"], &[("MODREG_FAULT_POINT", "flag-written")]);
    assert_eq!(killed.code, -1, "not killed: {}", killed.stderr);
    assert!(flags_in_file(&world, "acme")["shop.coupons"], "the file first");
    assert!(!flags_listed(&world, "acme")["shop.coupons"], "then the landlord, which the kill kept from it");
    let found = doctor(&world, 1);
    assert_eq!(found.iter().map(|f| (f.0.as_str(), f.1.as_str(), f.2.as_str())).collect::<Vec<_>>(), [("tenant.flags", "acme", "error")]);
    let fix = &found[0].3;
    assert!(fix.contains("`modreg flags set --tenant acme shop.coupons=true` sets both to the file's value"), "{fix}");
    assert!(fix.contains("`modreg flags set --tenant acme shop.coupons=false`"), "{fix}");
    world.ok(&["flags", "set", "--tenant", "acme", "shop.coupons=true"]);
    assert!(flags_listed(&world, "acme")["shop.coupons"]);
    assert_eq!(doctor(&world, 0), []);
}

#[cfg(debug_assertions)]
#[test]
fn a_disable_killed_after_the_tenant_file_is_completed_and_one_killed_before_it_rolled_back() {
    let world = world();
    let killed = world.run_with(&["disable", "shop", "--tenant", "acme"], &[("MODREG_FAULT_POINT", "tenant-committed")]);
    assert_eq!(killed.code, -1, "not killed: {}", killed.stderr);
    assert!(!enabled_in_file(&world, "acme")["shop"]);
    assert!(enabled_listed(&world, "acme")["shop"], "the landlord still has the job running");
    let found = doctor(&world, 1);
    assert!(found.iter().any(|f| f.0 == "tenant.enabled" && f.3.contains("`modreg recover`")), "{found:?}");
    world.ok(&["recover"]);
    assert!(!enabled_listed(&world, "acme")["shop"], "completed: its work had committed");
    assert_eq!(world.jobs().last().unwrap()["status"], "completed");

    let killed = world.run_with(&["disable", "shop", "--tenant", "globex"], &[("MODREG_FAULT_POINT", "jobs-started")]);
    assert_eq!(killed.code, -1, "not killed: {}", killed.stderr);
    world.ok(&["recover"]);
    assert_eq!((enabled_in_file(&world, "globex")["shop"], enabled_listed(&world, "globex")["shop"]), (true, true));
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
    assert_eq!(doctor(&world, 0), []);
}
