//! `modreg archives list` and `archives prune`: the files modreg keeps after upgrade
//! (pre-upgrade copies), uninstall (archives), `tenant remove` (the tenant's file) and
//! what `install --restore` does with them, before and after a prune.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{World, same_width};

macro_rules! snapshot {
    ($world:expr, $name:expr, $text:expr) => {{
        crate::support::world_snapshot_settings(&$world).bind(|| insta::assert_snapshot!(format!("cli__archives__{}", $name), $text));
    }};
}

/// forum 1.0.0 (a table with three rows and a flag) and 1.1.0 (one more table); tenants
/// `acme`, `globex` and `zeta`.
fn world() -> World {
    let world = World::new();
    for (folder, version, more) in
        [("forum", "1.0.0", None), ("forum-1.1", "1.1.0", Some("CREATE TABLE forum_tags (id INTEGER PRIMARY KEY);"))]
    {
        let mut module = world
            .module(folder, "forum", version)
            .migration("V1__posts", "CREATE TABLE forum_posts (id INTEGER PRIMARY KEY, body TEXT);")
            .seed("posts.sql", "INSERT INTO forum_posts (id, body) VALUES (1, 'a'), (2, 'b'), (3, 'c');")
            .flag("threads", true);
        if let Some(sql) = more {
            module = module.migration("V2__tags", sql);
        }
        module.write();
    }
    world.ok(&["tenant", "add", "acme", "globex", "zeta"]);
    world
}

fn kept(world: &World, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["archives", "list"];
    args.extend(extra);
    world.json(&args)["archives"].as_array().cloned().unwrap()
}

/// Tenant, kind, version kept and whether restore would take it, of each kept file.
fn summary(files: &[Value]) -> Vec<(String, String, Value, bool)> {
    files
        .iter()
        .map(|f| (f["tenant"].as_str().unwrap().into(), f["kind"].as_str().unwrap().into(), f["version"].clone(), f["restore"] == true))
        .collect()
}

fn path(file: &Value) -> &Path {
    Path::new(file["path"].as_str().unwrap())
}

/// A connection to the world's tenants database (PostgreSQL tenants only).
fn tenants_db(world: &World) -> postgres::Client {
    postgres::Client::connect(world.tenants_url.as_deref().unwrap(), postgres::NoTls).unwrap()
}

/// Whether what a kept item's `path` names is there: a file, or a kept schema on
/// PostgreSQL.
fn present(world: &World, file: &Value) -> bool {
    match world.tenants_url {
        Some(_) => {
            let schema = file["path"].as_str().unwrap();
            !tenants_db(world).query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema]).unwrap().is_empty()
        }
        None => path(file).is_file(),
    }
}

/// The bytes a kept item takes: its file's length, or its schema's relations on
/// PostgreSQL.
fn size_of(world: &World, file: &Value) -> u64 {
    match world.tenants_url {
        Some(_) => {
            let sql = "SELECT COALESCE(sum(pg_total_relation_size(oid)), 0)::bigint FROM pg_class
                       WHERE relnamespace = $1::text::regnamespace AND relkind IN ('r', 'p', 'm', 'S')";
            let schema = format!("\"{}\"", file["path"].as_str().unwrap());
            tenants_db(world).query_one(sql, &[&schema]).unwrap().get::<_, i64>(0) as u64
        }
        None => std::fs::metadata(path(file)).unwrap().len(),
    }
}

/// Deletes what a kept item's `path` names, behind modreg's back.
fn lose(world: &World, file: &Value) {
    match world.tenants_url {
        Some(_) => tenants_db(world).batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", file["path"].as_str().unwrap())).unwrap(),
        None => std::fs::remove_file(path(file)).unwrap(),
    }
}

/// A table of `archives list` without its sizes and its layout (column widths follow
/// the sizes): the rows' words, for comparing PostgreSQL's list, whose schemas take
/// other sizes than SQLite's files, with the snapshot SQLite's matches.
fn without_sizes(table: &str) -> Vec<String> {
    let is_number = |word: &str| !word.is_empty() && word.chars().all(|c| c.is_ascii_digit() || c == '.');
    table
        .lines()
        .filter(|l| l.starts_with('│'))
        .map(|l| {
            let mut words: Vec<&str> = Vec::new();
            for word in l.split_whitespace() {
                match words.last() {
                    Some(&last) if ["B", "KiB", "MiB", "GiB"].contains(&word) && is_number(last) => *words.last_mut().unwrap() = "[size]",
                    _ => words.push(word),
                }
            }
            words.join(" ")
        })
        .collect()
}

