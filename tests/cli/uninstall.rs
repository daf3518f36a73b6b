use serde_json::json;

use crate::support::{World, content};

fn finance_world() -> World {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["subscription", "grant", "--tenant", "acme", "finance"]);
    world.ok(&["install", "finance", "elections", "--tenant", "acme"]);
    world.sql(
        "acme",
        "INSERT INTO members (email, first_name, last_name, membership_type_id) VALUES ('ada@example.org', 'Ada', 'L', 1);\n\
         INSERT INTO invoices (number, member_id, amount_cents, currency, due_on) VALUES ('INV-1', 1, 12000, 'EUR', '2026-12-31');",
    );
    world
}

#[test]
fn dependents_block_an_uninstall_unless_cascade() {
    let world = finance_world();
    let before = world.dump("acme");
    let run = world.run(&["uninstall", "membership", "--tenant", "acme", "--json"]);
    run.code(4);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert_eq!(message, "cannot uninstall `membership` from `acme`: `digital_card`, `elections`, `finance` depend on it");
    assert_eq!(world.dump("acme"), before);

    let report = world.json(&["uninstall", "membership", "--tenant", "acme", "--cascade", "--purge"]);
    let order: Vec<&str> = report["plan"].as_array().unwrap().iter().map(|p| p["module"].as_str().unwrap()).collect();
    assert_eq!(order, ["finance", "elections", "digital_card", "membership"]);
    assert_eq!(report["summary"]["completed"], 4);
    let left: Vec<String> = world.objects("acme").into_iter().filter(|o| !o.starts_with("_modreg_") && !o.starts_with("sqlite_")).collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(world.installed("acme").is_empty());
    assert_eq!(world.json(&["flags", "list", "--tenant", "acme"])["flags"], json!([]));
    let history = match world.tenants_url {
        Some(_) => "SELECT count(*) FROM _modreg_history",
        None => "SELECT count(*) FROM sqlite_schema WHERE name LIKE '_modreg_history_%'",
    };
    assert_eq!(world.int("acme", history), 0);
}

#[test]
fn uninstall_archives_and_restore_brings_rows_and_flags_back() {
    let world = finance_world();
    world.ok(&["flags", "set", "--tenant", "acme", "finance.recurring_billing=true"]);
    let before = world.dump("acme");
    let report = world.json(&["uninstall", "finance", "--tenant", "acme"]);
    assert_eq!(report["jobs"][0]["status"], "completed");
    assert!(!world.has_object("acme", "invoices"));
    let archived = match world.tenants_url {
        Some(_) => {
            let archives = world.kept_schemas("acme", "a");
            assert_eq!(archives.len(), 1);
            world.text("acme", &format!("SELECT number FROM \"{}\".invoices", archives[0]))
        }
        None => {
            let archives: Vec<_> = std::fs::read_dir(world.data().join("archive/acme")).unwrap().map(|e| e.unwrap().path()).collect();
            assert_eq!(archives.len(), 1);
            rusqlite::Connection::open(&archives[0]).unwrap().query_row("SELECT number FROM invoices", [], |r| r.get(0)).unwrap()
        }
    };
    assert_eq!(archived, "INV-1");

    let restored = world.json(&["install", "finance", "--tenant", "acme", "--restore"]);
    assert_eq!(restored["plan"][0]["action"], "restore");
    assert_eq!(world.count("acme", "invoices"), 1);
    let flag = world.json(&["flags", "list", "--tenant", "acme", "finance"])["flags"][1].clone();
    assert_eq!((flag["flag"].as_str(), flag["value"].as_bool()), (Some("recurring_billing"), Some(true)));
    // Logically as before, modreg's own bookkeeping rows aside (they record the new jobs).
    assert_eq!(content(&world.dump("acme")), content(&before));
    world.sql(
        "acme",
        "INSERT INTO invoices (number, member_id, amount_cents, currency, due_on) VALUES ('INV-2', 1, 1, 'EUR', '2027-01-31');",
    );
    assert_eq!(world.int("acme", "SELECT id FROM invoices WHERE number = 'INV-2'"), 2, "the numbering continues where it was");
}

