//! The sample catalog's life on PostgreSQL tenants, every command a user would run: add
//! tenants, install with dependencies, upgrade, revert, uninstall to an archive and
//! restore it, look at what tenants have, check and back up, and serve the same over
//! HTTP.

use crate::support::World;
use crate::world;

fn column_exists(world: &World, tenant: &str, table: &str, column: &str) -> bool {
    let rows = world
        .tenant_client(tenant)
        .query(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3",
            &[&tenant, &table, &column],
        )
        .unwrap();
    !rows.is_empty()
}

#[test]
fn the_sample_catalog_lives_its_whole_life_on_postgresql_schemas() {
    let Some(world) = world(true) else { return };
    world.ok(&["validate"]);
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["subscription", "grant", "--tenant", "acme", "finance"]);
    world.ok(&["subscription", "grant", "--tenant", "globex", "finance"]);
    world.ok(&["install", "membership@=1.0.0", "--all-tenants"]);
    world.ok_warning(&["install", "finance", "elections", "forum", "messaging", "newsletter", "--all-tenants"], "is deprecated");
    let installed = world.installed("acme");
    assert_eq!(installed.len(), 7, "{installed:?}");
    assert_eq!(installed["membership"], "1.0.0", "what the tenant has still fits");
    assert_eq!(world.count("acme", "membership_types"), 4, "the seeds ran");
    assert_eq!(world.count("acme", "tax_rates"), 4);
    // The application's view of a tenant: its schema, by search_path.
    world.sql("acme", "INSERT INTO members (email, first_name, last_name) VALUES ('ada@example.com', 'Ada', 'Lovelace')");
    assert_eq!(world.count("globex", "members"), 0, "tenants share no tables");

    world.ok(&["upgrade", "membership", "--all-tenants"]);
    assert_eq!(world.installed("acme")["membership"], "1.1.0");
    assert!(column_exists(&world, "acme", "members", "phone"));
    assert_eq!(world.count("acme", "members"), 1, "the rows stay through the upgrade");
    let upgrade = world.jobs().into_iter().rev().find(|j| j["kind"] == "upgrade" && j["tenant"] == "acme").unwrap();
    world.ok(&["revert", &upgrade["id"].to_string(), "--yes"]);
    assert_eq!(world.installed("acme")["membership"], "1.0.0");
    assert!(!column_exists(&world, "acme", "members", "phone"), "the revert puts the old tables back");
    assert_eq!(world.count("acme", "members"), 1);
    // Members are numbered on from where they were: no key the copy holds is given again.
    world.sql("acme", "INSERT INTO members (email, first_name, last_name) VALUES ('b@example.com', 'B', 'B')");
    assert_eq!(world.count("acme", "members"), 2);
    world.sql("acme", "DELETE FROM members WHERE email = 'b@example.com'");
    // What other modules hang on the reverted tables is there again, and works.
    assert!(world.has_object("acme", "members_status_revokes_digital_cards"), "digital_card's trigger on members");
    world.sql("acme", "INSERT INTO digital_cards (member_id, card_number) SELECT id, 'CARD-0001' FROM members");
    world.sql("acme", "UPDATE members SET status = 'lapsed'");
    let revoked: String = world.tenant_client("acme").query_one("SELECT status FROM digital_cards", &[]).unwrap().get(0);
    assert_eq!(revoked, "revoked");
    assert!(
        world.tenant_client("acme").batch_execute("INSERT INTO digital_cards (member_id, card_number) VALUES (99, 'CARD-0002')").is_err()
    );

    // A module whose trigger functions share their triggers' names goes whole and comes
    // back whole.
    world.ok(&["uninstall", "forum", "--tenant", "acme", "--purge"]);
    assert!(!world.objects("acme").iter().any(|o| o.starts_with("forum_")), "{:?}", world.objects("acme"));
    world.ok(&["install", "forum", "--tenant", "acme"]);
    assert!(world.has_object("acme", "forum_posts_bump_thread"));

    world.ok(&["uninstall", "newsletter", "--tenant", "acme"]);
    assert!(!world.has_object("acme", "newsletter_subscriptions"));
    let archives = world.json(&["archives", "list"]);
    let kept: Vec<_> = archives["archives"].as_array().unwrap().iter().filter(|a| a["kind"] == "uninstall").collect();
    assert_eq!(kept.len(), 1, "{archives}");
    world.ok_warning(&["install", "newsletter", "--tenant", "acme", "--restore"], "is deprecated");
    assert!(world.has_object("acme", "newsletter_subscriptions"));
    let archives = world.json(&["archives", "list"]);
    assert!(archives["archives"].as_array().unwrap().iter().all(|a| a["kind"] != "uninstall"), "the archive was used up: {archives}");

    // An archive keeps what a module has on another module's table (digital_card's
    // trigger on `members`) and makes it again on restore.
    world.ok(&["uninstall", "digital_card", "--tenant", "globex", "--cascade"]);
    assert!(!world.has_object("globex", "members_status_revokes_digital_cards"));
    world.ok(&["install", "digital_card", "--tenant", "globex", "--restore"]);
    assert!(world.has_object("globex", "members_status_revokes_digital_cards"), "{:?}", world.objects("globex"));
    assert!(world.has_object("globex", "digital_cards"));

    let history = world.json(&["history", "--tenant", "acme", "membership"]);
    assert_eq!(history["history"].as_array().unwrap().len(), 3, "{history}");
    world.ok(&["doctor"]);
    let backup = world.path().join("backup");
    world.ok(&["backup", backup.to_str().unwrap(), "--tenants"]);
    assert!(backup.join("tenants/acme.dump").is_file());
    world.ok(&["tenant", "remove", "globex"]);
    assert!(world.tenant_client("acme").query("SELECT 1 FROM pg_namespace WHERE nspname = 'globex'", &[]).unwrap().is_empty());
    world.ok(&["doctor"]);
}