#[test]
fn archives_list_shows_kept_files_with_sizes_and_what_restore_would_bring_back() {
    let world = world();
    world.ok(&["install", "forum@=1.0.0", "--tenant", "acme", "--tenant", "globex"]);
    assert!(kept(&world, &[]).is_empty(), "an install keeps nothing");
    world.ok(&["upgrade", "forum", "--tenant", "acme"]);
    world.ok(&["uninstall", "forum", "--tenant", "acme"]);
    world.ok(&["uninstall", "forum", "--tenant", "globex"]);
    world.ok(&["tenant", "remove", "zeta"]);

    let all = kept(&world, &[]);
    assert_eq!(
        summary(&all),
        [
            ("acme".into(), "uninstall".into(), json!("1.1.0"), true),
            ("acme".into(), "upgrade_copy".into(), json!("1.0.0"), false),
            ("globex".into(), "uninstall".into(), json!("1.0.0"), true),
            ("zeta".into(), "tenant".into(), Value::Null, false),
        ]
    );
    for file in &all {
        assert_eq!(file["file"], "present");
        assert!(present(&world, file), "{file}");
        assert_eq!(file["size_bytes"], size_of(&world, file), "{file}");
    }
    let total: u64 = all.iter().map(|f| f["size_bytes"].as_u64().unwrap()).sum();
    assert_eq!(world.json(&["archives", "list"])["total_bytes"], total);
    assert_eq!(all[0]["holds"], json!({"module": "forum", "version": "1.1.0", "tables": 2, "rows": 3, "flags": {"threads": true}}));
    assert_eq!(all[1]["holds"]["tables"], 1, "the copy holds the module as it was before the upgrade");
    assert_eq!(all[3]["holds"], Value::Null);
    match world.tenants_url {
        Some(_) => assert!(all[3]["path"].as_str().unwrap().starts_with("_modreg_k_t_"), "{}", all[3]),
        None => assert!(path(&all[3]).starts_with(world.data().join("archive/zeta"))),
    }

    // One tenant's, also a removed tenant's.
    assert_eq!(kept(&world, &["--tenant", "acme"]), all[..2]);
    assert_eq!(kept(&world, &["--tenant", "zeta"]), all[3..]);
    let typo = world.run(&["archives", "list", "--tenant", "acmee", "--json"]);
    typo.code(3);
    assert!(typo.error()["hint"].as_str().unwrap().contains("`acme`"), "{}", typo.stdout);

    let human = world.ok(&["archives", "list"]).stdout;
    let times: Vec<&str> = all.iter().map(|f| f["created_at"].as_str().unwrap()).collect();
    let human = same_width(&human, &times, "[time]");
    match world.tenants_url {
        Some(_) => {
            let snapshot = include_str!("snapshots/cli__archives__human_list.snap");
            assert_eq!(without_sizes(&human), without_sizes(snapshot), "{human}");
        }
        None => snapshot!(world, "human_list", human),
    }

    // Restored, the module is installed again: nothing left to bring back. The archive
    // file stays kept; on PostgreSQL its objects were moved back, and it is used up.
    world.ok(&["install", "forum", "--restore", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "forum_posts"), 3);
    let acme = summary(&kept(&world, &["--tenant", "acme"]));
    match world.tenants_url {
        Some(_) => assert_eq!(acme, [("acme".into(), "upgrade_copy".into(), json!("1.0.0"), false)]),
        None => assert_eq!(acme[0], ("acme".into(), "uninstall".into(), json!("1.1.0"), false)),
    }
    // A second uninstall: restore would take the newest archive, and when that file is
    // gone, the one before it, as `install --restore` does. (On PostgreSQL, a fresh
    // install uninstalled once more keeps the second archive.)
    world.sql("acme", "DELETE FROM forum_posts WHERE body = 'a';");
    world.ok(&["uninstall", "forum", "--tenant", "acme"]);
    let (newest_rows, older_rows) = match world.tenants_url {
        Some(_) => {
            world.ok(&["install", "forum", "--tenant", "acme"]);
            world.sql("acme", "DELETE FROM forum_posts WHERE body IN ('a', 'b');");
            world.ok(&["uninstall", "forum", "--tenant", "acme"]);
            (1, 2)
        }
        None => (2, 3),
    };
    let acme = kept(&world, &["--tenant", "acme"]);
    assert_eq!(
        summary(&acme)[..2],
        [("acme".into(), "uninstall".into(), json!("1.1.0"), true), ("acme".into(), "uninstall".into(), json!("1.1.0"), false)]
    );
    assert_eq!(acme[0]["holds"]["rows"], newest_rows);
    lose(&world, &acme[0]);
    let acme = kept(&world, &["--tenant", "acme"]);
    assert_eq!((&acme[0]["file"], &acme[0]["size_bytes"], &acme[0]["restore"]), (&json!("missing"), &Value::Null, &json!(false)));
    assert_eq!(acme[1]["restore"], true);
    world.ok(&["install", "forum", "--restore", "--tenant", "acme"]);
    assert_eq!(world.count("acme", "forum_posts"), older_rows, "the older archive came back");
}

