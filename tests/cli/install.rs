use serde_json::json;

use crate::support::World;

fn names(value: &serde_json::Value, key: &str) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v[key].as_str().unwrap().to_string()).collect()
}

#[test]
fn finance_for_acme_installs_its_dependencies_first_once_subscribed() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    let empty = world.dump("acme");

    let refused = world.run(&["install", "finance", "--tenant", "acme", "--json"]);
    refused.code(5);
    assert_eq!(refused.error()["kind"], "subscription");
    assert!(refused.error()["hint"].as_str().unwrap().contains("modreg subscription grant --tenant acme finance"));
    assert_eq!(world.dump("acme"), empty, "a refused install touched the tenant file");
    assert!(world.jobs().is_empty());

    world.ok(&["subscription", "grant", "--tenant", "acme", "finance"]);
    let report = world.json(&["install", "finance", "--tenant", "acme"]);
    assert_eq!(names(&report["plan"], "module"), ["membership", "digital_card", "finance"]);
    assert_eq!(report["plan"][0]["reason"], "required by digital_card");
    assert_eq!(report["plan"][2]["to_version"], "1.2.0");
    assert_eq!(report["summary"], json!({"completed": 3, "failed": 0, "unchanged": 0}));
    let jobs = report["jobs"].as_array().unwrap();
    assert!(jobs.iter().all(|j| j["status"] == "completed" && j["actor"] == "tester" && j["batch"] == jobs[0]["batch"]));
    assert!(world.has_object("acme", "invoices") && world.has_object("acme", "outstanding_invoices"));
    assert_eq!(world.count("acme", "tax_rates"), 4);
    assert_eq!(world.count("acme", "membership_types"), 4);
    let flags = world.json(&["flags", "list", "--tenant", "acme", "finance"]);
    assert_eq!(
        flags["flags"],
        json!([
            {"module": "finance", "flag": "invoicing", "value": true, "updated_at": flags["flags"][0]["updated_at"]},
            {"module": "finance", "flag": "recurring_billing", "value": false, "updated_at": flags["flags"][1]["updated_at"]}
        ])
    );

    let before = world.dump("acme");
    let again = world.json(&["install", "finance", "--tenant", "acme"]);
    assert_eq!(again["summary"], json!({"completed": 0, "failed": 0, "unchanged": 1}));
    assert!(again["jobs"].as_array().unwrap().is_empty());
    assert_eq!(world.dump("acme"), before);
    assert_eq!(world.jobs().len(), 3);
}

#[test]
fn a_dry_run_prints_the_plan_and_touches_nothing() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    let before = world.dump("acme");
    let run = world.ok(&["install", "elections", "forum", "--tenant", "acme", "--dry-run"]);
    assert!(run.stdout.contains("membership") && run.stdout.contains("required by elections"), "{}", run.stdout);
    assert!(run.stderr.contains("nothing was done"), "{}", run.stderr);
    let report = world.json(&["install", "elections", "forum", "--tenant", "acme", "--dry-run"]);
    assert_eq!(names(&report["plan"], "module"), ["membership", "elections", "forum"]);
    assert_eq!(report["dry_run"], true);
    assert_eq!(world.dump("acme"), before);
    assert!(world.jobs().is_empty());
}

#[test]
fn not_found_invalid_and_dependency_errors_have_their_exit_codes() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    let cases: [(&[&str], i32, &str); 5] = [
        (&["install", "nope", "--tenant", "acme"], 3, "not_found"),
        (&["install", "elections", "--tenant", "ghost"], 3, "not_found"),
        (&["install", "elections@^9", "--tenant", "acme"], 3, "not_found"),
        (&["install", "elections@banana", "--tenant", "acme"], 2, "invalid"),
        (&["install", "elections", "membership@=1.0.0", "--tenant", "acme", "--dry-run"], 0, ""),
    ];
    for (args, code, kind) in cases {
        let mut args = args.to_vec();
        args.push("--json");
        let run = world.run(&args);
        run.code(code);
        if code != 0 {
            assert_eq!(run.error()["kind"], kind, "{args:?}");
        }
    }
}

