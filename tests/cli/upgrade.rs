use std::path::Path;

use serde_json::json;

use crate::support::{World, content};

/// membership 1.0.0 only, installed for acme with a member; then 1.1.0 is published.
fn membership_world() -> World {
    let world = World::new();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/modules/membership");
    let copy = |version: &str| {
        let status = std::process::Command::new("cp")
            .arg("-R")
            .arg(format!("{sample}/{version}"))
            .arg(world.modules().join(format!("membership-{version}")))
            .status()
            .unwrap();
        assert!(status.success());
    };
    copy("1.0.0");
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "membership", "--tenant", "acme"]);
    world.sql("acme", "INSERT INTO members (email, first_name, last_name, membership_type_id) VALUES ('ada@example.org', 'Ada', 'L', 1);");
    world.ok(&["flags", "set", "--tenant", "acme", "membership.self_signup=false"]);
    copy("1.1.0");
    world
}

/// A module's applied migrations for acme, in order: its history table on SQLite, its
/// rows of the tenant's one `_modreg_history` on PostgreSQL.
fn history(world: &World, module: &str) -> Vec<String> {
    if world.tenants_url.is_some() {
        let sql = "SELECT name::text FROM _modreg_history WHERE module = $1 ORDER BY version";
        return world.tenant_client("acme").query(sql, &[&module]).unwrap().iter().map(|r| r.get(0)).collect();
    }
    world
        .tenant_db("acme")
        .prepare(&format!("SELECT name FROM _modreg_history_{module} ORDER BY version"))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// When acme applied membership's V1.
fn v1_applied_on(world: &World) -> String {
    let table =
        if world.tenants_url.is_some() { "_modreg_history WHERE module = 'membership' AND" } else { "_modreg_history_membership WHERE" };
    world.text("acme", &format!("SELECT applied_on FROM {table} version = 1"))
}

/// Writes migration `file` of the module folder `dir` for every engine the world's
/// tenants are on.
fn write_migration(world: &World, dir: &Path, file: &str, sql: &str) {
    std::fs::write(dir.join("migrations").join(file), sql).unwrap();
    if world.tenants_url.is_some() {
        std::fs::write(dir.join("migrations/postgres").join(file), sql).unwrap();
    }
}

/// How many pre-upgrade copies acme has kept: files in `copies/acme`, or copy schemas
/// on PostgreSQL.
fn copies(world: &World) -> usize {
    if world.tenants_url.is_some() {
        return world.kept_schemas("acme", "c").len();
    }
    std::fs::read_dir(world.data().join("copies/acme")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn upgrade_keeps_rows_applies_only_new_migrations_and_merges_flags() {
    let world = membership_world();
    let applied_before = v1_applied_on(&world);
    let report = world.json(&["upgrade", "membership", "--tenant", "acme"]);
    assert_eq!(report["plan"][0]["action"], "upgrade");
    assert_eq!((report["plan"][0]["from_version"].as_str(), report["plan"][0]["to_version"].as_str()), (Some("1.0.0"), Some("1.1.0")));
    assert_eq!(report["jobs"][0]["kind"], "upgrade");
    assert_eq!(history(&world, "membership"), ["membership_types", "members", "member_notes_and_phone"]);
    let applied_after = v1_applied_on(&world);
    assert_eq!(applied_before, applied_after, "V1 ran again");
    assert_eq!(world.count("acme", "members"), 1);
    assert_eq!(world.count("acme", "membership_types"), 4, "seeds ran again on upgrade");
    assert!(world.has_object("acme", "member_notes"));
    let flags: Vec<(String, bool)> = world.json(&["flags", "list", "--tenant", "acme"])["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["flag"].as_str().unwrap().to_string(), f["value"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, [("member_directory".into(), false), ("member_notes".into(), true), ("self_signup".into(), false)]);
    let steps = world.json(&["jobs", "show", &report["jobs"][0]["id"].to_string()])["job"]["steps"].clone();
    let hook = steps.as_array().unwrap().iter().find(|s| s["name"] == "post_upgrade hook").cloned().expect("post_upgrade hook ran");
    assert!(hook["output"].as_str().unwrap().contains("1.0.0"), "MODREG_FROM_VERSION not passed: {hook}");
    let events = world.ok(&["events"]).stdout;
    assert!(
        events.contains("\"type\":\"module.upgraded\",\"tenant\":\"acme\",\"module\":\"membership\",\"version\":\"1.1.0\""),
        "{events}"
    );
    // Current: nothing to do.
    let again = world.json(&["upgrade", "membership", "--tenant", "acme"]);
    assert_eq!(again["summary"], json!({"completed": 0, "failed": 0, "unchanged": 1}));
}

#[test]
fn downgrades_unknown_targets_and_modules_not_installed_are_refused() {
    let world = membership_world();
    world.ok(&["upgrade", "membership", "--tenant", "acme"]);
    let run = world.run(&["upgrade", "membership", "--tenant", "acme", "--to", "1.0.0", "--json"]);
    run.code(2);
    assert!(run.error()["message"].as_str().unwrap().contains("would be a downgrade"));
    world.run(&["upgrade", "membership", "--tenant", "acme", "--to", "9.0.0"]).code(3);
    world.run(&["upgrade", "membership", "--tenant", "acme", "--to", "banana"]).code(2);
    world.run(&["upgrade", "ghost", "--tenant", "acme"]).code(3);
    world.module("other", "other", "1.0.0").migration("V1__o", "CREATE TABLE other_t (x TEXT);").write();
    let run = world.run(&["upgrade", "other", "--tenant", "acme", "--json"]);
    run.code(3);
    assert!(run.error()["message"].as_str().unwrap().contains("not installed"));
}

#[test]
fn a_dependents_requirement_blocks_an_upgrade() {
    let world = membership_world();
    world.module("pinned", "pinned", "1.0.0").dep("membership", "~1.0").migration("V1__p", "CREATE TABLE pinned_t (x TEXT);").write();
    world.ok(&["install", "pinned", "--tenant", "acme"]);
    let before = world.dump("acme");
    let run = world.run(&["upgrade", "membership", "--tenant", "acme", "--json"]);
    run.code(4);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(message.contains("no version of `membership` newer than 1.0.0 satisfies every requirement"), "{message}");
    assert!(message.contains("`~1.0` from `pinned 1.0.0` (installed)"), "{message}");
    assert_eq!(world.dump("acme"), before);
}

#[test]
fn an_upgrade_brings_what_the_new_version_needs() {
    let world = World::new();
    world.module("base/1.0.0", "base", "1.0.0").migration("V1__b", "CREATE TABLE base_t (x TEXT);").write();
    world.module("app/1.0.0", "app", "1.0.0").dep("base", "^1").migration("V1__a", "CREATE TABLE app_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "app", "--tenant", "acme"]);
    world
        .module("base/1.2.0", "base", "1.2.0")
        .migration("V1__b", "CREATE TABLE base_t (x TEXT);")
        .migration("V2__b", "CREATE TABLE base_more (x TEXT);")
        .write();
    world.module("audit", "audit", "1.0.0").migration("V1__au", "CREATE TABLE audit_t (x TEXT);").write();
    world
        .module("app/2.0.0", "app", "2.0.0")
        .dep("base", "^1.2")
        .dep("audit", "^1")
        .migration("V1__a", "CREATE TABLE app_t (x TEXT);")
        .migration("V2__a", "CREATE TABLE app_more (x TEXT);")
        .write();
    let report = world.json(&["upgrade", "app", "--tenant", "acme"]);
    let plan: Vec<(String, String)> = report["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["module"].as_str().unwrap().into(), p["action"].as_str().unwrap().into()))
        .collect();
    assert_eq!(plan, [("audit".into(), "install".into()), ("base".into(), "upgrade".into()), ("app".into(), "upgrade".into())]);
    assert_eq!(
        world.installed("acme"),
        [("app".into(), "2.0.0".into()), ("audit".into(), "1.0.0".into()), ("base".into(), "1.2.0".into())].into()
    );
}

#[test]
fn a_published_version_cannot_change() {
    let world = membership_world();
    let manifest = world.modules().join("membership-1.0.0/migrations/V2__members.sql");
    let original = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{original}\n-- an innocent comment\n")).unwrap();
    let run = world.run(&["upgrade", "membership", "--tenant", "acme", "--to", "1.1.0", "--json"]);
    run.code(0);
    // The changed 1.0.0 is not used by that upgrade; installing it anywhere is refused.
    world.ok(&["tenant", "add", "globex"]);
    let run = world.run(&["install", "membership@=1.0.0", "--tenant", "globex", "--json"]);
    run.code(2);
    assert!(run.error()["message"].as_str().unwrap().contains("`membership 1.0.0` has changed since it was published"));
    assert!(run.error()["hint"].as_str().unwrap().contains("new version number"));
    assert!(world.installed("globex").is_empty());
}

#[test]
fn a_new_version_that_changes_an_applied_migration_is_refused() {
    let world = membership_world();
    write_migration(
        &world,
        &world.modules().join("membership-1.1.0"),
        "V2__members.sql",
        "CREATE TABLE members (id INTEGER PRIMARY KEY);\n",
    );
    let before = world.dump("acme");
    let run = world.run(&["upgrade", "membership", "--tenant", "acme", "--json"]);
    run.code(2);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(message.contains("migration `V2__members` of `membership` has changed since it was applied"), "{message}");
    assert_eq!(world.dump("acme"), before);
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
}

#[test]
fn a_failing_upgrade_leaves_the_tenant_as_it_was() {
    let world = membership_world();
    write_migration(
        &world,
        &world.modules().join("membership-1.1.0"),
        "V3__member_notes_and_phone.sql",
        "ALTER TABLE members ADD COLUMN phone TEXT;\nDELETE FROM members;\nCREATE TABLE broken (x REFERENCES);\n",
    );
    let before = world.dump("acme");
    let run = world.run(&["upgrade", "membership", "--tenant", "acme", "--json"]);
    run.code(1);
    assert_eq!(world.dump("acme"), before);
    assert_eq!(world.installed("acme")["membership"], "1.0.0");
    let last = world.jobs().last().unwrap().clone();
    assert_eq!((last["kind"].as_str(), last["status"].as_str()), (Some("upgrade"), Some("rolled_back")));
    assert!(world.ok(&["events"]).stdout.contains("module.upgrade_failed"));
    assert_eq!(copies(&world), 0, "a rolled-back upgrade kept its copy");
}

#[test]
fn revert_brings_back_the_tables_rows_version_and_flags() {
    let world = membership_world();
    let before = world.dump("acme");
    let upgrade = world.json(&["upgrade", "membership", "--tenant", "acme"]);
    let job = upgrade["jobs"][0]["id"].to_string();
    world.sql("acme", "INSERT INTO member_notes (member_id, author, body) VALUES (1, 'staff', 'lost by the revert');");
    world.ok(&["flags", "set", "--tenant", "acme", "membership.member_directory=true"]);

    let unconfirmed = world.run(&["revert", &job, "--json"]);
    unconfirmed.code(2);
    assert!(unconfirmed.error()["message"].as_str().unwrap().contains("--yes"));
    let report = world.json(&["revert", &job, "--yes"]);
    assert_eq!(report["jobs"][0]["kind"], "revert");
    assert_eq!(report["jobs"][0]["to_version"], "1.0.0");
    assert_eq!(world.installed("acme")["membership"], "1.0.0");
    assert_eq!(content(&world.dump("acme")), content(&before));
    let flags = world.json(&["flags", "list", "--tenant", "acme"]);
    assert_eq!(flags["flags"].as_array().unwrap().len(), 2);
    assert_eq!(flags["flags"][1]["value"], false, "self_signup as it was before the upgrade");
    // Upgrading again works and applies V3 once more.
    world.ok(&["upgrade", "membership", "--tenant", "acme"]);
    assert_eq!(history(&world, "membership").len(), 3);
}

/// Publishes membership 1.2.0: 1.1.0 plus one more migration.
fn publish_1_2(world: &World) {
    let from = world.modules().join("membership-1.1.0");
    let to = world.modules().join("membership-1.2.0");
    let status = std::process::Command::new("cp").arg("-R").arg(&from).arg(&to).status().unwrap();
    assert!(status.success());
    let manifest = to.join("module.toml");
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap().replace("version = \"1.1.0\"", "version = \"1.2.0\"")).unwrap();
    write_migration(world, &to, "V4__member_tags.sql", "CREATE TABLE member_tags (member_id INTEGER, tag TEXT);\n");
}

#[test]
fn revert_says_clearly_when_it_cannot() {
    let world = membership_world();
    world.run(&["revert", "1", "--yes"]).code(2); // an install, not an upgrade
    world.run(&["revert", "999", "--yes"]).code(3);
    let keep_one = [("MODREG_KEEP_UPGRADE_COPIES", "1")];
    let first = world.run_with(&["upgrade", "membership", "--tenant", "acme", "--json"], &keep_one).json()["jobs"][0]["id"].to_string();
    publish_1_2(&world);
    let second = world.run_with(&["upgrade", "membership", "--tenant", "acme", "--json"], &keep_one).json()["jobs"][0]["id"].to_string();
    assert_eq!(copies(&world), 1, "older copies are pruned");
    let run = world.run(&["revert", &first, "--yes", "--json"]);
    run.code(3);
    assert!(run.error()["message"].as_str().unwrap().contains("no longer kept"), "{}", run.stdout);
    world.ok(&["revert", &second, "--yes"]);
    assert_eq!(world.installed("acme")["membership"], "1.1.0");

    let world = membership_world();
    let first = world.json(&["upgrade", "membership", "--tenant", "acme"])["jobs"][0]["id"].to_string();
    publish_1_2(&world);
    world.ok(&["upgrade", "membership", "--tenant", "acme"]);
    let run = world.run(&["revert", &first, "--yes", "--json"]);
    run.code(2);
    assert!(run.error()["message"].as_str().unwrap().contains("a later job changed it"), "{}", run.stdout);

    let world = membership_world();
    let id =
        world.run_with(&["upgrade", "membership", "--tenant", "acme", "--json"], &[("MODREG_KEEP_UPGRADE_COPIES", "0")]).json()["jobs"][0]
            ["id"]
            .to_string();
    let run = world.run(&["revert", &id, "--yes", "--json"]);
    run.code(3);
    assert!(run.error()["message"].as_str().unwrap().contains("kept no pre-upgrade copy"));
}

#[test]
fn deprecated_versions_warn_and_sunset_stops_new_installs() {
    let world = World::new();
    world.module("chat", "chat", "1.0.0").migration("V1__c", "CREATE TABLE chat_t (x TEXT);").write();
    world
        .module("old_news", "old_news", "0.9.0")
        .migration("V1__n", "CREATE TABLE old_news_t (x TEXT);")
        .toml("[deprecation]\nmessage = \"Use chat instead\"\nreplacement = \"chat\"\nsunset = \"2999-01-01\"")
        .write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    let run = world.ok_warning(&["install", "old_news", "--tenant", "acme"], "is deprecated");
    assert!(
        run.stderr.contains("warning: `old_news 0.9.0` is deprecated: Use chat instead; replacement: chat; sunset 2999-01-01"),
        "{}",
        run.stderr
    );
    let status = world.json(&["status", "--tenant", "acme"]);
    assert_eq!(status["tenants"][0]["modules"][0]["deprecated"], true);
    // The sunset passes.
    world
        .module("old_news", "old_news", "0.9.0")
        .migration("V1__n", "CREATE TABLE old_news_t (x TEXT);")
        .toml("[deprecation]\nmessage = \"Use chat instead\"\nreplacement = \"chat\"\nsunset = \"2001-01-01\"")
        .write();
    std::fs::rename(world.modules().join("old_news"), world.modules().join("old_news-0.9.1")).unwrap();
    let manifest = world.modules().join("old_news-0.9.1/module.toml");
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap().replace("0.9.0", "0.9.1")).unwrap();
    let run = world.run(&["install", "old_news", "--tenant", "globex", "--json"]);
    run.code(4);
    assert!(run.error()["message"].as_str().unwrap().contains("was retired on 2001-01-01"), "{}", run.stdout);
    assert!(run.error()["hint"].as_str().unwrap().contains("install `chat` instead"));
    // What acme has still uninstalls.
    world.ok(&["uninstall", "old_news", "--tenant", "acme"]);
}