#[test]
fn prune_deletes_old_kept_files_and_forgets_them_and_a_dry_run_deletes_nothing() {
    let world = world();
    world.ok(&["install", "forum@=1.0.0", "--tenant", "acme"]);
    let upgrade = world.json(&["upgrade", "forum", "--tenant", "acme"])["jobs"][0]["id"].to_string();
    world.ok(&["install", "forum", "--tenant", "globex"]);
    world.ok(&["uninstall", "forum", "--tenant", "acme", "--tenant", "globex"]);
    world.ok(&["tenant", "remove", "zeta"]);
    // Kept long ago: acme's pre-upgrade copy and archive, and zeta's file; globex's
    // archive is new.
    world.landlord_sql("UPDATE archives SET created_at = '2001-02-03T04:05:06.000Z' WHERE tenant IN ('acme', 'zeta')");
    let before = kept(&world, &[]);
    let old: Vec<&Value> = before.iter().filter(|f| f["tenant"] != "globex").collect();
    assert_eq!(old.len(), 3);

    let dry = world.json(&["archives", "prune", "--older-than", "30d", "--dry-run"]);
    let listed: Vec<&str> = dry["pruned"].as_array().unwrap().iter().map(|f| f["tenant"].as_str().unwrap()).collect();
    assert_eq!(listed, ["acme", "acme", "zeta"]);
    assert_eq!(dry["dry_run"], true);
    assert!(old.iter().all(|f| present(&world, f)), "a dry run deletes nothing");
    assert_eq!(kept(&world, &[]), before, "and forgets nothing");
    let dry = world.ok(&["archives", "prune", "--older-than", "30d", "--dry-run"]);
    assert!(dry.stdout.contains("acme") && dry.stdout.contains("zeta") && !dry.stdout.contains("globex"), "{}", dry.stdout);
    assert!(dry.stderr.contains("Would prune 3 kept file(s) older than 30d"), "{}", dry.stderr);

    let run = world.ok(&["archives", "prune", "--older-than", "30d"]);
    assert!(run.stdout.contains("acme") && run.stdout.contains("zeta") && !run.stdout.contains("globex"), "{}", run.stdout);
    let freed: u64 = old.iter().map(|f| f["size_bytes"].as_u64().unwrap()).sum();
    let freed = if freed >= 1024 { format!("{:.1} KiB", freed as f64 / 1024.0) } else { format!("{freed} B") };
    assert!(run.stderr.contains(&format!("Pruned 3 kept file(s) older than 30d, {freed} freed")), "{}", run.stderr);
    assert!(old.iter().all(|f| !present(&world, f) && !path(f).exists()), "gone from disk");
    let left = kept(&world, &[]);
    assert_eq!(summary(&left), [("globex".into(), "uninstall".into(), json!("1.1.0"), true)], "not listed again");
    assert!(present(&world, &left[0]));
    let again = world.ok(&["archives", "prune", "--older-than", "30d"]);
    assert!(again.stdout.is_empty() && again.stderr.contains("Unchanged no kept file is older than 30d"), "{}", again.stderr);

    // Restoring what was pruned says there is nothing to restore; the rest restores.
    let restore = world.run(&["install", "forum", "--restore", "--tenant", "acme", "--json"]);
    restore.code(3);
    assert_eq!(restore.error()["message"], "there is nothing to restore: no archive of `forum` for tenant `acme` is kept");
    assert!(restore.error()["hint"].as_str().unwrap().contains("`modreg archives prune`"));
    assert!(!world.has_object("acme", "forum_posts"));
    let revert = world.run(&["revert", &upgrade, "--yes", "--json"]);
    revert.code(3);
    assert!(revert.error()["hint"].as_str().unwrap().contains("`modreg archives prune`"), "{}", revert.stdout);
    world.ok(&["install", "forum", "--restore", "--tenant", "globex"]);
    assert_eq!(world.count("globex", "forum_posts"), 3);

    for bad in ["30x", "d", "", "1.5d"] {
        let run = world.run(&["archives", "prune", "--older-than", bad, "--json"]);
        run.code(2);
        assert_eq!(run.error()["message"], format!("`--older-than {bad}` is not a duration"));
    }
}