#[test]
fn the_server_installs_into_postgresql_schemas() {
    let Some(world) = world(true) else { return };
    world.ok(&["tenant", "add", "acme"]);
    let token = world.json(&["token", "create", "ops"])["token"].as_str().unwrap().to_string();
    let server = world.serve(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        let request = reqwest::Client::new().post(server.url("/v1/tenants/acme/modules/digital_card/install")).bearer_auth(&token);
        request.send().await.unwrap().status().as_u16()
    });
    assert_eq!(status, 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while world.installed("acme").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the install did not finish");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(world.count("acme", "digital_cards"), 0);
    assert!(world.has_object("acme", "members"));
}

/// `pg_dump` of tenant `tenant`'s schema without the rows of modreg's own tables (which
/// record the jobs), its lines sorted (the order of objects of one kind is their oids').
pub(crate) fn schema_dump(world: &World, tenant: &str) -> Vec<String> {
    let url = world.tenants_url.clone().unwrap();
    let out = std::process::Command::new("pg_dump")
        .args(["--dbname", &url, "--schema", tenant, "--exclude-table-data", &format!("{tenant}._modreg_*")])
        .output()
        .expect("run pg_dump");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_revert_and_archives_leave_the_schema_as_pg_dump_saw_it_before() {
    let Some(world) = world(true) else { return };
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["subscription", "grant", "--tenant", "acme", "finance"]);
    world.ok(&["install", "membership@=1.0.0", "--tenant", "acme"]);
    world.ok(&["install", "digital_card", "finance", "elections", "forum", "--tenant", "acme"]);
    world.sql("acme", "INSERT INTO members (email, first_name, last_name) VALUES ('ada@example.com', 'Ada', 'Lovelace')");
    let before = schema_dump(&world, "acme");
    world.ok(&["upgrade", "membership", "--tenant", "acme"]);
    assert_ne!(schema_dump(&world, "acme"), before, "the upgrade changed the schema");
    let upgrade = world.jobs().into_iter().find(|j| j["kind"] == "upgrade").unwrap();
    world.ok(&["revert", &upgrade["id"].to_string(), "--yes"]);
    assert_same_schema(&before, &schema_dump(&world, "acme"));
    // So does every module archived, dependents first, and restored.
    for module in ["forum", "elections", "finance", "digital_card", "membership"] {
        world.ok(&["uninstall", module, "--tenant", "acme"]);
    }
    for module in ["membership", "digital_card", "finance", "elections", "forum"] {
        world.ok(&["install", module, "--tenant", "acme", "--restore"]);
    }
    assert_same_schema(&before, &schema_dump(&world, "acme"));
}

#[test]
fn a_failing_hook_that_wrote_leaves_the_schema_as_pg_dump_saw_it_before() {
    let Some(world) = world(true) else { return };
    world
        .module("scribble", "scribble", "1.0.0")
        .dep("membership", "^1")
        .migration("postgres/V1__scribble", "CREATE TABLE scribbles (id bigint PRIMARY KEY);")
        .hook("post_install", "exit 3")
        .writes_tenant_db(&["post_install"])
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "membership", "digital_card", "forum", "--tenant", "acme"]);
    world.sql("acme", "INSERT INTO members (email, first_name, last_name) VALUES ('ada@example.com', 'Ada', 'Lovelace')");
    let before = schema_dump(&world, "acme");
    world.run(&["install", "scribble", "--tenant", "acme"]).code(1);
    // The checkpoint (pg_dump, pg_restore) put the schema back, rights and all.
    assert_same_schema(&before, &schema_dump(&world, "acme"));
}

/// Fails naming the lines of `before` that `after` lacks, and those it has more.
#[track_caller]
pub(crate) fn assert_same_schema(before: &[String], after: &[String]) {
    let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
    let new: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    assert!(gone.is_empty() && new.is_empty(), "lost: {gone:#?}\nnew: {new:#?}");
}
