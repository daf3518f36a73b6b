//! Schemas as real projects write them: dozens of views built on each other (the
//! `tests/fixtures/views` catalog), `WITHOUT ROWID` tables, and migrations that change
//! their connection's settings.

use crate::support::{World, content};

/// Tenant `acme` with `reports` (fifty views, one recursive) and `shop` 1.0.0.
fn views_world() -> World {
    let world = World::fixture("views");
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "reports", "shop@=1.0.0", "--tenant", "acme"]);
    world
}

#[test]
fn the_views_catalog_validates_and_its_views_answer() {
    let world = views_world();
    let views: i64 = world.tenant_db("acme").query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'view'", [], |r| r.get(0)).unwrap();
    assert_eq!(views, 51, "fifty views of `reports` and one of `shop`");
    let deepest: i64 = world.tenant_db("acme").query_row("SELECT count(*) FROM report_summary_44", [], |r| r.get(0)).unwrap();
    assert!(deepest > 0, "the last view of the chain has rows");
    let depth: i64 = world.tenant_db("acme").query_row("SELECT max(depth) FROM report_tree", [], |r| r.get(0)).unwrap();
    assert_eq!(depth, 1);
}

#[test]
fn uninstall_and_restore_beside_fifty_views_keep_every_row_and_the_table_kinds() {
    let world = views_world();
    let before = content(&world.dump("acme"));
    world.ok(&["uninstall", "shop", "--tenant", "acme"]);
    assert!(!world.has_object("acme", "shop_products"));
    assert_eq!(world.count("acme", "report_entries"), 240, "the other module is untouched");
    let restored = world.json(&["install", "shop", "--tenant", "acme", "--restore"]);
    assert_eq!(restored["plan"][0]["action"], "restore");
    assert_eq!(content(&world.dump("acme")), before);
    let without_rowid: String =
        world.tenant_db("acme").query_row("SELECT sql FROM sqlite_schema WHERE name = 'shop_products'", [], |r| r.get(0)).unwrap();
    assert!(without_rowid.ends_with("WITHOUT ROWID"), "{without_rowid}");
    // AUTOINCREMENT continues where it was.
    world.sql("acme", "INSERT INTO shop_orders (customer, ordered_at) VALUES ('new', '2026-04-01');");
    let id: i64 = world.tenant_db("acme").query_row("SELECT max(id) FROM shop_orders", [], |r| r.get(0)).unwrap();
    assert_eq!(id, 10);
}

#[test]
fn a_module_whose_view_no_longer_compiles_is_archived_and_restored() {
    let world = views_world();
    // `reports` V3 dropped the table one of its views reads, as long histories do.
    let broken = world.tenant_db("acme").query_row("SELECT count(*) FROM report_rates_2025_by_kind", [], |r| r.get::<_, i64>(0));
    assert!(broken.unwrap_err().to_string().contains("no such table"));
    let before = content(&world.dump("acme"));
    world.ok(&["uninstall", "reports", "--tenant", "acme"]);
    assert!(!world.objects("acme").iter().any(|o| o.starts_with("report_")));
    world.ok(&["install", "reports", "--tenant", "acme", "--restore"]);
    assert_eq!(content(&world.dump("acme")), before);
}

#[test]
fn upgrade_and_revert_beside_fifty_views() {
    let world = views_world();
    let before = content(&world.dump("acme"));
    let upgrade = world.json(&["upgrade", "shop", "--tenant", "acme"]);
    let job = upgrade["jobs"][0]["id"].as_i64().unwrap();
    assert_eq!(world.installed("acme")["shop"], "1.1.0");
    let discount: i64 = world.tenant_db("acme").query_row("SELECT sum(discount) FROM shop_products", [], |r| r.get(0)).unwrap();
    assert_eq!(discount, 0);
    world.ok(&["revert", &job.to_string(), "--yes"]);
    assert_eq!(world.installed("acme")["shop"], "1.0.0");
    // The history table holds the revert's own bookkeeping; the module's content is back.
    let module_rows =
        |lines: Vec<String>| lines.into_iter().filter(|l| l.starts_with("shop_") || l.starts_with("report_")).collect::<Vec<_>>();
    assert_eq!(module_rows(content(&world.dump("acme"))), module_rows(before));
}

