//! What applications read at run time: enable/disable, check, flags, events, stats.

use serde_json::{Value, json};

use crate::support::{Stderr, World, content, event_types};

fn world() -> World {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["subscription", "grant", "--tenant", "acme", "finance"]);
    world.ok(&["install", "finance", "--tenant", "acme"]);
    world
}

#[test]
fn disable_is_refused_while_enabled_dependents_exist_unless_cascade() {
    let world = world();
    let before = content(&world.dump("acme"));
    let run = world.run(&["disable", "membership", "--tenant", "acme", "--json"]);
    run.code(4);
    assert_eq!(run.error()["message"], "cannot disable `membership` for `acme`: enabled modules depend on it: `digital_card`, `finance`");
    let report = world.json(&["disable", "membership", "--tenant", "acme", "--cascade"]);
    let order: Vec<&str> = report["plan"].as_array().unwrap().iter().map(|p| p["module"].as_str().unwrap()).collect();
    assert_eq!(order, ["finance", "digital_card", "membership"]);
    assert!(report["jobs"].as_array().unwrap().iter().all(|j| j["kind"] == "disable" && j["status"] == "completed"));
    let after = content(&world.dump("acme"));
    let data = |lines: &[String]| lines.iter().filter(|l| !l.starts_with("_modreg_enabled:")).cloned().collect::<Vec<_>>();
    assert_eq!(data(&after), data(&before), "disabling touched the tenant's data");
    // The tenant file records the new state (for a landlord rebuilt from it).
    let enabled: Vec<&String> = after.iter().filter(|l| l.starts_with("_modreg_enabled:")).collect();
    let off = if world.tenants_url.is_some() { "'false'" } else { "0" };
    let expected: Vec<String> =
        ["digital_card", "finance", "membership"].iter().map(|m| format!("_modreg_enabled: ('{m}', {off})")).collect();
    assert_eq!(enabled, expected.iter().collect::<Vec<_>>());
    let status = world.json(&["status", "--tenant", "acme"]);
    assert!(status["tenants"][0]["modules"].as_array().unwrap().iter().all(|m| m["enabled"] == false));
    // Disabling what is disabled does nothing.
    assert_eq!(world.json(&["disable", "finance", "--tenant", "acme"])["summary"]["unchanged"], 1);
}

