use serde_json::Value;

use crate::support::World;

fn diagnostics(run: &crate::support::Run) -> Vec<Value> {
    run.json()["diagnostics"].as_array().cloned().unwrap_or_default()
}

/// The error diagnostics of a `validate --json` run.
pub(crate) fn errors(run: &crate::support::Run) -> Vec<Value> {
    diagnostics(run).into_iter().filter(|d| d["severity"] == "error").collect()
}

#[test]
fn the_sample_catalog_is_valid_and_validate_touches_no_state() {
    let world = World::sample();
    let run = world.run(&["validate", "--json"]);
    run.code(0);
    let report = run.json();
    assert_eq!(report["valid"], true);
    assert_eq!(report["modules"], 8);
    assert!(errors(&run).is_empty(), "{report:#}");
    assert!(!world.data().exists(), "validate created the data folder");
}

#[test]
fn unknown_keys_are_errors_with_line_and_column() {
    let world = World::new();
    world.write("modules/a/module.toml", "[module]\nname = \"a\"\nversion = \"1.0.0\"\nrequires_subscripton = true\n");
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let errors = errors(&run);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0]["message"].as_str().unwrap().contains("unknown field `requires_subscripton`"));
    assert!(errors[0]["file"].as_str().unwrap().ends_with("modules/a/module.toml"));
    assert_eq!((errors[0]["line"].as_u64(), errors[0]["column"].as_u64()), (Some(4), Some(1)));
    assert_eq!(run.json()["valid"], false);
}