#[test]
fn a_dependency_installed_at_an_unsuitable_version_names_both_requirements() {
    let world = World::new();
    world.module("base/1.0.0", "base", "1.0.0").migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY);").write();
    world.module("base/2.0.0", "base", "2.0.0").migration("V1__base", "CREATE TABLE base_t (id INTEGER PRIMARY KEY);").write();
    world.module("old", "old", "1.0.0").dep("base", "^1").migration("V1__old", "CREATE TABLE old_t (id INTEGER);").write();
    world.module("keeper", "keeper", "1.0.0").dep("base", ">=2").migration("V1__keeper", "CREATE TABLE keeper_t (id INTEGER);").write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "keeper", "--tenant", "acme"]);
    let before = world.dump("acme");
    let run = world.run(&["install", "old", "--tenant", "acme", "--json"]);
    run.code(4);
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(message.contains("`old 1.0.0` requires `base ^1`, but `base 2.0.0` is installed"), "{message}");
    assert!(message.contains("`>=2` from `keeper 1.0.0` (installed)"), "{message}");
    assert_eq!(run.error()["kind"], "dependency");
    assert_eq!(world.dump("acme"), before);
}

#[test]
fn a_cycle_is_refused_with_its_path() {
    let world = World::new();
    world.module("a", "a", "1.0.0").dep("b", "^1").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.module("b", "b", "1.0.0").dep("a", "^1").migration("V1__b", "CREATE TABLE b_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme"]);
    let run = world.run(&["install", "a", "--tenant", "acme", "--json"]);
    run.code(4);
    assert_eq!(run.error()["message"], "dependency cycle: a -> b -> a");
}

#[test]
fn an_external_subscription_command_decides_when_configured() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme", "globex", "initech"]);
    // Allows acme, denies globex, fails for anyone else.
    let script = world.write("billing.sh", "case \"$1\" in acme) exit 0;; globex) exit 1;; *) echo 'billing is down' >&2; exit 3;; esac\n");
    let command = format!("sh {}", script.display());
    let env = [("MODREG_SUBSCRIPTION_COMMAND", command.as_str())];
    world.run_with(&["install", "finance", "--tenant", "acme"], &env).code(0);
    let denied = world.run_with(&["install", "finance", "--tenant", "globex", "--json"], &env);
    denied.code(5);
    assert_eq!(denied.error()["kind"], "subscription");
    let before = world.dump("initech");
    let broken = world.run_with(&["install", "finance", "--tenant", "initech", "--json"], &env);
    broken.code(1);
    assert!(broken.error()["message"].as_str().unwrap().contains("billing is down"), "{}", broken.stdout);
    assert_eq!(world.dump("initech"), before);
}

#[test]
fn an_expired_or_revoked_subscription_does_not_count() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["subscription", "grant", "--tenant", "acme", "finance", "--until", "2020-01-31"]);
    world.run(&["install", "finance", "--tenant", "acme"]).code(5);
    world.ok(&["subscription", "grant", "--tenant", "acme", "finance", "--until", "2999-12-31"]);
    let list = world.json(&["subscription", "list", "--tenant", "acme"]);
    assert_eq!(list["subscriptions"][0]["active"], true);
    world.ok(&["subscription", "revoke", "--tenant", "acme", "finance"]);
    world.run(&["install", "finance", "--tenant", "acme"]).code(5);
    world.run(&["subscription", "grant", "--tenant", "acme", "finance", "--until", "next week"]).code(2);
    world.run(&["subscription", "grant", "--tenant", "acme", "nope"]).code(3);
}