/// `legacy` changes what its connection does (old-style renames, recursive triggers, a
/// temporary table shadowing a name) and leaves it so; `renamer` is written for the
/// settings every migration starts from.
fn settings_world() -> World {
    let world = World::new();
    world
        .module("legacy", "legacy", "1.0.0")
        .migration(
            "V1__legacy",
            "PRAGMA legacy_alter_table = ON;\n\
             PRAGMA recursive_triggers = ON;\n\
             CREATE TEMP TABLE staging (a);\n\
             CREATE TABLE legacy_t (a);",
        )
        .write();
    world
        .module("renamer", "renamer", "1.0.0")
        .migration(
            "V1__renamer",
            "CREATE TABLE renamer_t (a);\n\
             CREATE VIEW renamer_v AS SELECT a FROM renamer_t;\n\
             ALTER TABLE renamer_t RENAME TO renamer_items;\n\
             CREATE TABLE staging (a);\n\
             INSERT INTO staging VALUES (1);\n\
             CREATE TABLE renamer_counter (n);\n\
             CREATE TRIGGER renamer_count AFTER INSERT ON renamer_counter WHEN NEW.n < 5 BEGIN INSERT INTO renamer_counter VALUES (NEW.n + 1); END;\n\
             INSERT INTO renamer_counter VALUES (1);",
        )
        .write();
    world.ok(&["tenant", "add", "together", "alone"]);
    world
}

/// What `renamer` left in a tenant: its objects' SQL and its rows.
fn renamer_result(world: &World, tenant: &str) -> Vec<String> {
    let dump = world.dump(tenant);
    dump.lines().filter(|l| !l.contains("_modreg") && (l.contains("renamer") || l.contains("staging"))).map(String::from).collect()
}

#[test]
fn a_modules_sql_starts_from_the_same_settings_whatever_ran_before_it() {
    let world = settings_world();
    let together = world.json(&["install", "legacy", "renamer", "--tenant", "together"]);
    let order: Vec<&str> = together["plan"].as_array().unwrap().iter().map(|p| p["module"].as_str().unwrap()).collect();
    assert_eq!(order, ["legacy", "renamer"], "legacy runs first");
    world.ok(&["install", "renamer", "--tenant", "alone"]);
    assert_eq!(renamer_result(&world, "together"), renamer_result(&world, "alone"));
    // And what it is: the view follows the rename, the row is in the real table, the
    // trigger did not recurse.
    let view: String =
        world.tenant_db("alone").query_row("SELECT sql FROM sqlite_schema WHERE name = 'renamer_v'", [], |r| r.get(0)).unwrap();
    assert!(view.contains("renamer_items"), "{view}");
    assert_eq!(world.count("together", "staging"), 1);
    assert_eq!(world.count("together", "renamer_counter"), 2);
}

#[test]
fn a_migrations_settings_do_not_reach_the_next_migration_of_the_same_module() {
    let world = World::new();
    world
        .module("both", "both", "1.0.0")
        .migration("V1__first", "PRAGMA legacy_alter_table = ON;\nCREATE TEMP TABLE both_scratch (a);\nCREATE TABLE both_t (a);")
        .migration(
            "V2__second",
            "CREATE VIEW both_v AS SELECT a FROM both_t;\nALTER TABLE both_t RENAME TO both_items;\nCREATE TABLE both_scratch (a);\nINSERT INTO both_scratch VALUES (1);",
        )
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "both", "--tenant", "acme"]);
    let view: String = world.tenant_db("acme").query_row("SELECT sql FROM sqlite_schema WHERE name = 'both_v'", [], |r| r.get(0)).unwrap();
    assert!(view.contains("both_items"), "{view}");
    assert_eq!(world.count("acme", "both_scratch"), 1);
}