#[test]
fn every_problem_of_a_manifest_is_reported_at_once() {
    let world = World::new();
    world.write(
        "modules/a/module.toml",
        "[module]\nname = \"Bad-Name\"\nversion = \"1.0\"\n[dependencies]\nb = \"^^1\"\n[features]\n\"On\" = true\n",
    );
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let lines: Vec<u64> = errors(&run).iter().map(|d| d["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [2, 3, 5, 7]);
}

#[test]
fn human_output_names_file_line_and_what_was_expected() {
    let world = World::new();
    world.write("modules/a/module.toml", "[module]\nname = \"a\"\nversion = \"one\"\n");
    let run = world.run(&["validate"]);
    run.exit(2);
    assert!(run.stdout.contains("modules/a/module.toml:3:11: error: invalid version `one`"), "{}", run.stdout);
    assert!(run.stdout.contains("expected a semantic version"), "{}", run.stdout);
}

#[test]
fn dependencies_must_exist_and_be_satisfiable() {
    let world = World::new();
    world.module("base", "base", "1.0.0").migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY);").write();
    world.module("a", "a", "1.0.0").dep("ghost", "^1").migration("V1__a", "CREATE TABLE a_t (id INTEGER);").write();
    world.module("b", "b", "1.0.0").dep("base", "^2").migration("V1__b", "CREATE TABLE b_t (id INTEGER);").write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let messages: Vec<String> = errors(&run).iter().map(|d| d["message"].as_str().unwrap().to_string()).collect();
    assert!(messages.iter().any(|m| m == "dependency `ghost` is not in the catalog"), "{messages:#?}");
    assert!(messages.iter().any(|m| m == "no version of dependency `base` matches `^2` (available: 1.0.0)"), "{messages:#?}");
}

#[test]
fn cycles_are_reported_with_their_path() {
    let world = World::new();
    world.module("a", "a", "1.0.0").dep("b", "^1").migration("V1__a", "CREATE TABLE a_t (id INTEGER);").write();
    world.module("b", "b", "1.0.0").dep("a", "^1").migration("V1__b", "CREATE TABLE b_t (id INTEGER);").write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let messages: Vec<String> = errors(&run).iter().map(|d| d["message"].as_str().unwrap().to_string()).collect();
    assert!(messages.contains(&"dependency cycle: a -> b -> a".to_string()), "{messages:#?}");
}

#[test]
fn a_cycle_is_reported_on_a_module_of_the_cycle_at_its_dependency_entry() {
    let world = World::new();
    // `app` is checked first and reaches the cycle, but is not on it.
    world.module("app", "app", "1.0.0").dep("x", "^1").migration("V1__app", "CREATE TABLE app_t (id INTEGER);").write();
    world.module("x", "x", "1.0.0").dep("y", "^1").migration("V1__x", "CREATE TABLE x_t (id INTEGER);").write();
    world.module("y", "y", "1.0.0").dep("x", "^1").migration("V1__y", "CREATE TABLE y_t (id INTEGER);").write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let cycles: Vec<Value> = errors(&run).into_iter().filter(|d| d["message"] == "dependency cycle: x -> y -> x").collect();
    assert_eq!(cycles.len(), 1, "{:#?}", errors(&run));
    assert!(cycles[0]["file"].as_str().unwrap().ends_with("modules/x/module.toml"), "{:#?}", cycles[0]);
    let manifest = std::fs::read_to_string(world.modules().join("x/module.toml")).unwrap();
    let line = manifest.lines().position(|l| l.starts_with("y = ")).unwrap() + 1;
    assert_eq!((cycles[0]["line"].as_u64(), cycles[0]["column"].as_u64()), (Some(line as u64), Some(1)));
}

#[test]
fn two_modules_creating_the_same_name_are_a_warning_at_the_create() {
    let world = World::new();
    world.module("blog", "blog", "1.0.0").migration("V1__blog", "CREATE TABLE posts (id INTEGER);").write();
    world
        .module("forum", "forum", "1.0.0")
        .migration("V1__forum", "CREATE TABLE topics (id INTEGER);")
        .migration(
            "V2__posts",
            "-- the posts of a topic\nCREATE TABLE IF NOT EXISTS \"Posts\" (id INTEGER);\nCREATE INDEX topics_by_id ON topics (id);",
        )
        .write();
    world
        .module("wiki", "wiki", "1.0.0")
        .migration("V1__wiki", "CREATE TABLE pages (id INTEGER);\nCREATE INDEX topics_by_id ON pages (id);")
        .write();
    let run = world.run(&["validate", "--json"]);
    run.code(0);
    let warnings: Vec<Value> = diagnostics(&run).into_iter().filter(|d| d["severity"] == "warning").collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    let posts = warnings.iter().find(|w| w["message"].as_str().unwrap().contains("`Posts`")).expect("posts");
    assert_eq!(
        posts["message"],
        "`blog` and `forum` both create `Posts` (a table in `blog`, a table in `forum`): they can never be installed on the same tenant"
    );
    let sql = if world.tenants_url.is_some() { "migrations/postgres" } else { "migrations" };
    assert!(posts["file"].as_str().unwrap().ends_with(&format!("modules/forum/{sql}/V2__posts.sql")), "{posts:#}");
    assert_eq!((posts["line"].as_u64(), posts["column"].as_u64()), (Some(2), Some(1)));
    let index = warnings.iter().find(|w| w["message"].as_str().unwrap().contains("`topics_by_id`")).expect("index");
    assert!(index["file"].as_str().unwrap().ends_with(&format!("modules/wiki/{sql}/V1__wiki.sql")), "{index:#}");
    assert_eq!(index["line"].as_u64(), Some(2));
    // Versions of one module share names, of course.
    world.module("blog-2", "blog", "2.0.0").migration("V1__blog", "CREATE TABLE posts (id INTEGER);").write();
    let warnings = diagnostics(&world.run(&["validate", "--json"])).into_iter().filter(|d| d["severity"] == "warning").count();
    assert_eq!(warnings, 2);
}

#[test]
fn migration_names_hooks_and_binary_junk_are_checked() {
    let world = World::new();
    world.module("a", "a", "1.0.0").migration("V1_missing_underscore", "CREATE TABLE a_t (id INTEGER);").write();
    world
        .module("b", "b", "1.0.0")
        .migration("V1__b", "CREATE TABLE b_t (id INTEGER);")
        .toml("[hooks]\npost_install = \"hooks/gone.sh\"")
        .write();
    let c = world.module("c", "c", "1.0.0").migration("V1__c", "CREATE TABLE c_t (id INTEGER);").hook("pre_install", "exit 0").write();
    std::fs::set_permissions(c.join("hooks/pre_install.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::create_dir_all(world.modules().join("junk")).unwrap();
    std::fs::write(world.modules().join("junk/module.toml"), [0x7f, b'E', b'L', b'F', 0xff, 0x00, 0x12]).unwrap();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let found: Vec<(String, String)> =
        errors(&run).iter().map(|d| (d["file"].as_str().unwrap().to_string(), d["message"].as_str().unwrap().to_string())).collect();
    let has = |file: &str, text: &str| found.iter().any(|(f, m)| f.ends_with(file) && m.contains(text));
    assert!(has("a/migrations/V1_missing_underscore.sql", "invalid migration file name"), "{found:#?}");
    assert!(has("b/module.toml", "hook `post_install`: `hooks/gone.sh` does not exist"), "{found:#?}");
    assert!(has("c/module.toml", "is not executable"), "{found:#?}");
    assert!(has("junk/module.toml", "not UTF-8"), "{found:#?}");
}

#[test]
fn a_migration_that_does_not_apply_is_reported_at_its_line() {
    let world = World::new();
    world.module("base", "base", "1.0.0").migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY);").write();
    world
        .module("a", "a", "1.0.0")
        .dep("base", "^1")
        .migration("V1__ok", "CREATE TABLE a_t (id INTEGER PRIMARY KEY, base_id INTEGER REFERENCES base_t (id));")
        .migration("V2__broken", "-- adds a column\nALTER TABLE a_t ADD COLUMN note TEXT;\nINSERT INTO a_t (id, nope) VALUES (1, 2);\n")
        .write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let errors = errors(&run);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    let (file, reason) = if world.tenants_url.is_some() {
        ("a/migrations/postgres/V2__broken.sql", "column \"nope\" of relation \"a_t\" does not exist")
    } else {
        ("a/migrations/V2__broken.sql", "table a_t has no column named nope")
    };
    assert!(e["file"].as_str().unwrap().ends_with(file), "{e}");
    assert_eq!(e["line"], 3, "{e}");
    assert!(e["message"].as_str().unwrap().contains(reason), "{e}");
}

#[test]
fn hostile_sql_fails_validation() {
    let world = World::new();
    world
        .module("a", "a", "1.0.0")
        .migration("V1__attach", "ATTACH DATABASE '/tmp/other.db' AS other;")
        .migration_pg("V1__attach", "COPY (SELECT 1) TO PROGRAM 'true';")
        .write();
    world.module("b", "b", "1.0.0").migration("V1__meta", "CREATE TABLE _modreg_mine (x TEXT);").write();
    world.module("c", "c", "1.0.0").migration("V1__tx", "BEGIN; CREATE TABLE c_t (x TEXT); COMMIT;").write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let messages: Vec<String> = errors(&run).iter().map(|d| d["message"].as_str().unwrap().to_string()).collect();
    let (attach, transaction) = if world.tenants_url.is_some() {
        ("to COPY to or from an external program", "EXECUTE of transaction commands is not implemented")
    } else {
        ("ATTACH is not allowed", "BEGIN, COMMIT")
    };
    assert!(messages.iter().any(|m| m.contains(attach)), "{messages:#?}");
    assert!(messages.iter().any(|m| m.contains("belongs to modreg")), "{messages:#?}");
    assert!(messages.iter().any(|m| m.contains(transaction)), "{messages:#?}");
}

#[test]
fn two_manifests_with_one_name_and_version_are_refused() {
    let world = World::new();
    world.module("one", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x);").write();
    world.module("two", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x);").write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let messages: Vec<String> = errors(&run).iter().map(|d| d["message"].as_str().unwrap().to_string()).collect();
    assert!(messages.iter().any(|m| m.contains("`a 1.0.0` is already defined by")), "{messages:#?}");
}

#[test]
fn a_single_module_folder_resolves_its_dependencies_from_the_catalog() {
    let world = World::sample();
    let run = world.run(&["validate", "--json", world.modules().join("finance").to_str().unwrap()]);
    run.code(0);
    assert_eq!(run.json()["modules"], 1);
    let file = world.modules().join("finance/module.toml");
    let run = world.run(&["validate", "--json", file.to_str().unwrap()]);
    run.code(0);
}

#[test]
fn a_seed_that_breaks_a_foreign_key_is_reported() {
    let world = World::new();
    world
        .module("a", "a", "1.0.0")
        .migration("V1__a", "CREATE TABLE parents (id INTEGER PRIMARY KEY);\nCREATE TABLE kids (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parents (id));")
        .seed("001_kids.sql", "INSERT INTO kids (id, parent_id) VALUES (1, 42);")
        .write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let errors = errors(&run);
    assert!(errors.iter().any(|d| d["message"].as_str().unwrap().contains("foreign key")), "{errors:#?}");
}

#[test]
fn a_changed_published_version_is_flagged_when_a_landlord_exists() {
    let world = World::new();
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.ok(&["modules", "list"]);
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT, y TEXT);").write();
    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let errors = errors(&run);
    assert!(errors[0]["message"].as_str().unwrap().contains("was published on"), "{errors:#?}");
}

#[test]
fn files_that_lead_outside_their_module_are_refused_by_validate_and_every_command() {
    let world = World::new();
    let dir = world.module("leaky", "leaky", "1.0.0").migration("V1__a", "CREATE TABLE leaky_t (x);").write();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("migrations/V2__steal.sql")).unwrap();
    // A hook that is a link to a script outside the module: it must never run.
    let marker = world.path().join("ran");
    let outside = world.write("elsewhere/hook.sh", &format!("#!/bin/sh\ntouch {}\n", marker.display()));
    std::fs::set_permissions(&outside, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let hooked =
        world.module("hooked", "hooked", "1.0.0").migration("V1__h", "CREATE TABLE hooked_t (x);").hook("post_install", "exit 0").write();
    let hook = std::fs::read_dir(hooked.join("hooks")).unwrap().next().unwrap().unwrap().path();
    std::fs::remove_file(&hook).unwrap();
    std::os::unix::fs::symlink(&outside, &hook).unwrap();

    let run = world.run(&["validate", "--json"]);
    run.exit(2);
    let errors = errors(&run);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors.iter().all(|d| d["message"].as_str().unwrap().contains("outside the module folder")), "{errors:#?}");
    assert!(errors.iter().any(|d| d["file"].as_str().unwrap().ends_with("V2__steal.sql")), "{errors:#?}");
    assert!(!run.stdout.contains("root:"), "a line of /etc/passwd reached the output: {}", run.stdout);

    world.ok(&["tenant", "add", "acme"]);
    let before = world.dump("acme");
    for module in ["leaky", "hooked"] {
        let install = world.run(&["install", module, "--tenant", "acme", "--json"]);
        assert_ne!(install.code, 0, "{module}: {}", install.stdout);
        assert!(
            install.stderr.contains("outside the module folder") || install.stdout.contains("outside the module folder"),
            "{module}: {}{}",
            install.stdout,
            install.stderr
        );
    }
    assert!(!marker.exists(), "the linked hook ran");
    assert_eq!(world.dump("acme"), before);
    // With the links gone the catalog is clean again: nothing was installed or started.
    std::fs::remove_file(dir.join("migrations/V2__steal.sql")).unwrap();
    std::fs::remove_file(&hook).unwrap();
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert!(world.installed("acme").is_empty());
    assert!(world.jobs().is_empty(), "{:?}", world.jobs());
}