#[test]
fn hooks_run_in_the_module_folder_with_the_job_variables() {
    let world = World::new();
    let out = world.path().join("hook-env.txt");
    let (database, visible) = match world.tenants_url {
        Some(_) => (
            "$MODREG_TENANT_URL $MODREG_TENANT_SCHEMA",
            // The job's table, not yet committed, on the connection the hook is lent.
            "test -z \"${MODREG_TENANT_DB:-}\" && psql -qAt -v ON_ERROR_STOP=1 \"$MODREG_TENANT_URL\" -c \"SELECT count(*) FROM a_t\" >/dev/null",
        ),
        None => ("$MODREG_TENANT_DB", "test -f \"$MODREG_TENANT_DB\""),
    };
    let script = format!(
        "{{ pwd; echo \"$MODREG_TENANT $MODREG_MODULE $MODREG_VERSION $MODREG_STEP $MODREG_JOB_ID\"; echo \"{database}\"; }} >> {}",
        out.display()
    );
    let dir = world
        .module("a", "a", "1.2.3")
        .migration("V1__a", "CREATE TABLE a_t (x TEXT);")
        .hook("pre_install", &script)
        .hook("post_install", &format!("{script}; echo tables-now-visible; {visible}"))
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "a", "--tenant", "acme"]);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dir = dir.canonicalize().unwrap();
    assert_eq!(lines[0], dir.to_str().unwrap());
    assert_eq!(lines[1], "acme a 1.2.3 pre_install 1");
    match &world.tenants_url {
        // A connection modreg lends it, inside the job's transaction: a port and password
        // of its own.
        Some(url) => {
            let database = url.rsplit('/').next().unwrap();
            assert!(lines[2].starts_with("postgres://postgres:") && lines[2].contains("@127.0.0.1:"), "{}", lines[2]);
            assert!(lines[2].ends_with(&format!("/{database}?sslmode=disable acme")), "{}", lines[2]);
            assert!(!lines[2].contains(url.as_str()), "{}", lines[2]);
        }
        None => assert_eq!(lines[2], world.tenant_path("acme").canonicalize().unwrap().to_str().unwrap()),
    }
    assert_eq!(lines[4], "acme a 1.2.3 post_install 1");
    let job = world.json(&["jobs", "show", "1"]);
    let steps: Vec<String> = job["job"]["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(steps.first().map(String::as_str), Some("pre_install hook"));
    assert_eq!(steps.last().map(String::as_str), Some("post_install hook"));
    assert!(steps.contains(&"migrate V1__a".to_string()));
    let post = job["job"]["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(post["output"], "tables-now-visible\n");
    assert!(post["duration_ms"].is_u64());
}

#[test]
fn verbose_log_lines_name_job_tenant_module_and_step() {
    let world = World::new();
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme"]);
    let run = world.ok(&["install", "a", "--tenant", "acme", "-v"]);
    assert!(run.stderr.contains("[job 1 tenant=acme module=a step=record objects]"), "{}", run.stderr);
}

#[test]
fn installed_objects_are_recorded_as_the_modules_own() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "digital_card", "--tenant", "acme"]);
    let owner = |name: &str| world.text("acme", &format!("SELECT DISTINCT module FROM _modreg_objects WHERE name = '{name}'"));
    assert_eq!(owner("members"), "membership");
    assert_eq!(owner("digital_cards"), "digital_card");
    assert_eq!(owner("members_status_revokes_digital_cards"), "digital_card", "a trigger on a dependency's table belongs to its creator");
    let engine_own = if world.tenants_url.is_some() { "name LIKE 'pg\\_%' OR name LIKE '\\_modreg%'" } else { "name LIKE 'sqlite_%'" };
    let sequence = world.int("acme", &format!("SELECT count(*) FROM _modreg_objects WHERE {engine_own}"));
    assert_eq!(sequence, 0, "the engine's own objects belong to no module");
}

#[test]
fn optional_dependencies_are_not_installed_for_you_but_order_the_plan() {
    let world = World::new();
    world.module("chat", "chat", "1.0.0").migration("V1__chat", "CREATE TABLE chat_t (x TEXT);").write();
    world
        .module("board", "board", "1.0.0")
        .optional("chat", "^1")
        .flag("threads", true)
        .subscription()
        .migration("V1__board", "CREATE TABLE board_t (x TEXT);")
        .write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["subscription", "grant", "--tenant", "acme", "board"]);
    world.ok(&["subscription", "grant", "--tenant", "globex", "board"]);
    let alone = world.json(&["install", "board", "--tenant", "acme"]);
    assert_eq!(names(&alone["plan"], "module"), ["board"]);
    let both = world.json(&["install", "board", "chat", "--tenant", "globex"]);
    assert_eq!(names(&both["plan"], "module"), ["chat", "board"]);
    assert_eq!(world.json(&["flags", "list", "--tenant", "globex"])["flags"][0]["flag"], "threads");
}

#[test]
fn jobs_list_filters_by_tenant_module_status_and_batch_newest_first() {
    let world = World::new();
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.module("b", "b", "1.0.0").migration("V1__b", "CREATE TABLE b_t (x TEXT); CREATE TABLE broken (;").write();
    world.ok(&["tenant", "add", "acme", "globex"]);
    let acme = world.json(&["install", "a", "--tenant", "acme"]);
    world.ok(&["install", "a", "--tenant", "globex"]);
    world.run(&["install", "b", "--tenant", "acme"]).code(1);

    let ids = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["jobs", "list"];
        all.extend_from_slice(args);
        world.json(&all)["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_u64().unwrap()).collect()
    };
    assert_eq!(ids(&[]), [3, 2, 1]);
    assert_eq!(ids(&["--tenant", "acme"]), [3, 1]);
    assert_eq!(ids(&["--module", "a"]), [2, 1]);
    assert_eq!(ids(&["--status", "rolled_back"]), [3]);
    assert_eq!(ids(&["--tenant", "acme", "--status", "completed"]), [1]);
    assert_eq!(ids(&["--batch", acme["jobs"][0]["batch"].as_str().unwrap()]), [1]);
    assert_eq!(ids(&["--limit", "1"]), [3]);
    assert_eq!(ids(&["--tenant", "nobody"]), Vec::<u64>::new());
    world.run(&["jobs", "list", "--status", "done"]).code(2);
}
