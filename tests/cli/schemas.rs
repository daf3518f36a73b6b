//! Schemas as real projects write them: dozens of views built on each other (the
//! `tests/fixtures/views` catalog), `WITHOUT ROWID` tables on SQLite and identity columns on
//! PostgreSQL. Migrations that change their SQLite connection's settings (`PRAGMA`) are in
//! `files/settings.rs`.

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
    let views = match world.tenants_url {
        Some(_) => world.int("acme", "SELECT count(*) FROM pg_class WHERE relkind = 'v' AND relnamespace = current_schema()::regnamespace"),
        None => world.int("acme", "SELECT count(*) FROM sqlite_schema WHERE type = 'view'"),
    };
    assert_eq!(views, 51, "fifty views of `reports` and one of `shop`");
    assert!(world.int("acme", "SELECT count(*) FROM report_summary_44") > 0, "the last view of the chain has rows");
    assert_eq!(world.int("acme", "SELECT max(depth) FROM report_tree"), 1);
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
    if world.tenants_url.is_some() {
        let key = world.text(
            "acme",
            "SELECT string_agg(a.attname, ',') FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
             WHERE i.indrelid = 'shop_products'::regclass AND i.indisprimary",
        );
        assert_eq!(key, "sku");
        let identity =
            world.text("acme", "SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'shop_orders'::regclass AND attname = 'id'");
        assert_eq!(identity, "d", "`shop_orders.id` is still an identity column");
    } else {
        let without_rowid = world.text("acme", "SELECT sql FROM sqlite_schema WHERE name = 'shop_products'");
        assert!(without_rowid.ends_with("WITHOUT ROWID"), "{without_rowid}");
    }
    // AUTOINCREMENT (an identity on PostgreSQL) continues where it was.
    world.sql("acme", "INSERT INTO shop_orders (customer, ordered_at) VALUES ('new', '2026-04-01');");
    assert_eq!(world.int("acme", "SELECT max(id) FROM shop_orders"), 10);
}

#[test]
fn a_module_whose_view_no_longer_compiles_is_archived_and_restored() {
    let world = views_world();
    // `reports` V3 dropped the table one of its views reads, as long histories do (on
    // PostgreSQL the view reads it through a function).
    let broken = world.try_value("acme", "SELECT count(*) FROM report_rates_2025_by_kind").unwrap_err();
    let missing = if world.tenants_url.is_some() { r#"relation "report_rates_2025" does not exist"# } else { "no such table" };
    assert!(broken.contains(missing), "{broken}");
    let before = content(&world.dump("acme"));
    world.ok(&["uninstall", "reports", "--tenant", "acme"]);
    assert!(!world.objects("acme").iter().any(|o| o.starts_with("report_")));
    world.ok(&["install", "reports", "--tenant", "acme", "--restore"]);
    assert_eq!(content(&world.dump("acme")), before);
    let still_broken = world.try_value("acme", "SELECT count(*) FROM report_rates_2025_by_kind").unwrap_err();
    assert!(still_broken.contains(missing), "{still_broken}");
    assert_eq!(world.count("acme", "report_entries"), 240);
}

#[test]
fn upgrade_and_revert_beside_fifty_views() {
    let world = views_world();
    let before = content(&world.dump("acme"));
    let upgrade = world.json(&["upgrade", "shop", "--tenant", "acme"]);
    let job = upgrade["jobs"][0]["id"].as_i64().unwrap();
    assert_eq!(world.installed("acme")["shop"], "1.1.0");
    assert_eq!(world.int("acme", "SELECT sum(discount) FROM shop_products"), 0);
    world.ok(&["revert", &job.to_string(), "--yes"]);
    assert_eq!(world.installed("acme")["shop"], "1.0.0");
    // The history table holds the revert's own bookkeeping; the module's content is back.
    let module_rows =
        |lines: Vec<String>| lines.into_iter().filter(|l| l.starts_with("shop_") || l.starts_with("report_")).collect::<Vec<_>>();
    assert_eq!(module_rows(content(&world.dump("acme"))), module_rows(before));
}
