use crate::support::{World, event_types};

fn statuses(world: &World) -> Vec<(String, String, String)> {
    world
        .jobs()
        .iter()
        .map(|j| {
            (
                j["module"].as_str().unwrap().to_string(),
                j["status"].as_str().unwrap().to_string(),
                j["error"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// a <- b <- c: c's second migration fails after a, b and c's first migration ran.
fn chain(world: &World) {
    world
        .module("a", "a", "1.0.0")
        .migration("V1__a", "CREATE TABLE a_t (id INTEGER PRIMARY KEY, v TEXT);")
        .seed("1.sql", "INSERT INTO a_t (id, v) VALUES (1, 'seed');")
        .write();
    world
        .module("b", "b", "1.0.0")
        .dep("a", "^1")
        .migration("V1__b", "CREATE TABLE b_t (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a_t (id));\nCREATE INDEX b_a ON b_t (a_id);")
        .write();
    world
        .module("c", "c", "1.0.0")
        .dep("b", "^1")
        .migration(
            "V1__c",
            "CREATE TABLE c_t (id INTEGER PRIMARY KEY);\nCREATE VIEW c_v AS SELECT c_t.id, b_t.a_id FROM c_t JOIN b_t ON b_t.id = c_t.id;",
        )
        .migration("V2__c", "INSERT INTO c_t (id) VALUES (1);\nINSERT INTO c_t (id) VALUES (1);")
        .write();
}

#[test]
fn a_failing_migration_at_the_last_of_several_modules_rolls_everything_back() {
    let world = World::new();
    chain(&world);
    world.ok(&["tenant", "add", "acme"]);
    world.sql("acme", "CREATE TABLE app_data (x TEXT); INSERT INTO app_data VALUES ('precious');");
    let before = world.dump("acme");
    let run = world.run(&["install", "c", "--tenant", "acme", "--json"]);
    run.code(1);
    let error = run.error();
    assert_eq!(error["kind"], "failed");
    let message = error["message"].as_str().unwrap();
    let reason = match world.tenants_url {
        Some(_) => {
            assert!(message.starts_with("migration `V2__c` of `c` failed at `migrations/postgres/V2__c.sql` line "), "{error}");
            "duplicate key value violates unique constraint \"c_t_pkey\""
        }
        None => {
            assert!(message.contains("migration `V2__c` of `c` failed: "), "{error}");
            "UNIQUE constraint failed: c_t.id"
        }
    };
    assert!(message.contains(reason), "{error}");
    assert_eq!(error["jobs"].as_array().unwrap().len(), 3);
    assert_eq!(world.dump("acme"), before, "the tenant file changed");
    let jobs = statuses(&world);
    assert_eq!(jobs[0], ("a".into(), "rolled_back".into(), "rolled back because `c` failed".into()));
    assert_eq!(jobs[1].1, "rolled_back");
    assert!(jobs[2].2.contains(reason), "{jobs:?}");
    assert!(world.installed("acme").is_empty());
    let failed_steps = world.json(&["jobs", "show", "3"])["job"]["steps"].clone();
    let names: Vec<&str> = failed_steps.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"migrate V1__c") && names.contains(&"migrate V2__c"), "{names:?}");
    let events = event_types(&world.events(None));
    assert_eq!(events.iter().filter(|e| *e == "module.install_failed").count(), 3);
    assert!(!events.contains(&"module.installed".to_string()));
    // The landlord has seen `c 1.0.0`: a fix needs a new version, and then it all installs.
    std::fs::rename(world.modules().join("c"), world.path().join("c-1.0.0")).unwrap();
    world
        .module("c", "c", "1.0.1")
        .dep("b", "^1")
        .migration("V1__c", "CREATE TABLE c_t (id INTEGER PRIMARY KEY);")
        .migration("V2__c", "INSERT INTO c_t (id) VALUES (1);")
        .write();
    world.ok(&["install", "c", "--tenant", "acme"]);
    assert_eq!(world.installed("acme").len(), 3);
}

#[test]
fn a_failing_post_install_hook_undoes_a_migration_that_deleted_a_dependencys_rows() {
    let world = World::new();
    let marker = world.path().join("rollback-called.txt");
    world
        .module("people", "people", "1.0.0")
        .migration("V1__people", "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);")
        .seed("1.sql", "INSERT INTO people (id, name) VALUES (1, 'ada'), (2, 'bob'), (3, 'cy');")
        .write();
    world
        .module("purge", "purge", "1.0.0")
        .dep("people", "^1")
        .migration("V1__purge", "CREATE TABLE purge_log (name TEXT);\nINSERT INTO purge_log SELECT name FROM people WHERE name <> 'ada';\nDELETE FROM people WHERE name <> 'ada';\nUPDATE people SET name = 'ADA';")
        .hook("post_install", "echo 'the mail server is down' >&2; exit 7")
        .hook("rollback", &format!("echo \"$MODREG_MODULE $MODREG_STEP\" >> {}", marker.display()))
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "people", "--tenant", "acme"]);
    world.sql("acme", "INSERT INTO people (id, name) VALUES (4, 'dee');");
    let before = world.dump("acme");
    let run = world.run(&["install", "purge", "--tenant", "acme", "--json"]);
    run.code(1);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(message.contains("post_install hook of `purge 1.0.0` exited with status 7: the mail server is down"), "{message}");
    assert_eq!(world.dump("acme"), before, "rows of the dependency were not restored");
    assert_eq!(world.count("acme", "people"), 4);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "purge rollback\n");
    let job = world.jobs().into_iter().last().unwrap();
    assert_eq!(job["status"], "rolled_back");
    let steps = world.json(&["jobs", "show", &job["id"].to_string()])["job"]["steps"].clone();
    let hook = steps.as_array().unwrap().iter().find(|s| s["name"] == "post_install hook").unwrap().clone();
    assert_eq!(hook["status"], "failed");
    assert_eq!(hook["output"], "the mail server is down\n");
    assert!(steps.as_array().unwrap().iter().any(|s| s["name"] == "rollback hook" && s["status"] == "ok"));
    assert!(!world.data().join("tenants/acme.db.rollback").exists(), "the rollback copy was left behind");
    if world.tenants_url.is_some() {
        let checkpoints = world.int("acme", "SELECT count(*) FROM _modreg.checkpoints");
        assert_eq!(checkpoints, 0, "the checkpoint was left behind");
    }
}

