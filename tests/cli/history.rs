//! `modreg history`: every version a tenant had of its modules, with the job and actor
//! of each change, after install, upgrade, uninstall and restore.

use serde_json::{Value, json};

use crate::support::{World, same_width};

macro_rules! snapshot {
    ($world:expr, $name:expr, $text:expr) => {{
        crate::support::world_snapshot_settings(&$world).bind(|| insta::assert_snapshot!(format!("cli__history__{}", $name), $text));
    }};
}

fn forum(world: &World, folder: &str, version: &str, more: &[(&str, &str)]) {
    let mut module = world
        .module(folder, "forum", version)
        .migration("V1__posts", "CREATE TABLE forum_posts (id INTEGER PRIMARY KEY, body TEXT);")
        .seed("posts.sql", "INSERT INTO forum_posts (id, body) VALUES (1, 'a'), (2, 'b'), (3, 'c');")
        .flag("threads", true);
    for (name, sql) in more {
        module = module.migration(name, sql);
    }
    module.write();
}

/// forum 1.0.0 and wiki 1.0.0; tenants `acme` and `globex`.
fn world() -> World {
    let world = World::new();
    forum(&world, "forum", "1.0.0", &[]);
    world.module("wiki", "wiki", "1.0.0").migration("V1__pages", "CREATE TABLE wiki_pages (id INTEGER PRIMARY KEY);").write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world
}

fn as_actor(world: &World, actor: &str, args: &[&str]) {
    world.run_with(args, &[("MODREG_ACTOR", actor)]).code(0);
}

fn text(value: &Value) -> Option<&str> {
    value.as_str()
}

#[test]
fn history_shows_every_version_a_tenant_had_with_its_job_and_actor() {
    let world = world();
    world.ok(&["install", "forum", "wiki", "--tenant", "acme"]);
    forum(&world, "forum-1.1", "1.1.0", &[("V2__tags", "CREATE TABLE forum_tags (id INTEGER PRIMARY KEY);")]);
    as_actor(&world, "alice", &["upgrade", "forum", "--tenant", "acme"]);
    // A failed upgrade is rolled back: the tenant never had 1.2.0.
    forum(
        &world,
        "forum-1.2",
        "1.2.0",
        &[("V2__tags", "CREATE TABLE forum_tags (id INTEGER PRIMARY KEY);"), ("V3__bad", "INSERT INTO nowhere VALUES (1);")],
    );
    world.run(&["upgrade", "forum", "--tenant", "acme"]).code(1);
    std::fs::remove_dir_all(world.modules().join("forum-1.2")).unwrap();
    as_actor(&world, "bob", &["uninstall", "forum", "--tenant", "acme"]);
    world.ok(&["install", "forum", "--restore", "--tenant", "acme"]);

    let report = world.json(&["history", "--tenant", "acme", "forum"]);
    assert_eq!(report["tenant"], "acme");
    let rows = report["history"].as_array().unwrap();
    let seen: Vec<[Option<&str>; 4]> =
        rows.iter().map(|r| [text(&r["change"]), text(&r["from_version"]), text(&r["to_version"]), text(&r["actor"])]).collect();
    assert_eq!(
        seen,
        [
            [Some("install"), None, Some("1.0.0"), Some("tester")],
            [Some("upgrade"), Some("1.0.0"), Some("1.1.0"), Some("alice")],
            [Some("uninstall"), Some("1.1.0"), None, Some("bob")],
            [Some("restore"), None, Some("1.1.0"), Some("tester")],
        ]
    );
    // Each row names the job that made the change, as the audit trail has it.
    for row in rows {
        let job = world.json(&["jobs", "show", &row["job_id"].to_string()])["job"].clone();
        assert_eq!((&job["tenant"], &job["module"], &job["status"]), (&json!("acme"), &json!("forum"), &json!("completed")));
        assert_eq!((&job["actor"], &job["batch"], &job["finished_at"]), (&row["actor"], &row["batch"], &row["at"]));
        let kind = if row["change"] == "restore" { "install" } else { row["change"].as_str().unwrap() };
        assert_eq!(job["kind"], kind);
    }
    let failed: Vec<Value> = world.jobs().into_iter().filter(|j| j["status"] == "rolled_back").collect();
    assert_eq!(failed.len(), 1);
    assert!(rows.iter().all(|r| r["job_id"] != failed[0]["id"]));

    // Without a module: every module's, oldest first.
    let all = world.json(&["history", "--tenant", "acme"])["history"].as_array().cloned().unwrap();
    assert_eq!(all.len(), 5);
    let wiki: Vec<&Value> = all.iter().filter(|r| r["module"] == "wiki").collect();
    assert_eq!((wiki.len(), &wiki[0]["change"], &wiki[0]["to_version"]), (1, &json!("install"), &json!("1.0.0")));
    let times: Vec<&str> = all.iter().map(|r| r["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(world.json(&["history", "--tenant", "globex"])["history"], json!([]), "a tenant with no modules yet has no history");

    let human = world.ok(&["history", "--tenant", "acme", "forum"]).stdout;
    let at: Vec<&str> = rows.iter().map(|r| r["at"].as_str().unwrap()).collect();
    snapshot!(world, "human_history", same_width(&human, &at, "[time]"));
}

#[test]
fn history_of_an_unknown_tenant_or_of_a_module_it_never_had_is_not_found() {
    let world = world();
    world.ok(&["install", "forum", "--tenant", "acme"]);
    let typo = world.run(&["history", "--tenant", "acmee", "--json"]);
    typo.code(3);
    assert_eq!(typo.error()["message"], "tenant `acmee` does not exist");
    assert!(typo.error()["hint"].as_str().unwrap().contains("`acme`"), "{}", typo.stdout);
    let never = |module: &str, tenant: &str| {
        let run = world.run(&["history", "--tenant", tenant, module, "--json"]);
        run.code(3);
        assert_eq!(run.error()["message"], format!("tenant `{tenant}` never had module `{module}`"));
        run.error()["hint"].as_str().unwrap().to_string()
    };
    assert_eq!(never("froum", "acme"), "it had a module with a similar name: `forum`");
    assert_eq!(never("wiki", "acme"), "run `modreg history --tenant acme` to see every module it had");
    assert_eq!(never("forum", "globex"), "tenant `globex` has had no module yet");
    world.run(&["history", "--tenant", "Not A Name"]).code(2);
    world.run(&["history", "--tenant", "acme", "Forum"]).code(2);

    // The history outlives the tenant.
    world.ok(&["tenant", "remove", "acme"]);
    let kept = world.json(&["history", "--tenant", "acme"])["history"].clone();
    assert_eq!(kept.as_array().unwrap().len(), 1);
    assert_eq!((&kept[0]["change"], &kept[0]["to_version"]), (&json!("install"), &json!("1.0.0")));
}