#[test]
fn purge_keeps_no_archive_and_restore_without_one_is_not_found() {
    let world = finance_world();
    world.ok(&["uninstall", "finance", "--tenant", "acme", "--purge"]);
    assert!(!world.data().join("archive/acme").exists());
    assert!(world.kept_schemas("acme", "a").is_empty());
    assert!(!world.has_object("acme", "invoices"));
    let run = world.run(&["install", "finance", "--tenant", "acme", "--restore", "--json"]);
    run.code(3);
    assert!(run.error()["message"].as_str().unwrap().contains("no archive of `finance`"));
}

#[test]
fn uninstall_works_when_the_module_folder_is_gone() {
    let world = finance_world();
    std::fs::remove_dir_all(world.modules().join("elections")).unwrap();
    let report = world.json(&["uninstall", "elections", "--tenant", "acme"]);
    assert_eq!(report["jobs"][0]["status"], "completed");
    assert!(!world.has_object("acme", "ballots") && !world.has_object("acme", "election_results"));
    let steps = world.json(&["jobs", "show", &report["jobs"][0]["id"].to_string()])["job"]["steps"].clone();
    let names: Vec<&str> = steps.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"archive") && names.contains(&"remove objects"), "{names:?}");
}

#[test]
fn uninstalling_what_is_not_installed_does_nothing() {
    let world = finance_world();
    let before = world.dump("acme");
    let report = world.json(&["uninstall", "forum", "--tenant", "acme"]);
    assert_eq!(report["summary"], json!({"completed": 0, "failed": 0, "unchanged": 1}));
    assert_eq!(world.dump("acme"), before);
}

#[test]
fn a_failing_uninstall_hook_restores_the_module_and_deletes_its_archive() {
    let world = World::new();
    world
        .module("a", "a", "1.0.0")
        .migration("V1__a", "CREATE TABLE a_t (x TEXT);\nINSERT INTO a_t VALUES (1);")
        .hook("post_uninstall", "exit 4")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    let before = world.dump("acme");
    world.run(&["uninstall", "a", "--tenant", "acme"]).code(1);
    assert_eq!(world.dump("acme"), before);
    let kept = world.data().join("archive/acme");
    assert!(!kept.exists() || std::fs::read_dir(&kept).unwrap().next().is_none(), "an archive of a rolled-back uninstall was kept");
    assert!(world.kept_schemas("acme", "a").is_empty(), "an archive of a rolled-back uninstall was kept");
    assert_eq!(world.installed("acme").len(), 1);
}

#[test]
fn status_and_uninstall_work_without_any_modules_folder() {
    let world = finance_world();
    std::fs::remove_dir_all(world.modules()).unwrap();
    let status = world.ok_warning(&["status", "--tenant", "acme", "--json"], "the modules folder").json();
    assert_eq!(status["tenants"][0]["modules"].as_array().unwrap().len(), 4);
    let run = world.run(&["install", "forum", "--tenant", "acme", "--json"]);
    run.code(3);
    assert!(run.error()["hint"].as_str().unwrap().contains("modules folder does not exist"));
    let report = world.ok_warning(&["uninstall", "membership", "--tenant", "acme", "--cascade", "--json"], "the modules folder").json();
    assert_eq!(report["summary"]["completed"], 4);
    let status = world.ok_warning(&["status", "--tenant", "acme", "--json"], "the modules folder").json();
    assert_eq!(status["tenants"][0]["modules"], serde_json::json!([]));
}

#[test]
fn restore_works_from_the_landlords_copy_when_the_folder_is_gone() {
    let world = finance_world();
    world.ok(&["uninstall", "elections", "--tenant", "acme"]);
    std::fs::remove_dir_all(world.modules().join("elections")).unwrap();
    world.run(&["install", "elections", "--tenant", "acme"]).code(3);
    let report = world.json(&["install", "elections", "--tenant", "acme", "--restore"]);
    assert_eq!(report["plan"][0]["action"], "restore");
    assert!(world.has_object("acme", "ballots") && world.has_object("acme", "election_results"));
}