#[test]
fn enable_requires_enabled_dependencies() {
    let world = world();
    world.ok(&["disable", "membership", "--tenant", "acme", "--cascade"]);
    let run = world.run(&["enable", "finance", "--tenant", "acme", "--json"]);
    run.code(4);
    assert!(run.error()["message"].as_str().unwrap().contains("its dependency `digital_card` is disabled"));
    assert!(run.error()["hint"].as_str().unwrap().contains("modreg enable digital_card --tenant acme"));
    world.ok(&["enable", "membership", "--tenant", "acme"]);
    world.ok(&["enable", "digital_card", "--tenant", "acme"]);
    world.ok(&["enable", "finance", "--tenant", "acme"]);
    world.run(&["enable", "forum", "--tenant", "acme"]).code(3);
    let kinds: Vec<String> = world.jobs().iter().map(|j| j["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "enable").count(), 3);
}

#[test]
fn check_answers_with_its_exit_code() {
    let world = world();
    world.ok(&["check", "--tenant", "acme", "finance"]);
    world.ok(&["check", "--tenant", "acme", "finance.invoicing"]);
    let off = world.run(&["check", "--tenant", "acme", "finance.recurring_billing"]);
    off.exit(1);
    assert!(off.stdout.is_empty() && off.stderr.is_empty(), "check is quiet: {off:?}");
    world.run(&["check", "--tenant", "acme", "forum"]).exit(1);
    world.run(&["check", "--tenant", "acme", "nonexistent"]).code(3);
    world.run(&["check", "--tenant", "ghost", "finance"]).code(3);
    world.run(&["check", "--tenant", "acme", "finance.nope"]).code(3);
    world.run(&["check", "--tenant", "acme", "Finance"]).code(2);
    world.ok(&["disable", "finance", "--tenant", "acme"]);
    let disabled = world.run(&["check", "--tenant", "acme", "finance", "--json"]);
    disabled.exit(1);
    assert_eq!(disabled.json(), json!({"tenant": "acme", "module": "finance", "allowed": false, "reason": "disabled"}));
    world.run(&["check", "--tenant", "acme", "finance.invoicing"]).exit(1);
}

#[test]
fn flags_follow_install_upgrade_and_uninstall() {
    let world = World::new();
    world
        .module("app-1", "app", "1.0.0")
        .flag("keep", true)
        .flag("dropped", true)
        .flag("changed", false)
        .migration("V1__a", "CREATE TABLE app_t (x TEXT);")
        .write();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "app", "--tenant", "acme"]);
    world.ok(&["flags", "set", "--tenant", "acme", "app.changed=true"]);
    world
        .module("app-2", "app", "2.0.0")
        .flag("keep", false)
        .flag("changed", false)
        .flag("added", true)
        .migration("V1__a", "CREATE TABLE app_t (x TEXT);")
        .write();
    world.ok(&["upgrade", "app", "--tenant", "acme"]);
    let flags: Vec<(String, bool)> = world.json(&["flags", "list", "--tenant", "acme", "app"])["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["flag"].as_str().unwrap().into(), f["value"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, [("added".into(), true), ("changed".into(), true), ("keep".into(), true)]);
    world.run(&["flags", "set", "--tenant", "acme", "app.dropped=true"]).code(3);
    world.run(&["flags", "set", "--tenant", "acme", "app.keep=maybe"]).code(2);
    world.run(&["flags", "set", "--tenant", "acme", "ghost.keep=true"]).code(3);
    world.ok(&["uninstall", "app", "--tenant", "acme"]);
    assert_eq!(world.json(&["flags", "list", "--tenant", "acme"])["flags"], json!([]));
    world.run(&["flags", "list", "--tenant", "acme", "app"]).code(3);
}

#[test]
fn every_kind_of_change_appends_its_event() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "elections", "--tenant", "acme"]);
    world.ok(&["flags", "set", "--tenant", "acme", "elections.live_results=true"]);
    world.ok(&["flags", "set", "--tenant", "acme", "elections.live_results=true"]);
    world.ok(&["disable", "elections", "--tenant", "acme"]);
    world.ok(&["enable", "elections", "--tenant", "acme"]);
    world.ok(&["uninstall", "elections", "--tenant", "acme", "--purge"]);
    world.module("broken", "broken", "1.0.0").migration("V1__b", "CREATE TABLE b (x TEXT);\nSELECT nope();").write();
    world.run(&["install", "broken", "--tenant", "acme"]).code(1);
    world.ok(&["tenant", "remove", "acme"]);
    let all = world.events(None);
    assert_eq!(
        event_types(&all),
        [
            "tenant.added",
            "module.installed",
            "module.installed",
            "flag.changed",
            "module.disabled",
            "module.enabled",
            "module.uninstalled",
            "module.install_failed",
            "tenant.removed",
        ]
    );
    let flag = &all[3];
    assert_eq!((flag["tenant"].as_str(), flag["module"].as_str()), (Some("acme"), Some("elections")));
    assert_eq!(flag["data"], json!({"flag": "live_results", "value": true}));
    let installed = &all[2];
    assert_eq!(installed["version"], "1.0.0");
    assert!(installed["job_id"].as_i64().is_some() && installed["at"].as_str().unwrap().ends_with('Z'));
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let after = world.events(Some(ids[5]));
    assert_eq!(event_types(&after), ["module.uninstalled", "module.install_failed", "tenant.removed"]);
}

