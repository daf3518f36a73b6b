use crate::support::{World, event_types};

#[test]
fn tenants_are_added_listed_and_adding_again_changes_nothing() {
    let world = World::new();
    let run = world.run(&["tenant", "add", "acme", "globex", "--json"]);
    run.code(0);
    assert_eq!(run.json()["added"], serde_json::json!(["acme", "globex"]));
    assert!(world.has_tenant_db("acme") && world.has_tenant_db("globex"));
    let again = world.json(&["tenant", "add", "acme"]);
    assert_eq!(again["existing"], serde_json::json!(["acme"]));
    let list = world.json(&["tenant", "list"]);
    let tenants = list["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2);
    assert_eq!(tenants[0]["name"], "acme");
    assert_eq!(tenants[0]["modules"], 0);
    assert!(tenants[0]["created_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn bad_tenant_names_are_refused_before_anything_is_written() {
    let long = "a".repeat(80);
    for bad in ["../x", "A", "a/b", long.as_str(), "-x", "a b", ""] {
        let world = World::new();
        let run = world.run(&["tenant", "add", "ok", bad, "--json"]);
        run.code(2);
        assert_eq!(run.error()["kind"], "invalid", "{bad}");
        assert!(!world.data().exists(), "`{bad}`: the data folder was created");
        assert!(!world.path().join("x.db").exists());
    }
}

#[test]
fn bad_names_are_refused_by_every_command_that_takes_one() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    let before = world.dump("acme");
    for args in [
        vec!["install", "finance", "--tenant", "../acme"],
        vec!["install", "Finance", "--tenant", "acme"],
        vec!["uninstall", "../x", "--tenant", "acme"],
        vec!["upgrade", "finance", "--tenant", "A"],
        vec!["flags", "list", "--tenant", "a/b"],
        vec!["check", "--tenant", "acme", "fin-ance"],
        vec!["tenant", "remove", "../acme"],
    ] {
        let run = world.run(&args);
        run.code(2);
        assert!(run.stderr.contains("invalid"), "{args:?}: {}", run.stderr);
    }
    assert_eq!(world.dump("acme"), before);
}

#[test]
fn removing_a_tenant_archives_its_file_unless_purged() {
    let world = World::new();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.sql("acme", "CREATE TABLE app_notes (x TEXT); INSERT INTO app_notes VALUES ('kept');");
    let report = world.json(&["tenant", "remove", "acme"]);
    let archive = report["removed"][0]["archive"].as_str().unwrap().to_string();
    assert!(!world.has_tenant_db("acme"));
    let note: String = match &world.tenants_url {
        None => rusqlite::Connection::open(&archive).unwrap().query_row("SELECT x FROM app_notes", [], |r| r.get(0)).unwrap(),
        // The archive is the tenant's schema, renamed.
        Some(url) => postgres::Client::connect(url, postgres::NoTls)
            .unwrap()
            .query_one(&format!("SELECT x FROM \"{archive}\".app_notes"), &[])
            .unwrap()
            .get(0),
    };
    assert_eq!(note, "kept");
    let purged = world.json(&["tenant", "remove", "globex", "--purge"]);
    assert!(purged["removed"][0]["archive"].is_null());
    assert!(!world.has_tenant_db("globex"));
    assert_eq!(world.json(&["tenant", "list"])["tenants"], serde_json::json!([]));
    let events = event_types(&world.events(None));
    assert_eq!(events, ["tenant.added", "tenant.added", "tenant.removed", "tenant.removed"]);
}

#[test]
fn removing_an_unknown_tenant_is_not_found_and_removes_nothing() {
    let world = World::new();
    world.ok(&["tenant", "add", "acme"]);
    let run = world.run(&["tenant", "remove", "acme", "ghost", "--json"]);
    run.code(3);
    assert_eq!(run.error()["kind"], "not_found");
    assert!(world.has_tenant_db("acme"));
}

#[test]
fn a_stray_tenant_file_is_not_adopted_silently() {
    let world = World::new();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["tenant", "remove", "acme", "--purge"]);
    match &world.tenants_url {
        None => {
            std::fs::create_dir_all(world.data().join("tenants")).unwrap();
            std::fs::write(world.tenant_path("stray"), b"").unwrap();
        }
        Some(url) => {
            // The schema of a tenant that another landlord added to the same database.
            let other = World { dir: tempfile::tempdir().unwrap(), landlord_url: None, tenants_url: Some(url.clone()) };
            other.ok(&["tenant", "add", "stray"]);
        }
    }
    let run = world.run(&["tenant", "add", "stray"]);
    run.code(2);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
}