#[test]
fn a_failing_pre_install_hook_changes_nothing_and_still_calls_rollback() {
    let world = World::new();
    let marker = world.path().join("rollback.txt");
    world
        .module("a", "a", "1.0.0")
        .migration("V1__a", "CREATE TABLE a_t (x TEXT);")
        .hook("pre_install", "exit 1")
        .hook("rollback", &format!("touch {}", marker.display()))
        .write();
    world.ok(&["tenant", "add", "acme"]);
    let before = world.dump("acme");
    world.run(&["install", "a", "--tenant", "acme"]).code(1);
    assert_eq!(world.dump("acme"), before);
    assert!(marker.exists(), "rollback hook not called");
}

#[test]
fn a_hook_that_runs_too_long_is_killed_and_the_install_rolled_back() {
    let world = World::new();
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").hook("post_install", "sleep 30").write();
    world.ok(&["tenant", "add", "acme"]);
    let before = world.dump("acme");
    let started = std::time::Instant::now();
    let run = world.run_with(&["install", "a", "--tenant", "acme", "--json"], &[("MODREG_HOOK_TIMEOUT", "0.5")]);
    run.code(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(run.error()["message"].as_str().unwrap().contains("ran longer than"), "{}", run.stdout);
    assert_eq!(world.dump("acme"), before);
}

#[test]
fn a_failing_seed_rolls_back_its_module() {
    let world = World::new();
    world
        .module("a", "a", "1.0.0")
        .migration("V1__a", "CREATE TABLE a_t (x INTEGER NOT NULL);")
        .seed("001.sql", "INSERT INTO a_t VALUES (1);\nINSERT INTO a_t VALUES (NULL);")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    let before = world.dump("acme");
    let run = world.run(&["install", "a", "--tenant", "acme", "--json"]);
    run.code(1);
    let failed = match world.tenants_url {
        Some(_) => {
            "seed `001.sql` of `a` failed at `seeds/postgres/001.sql` line 2: null value in column \"x\" of relation \"a_t\" violates not-null constraint"
        }
        None => "seed `001.sql` of `a` failed: NOT NULL constraint failed",
    };
    assert!(run.error()["message"].as_str().unwrap().contains(failed), "{}", run.stdout);
    assert_eq!(world.dump("acme"), before);
}