#[test]
fn events_follow_waits_for_new_ones() {
    let world = World::new();
    world.ok(&["tenant", "add", "first"]);
    let mut follower = world.spawn(&["events", "--follow", "--after", "1"]);
    let stdout = follower.stdout.take().unwrap();
    let (tx, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Caught up, it says it follows; it is still running and has printed nothing.
    let mut stderr = Stderr::of(&mut follower);
    stderr.wait_for("Following events after 1");
    assert!(follower.try_wait().unwrap().is_none(), "--follow stopped instead of waiting");
    assert!(printed.try_recv().is_err(), "there was nothing after event 1 to print");
    // An event written now is printed.
    world.ok(&["tenant", "add", "second"]);
    let line = printed.recv_timeout(std::time::Duration::from_secs(30)).expect("--follow printed nothing");
    follower.kill().unwrap();
    let _ = follower.wait();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!((event["type"].as_str(), event["tenant"].as_str()), (Some("tenant.added"), Some("second")));
}

#[test]
fn the_event_command_gets_each_event_at_least_once_and_failures_are_retried() {
    let world = World::new();
    let inbox = world.path().join("inbox.jsonl");
    let broken = world.path().join("broken");
    // Fails while `broken` exists; otherwise appends the event it is given.
    let script = world.write("deliver.sh", &format!("if [ -e {} ]; then exit 1; fi\ncat >> {}\n", broken.display(), inbox.display()));
    let command = format!("sh {}", script.display());
    let env = [("MODREG_EVENT_COMMAND", command.as_str())];
    world.run_with(&["tenant", "add", "a"], &env).code(0);
    std::fs::write(&broken, "").unwrap();
    let run = world.run_with(&["tenant", "add", "b"], &env);
    run.code(0);
    assert!(run.stderr.contains("retried by the next run"), "{}", run.stderr);
    let delivered: Vec<Value> = std::fs::read_to_string(&inbox).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(delivered.len(), 1);
    std::fs::remove_file(&broken).unwrap();
    world.run_with(&["tenant", "add", "c"], &env).code(0);
    let delivered: Vec<String> = std::fs::read_to_string(&inbox)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["tenant"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(delivered, ["a", "b", "c"]);
}

#[test]
fn stats_count_rates_durations_reasons_and_modules() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["install", "elections", "--tenant", "acme", "--tenant", "globex"]);
    world.module("broken", "broken", "1.0.0").migration("V1__b", "CREATE TABLE b (x TEXT);\nSELECT nope();").write();
    world.run(&["install", "broken", "--tenant", "acme"]).code(1);
    world.ok(&["uninstall", "elections", "--tenant", "globex", "--purge"]);
    let stats = world.json(&["stats"]);
    assert_eq!(stats["jobs"], 6);
    let success = stats["success_rate"].as_f64().unwrap();
    assert!((success - 5.0 / 6.0).abs() < 1e-9, "{stats}");
    let install = stats["per_kind"].as_array().unwrap().iter().find(|k| k["kind"] == "install").unwrap().clone();
    assert_eq!((install["jobs"].as_u64(), install["rolled_back"].as_u64()), (Some(5), Some(1)));
    assert!(install["p50_ms"].is_u64() && install["p95_ms"].is_u64());
    assert_eq!(stats["per_day"][0]["installs"], 5);
    assert_eq!(stats["per_day"][0]["uninstalls"], 1);
    let unknown = if world.tenants_url.is_some() { "function nope() does not exist" } else { "no such function: nope" };
    assert!(stats["failure_reasons"][0]["reason"].as_str().unwrap().contains(unknown), "{stats}");
    let modules: Vec<(String, u64)> = stats["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["module"].as_str().unwrap().into(), m["tenants"].as_u64().unwrap()))
        .collect();
    assert_eq!(modules, [("membership".into(), 2), ("elections".into(), 1)]);
    let since = world.json(&["stats", "--since", "2999-01-01"]);
    assert_eq!(since["jobs"], 0);
    world.run(&["stats", "--since", "yesterday"]).code(2);
    let human = world.ok(&["stats"]).stdout;
    assert!(human.contains("success rate 83.3%"), "{human}");
}
