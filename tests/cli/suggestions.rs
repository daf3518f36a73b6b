//! "Did you mean": an unknown module, tenant, flag or job is not found (exit 3), and the
//! hint names the close name that exists, as cargo does for a mistyped command.

use crate::support::World;

/// The sample catalog, with finance (and what it needs) installed for `acme`.
fn world() -> World {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["subscription", "grant", "--tenant", "acme", "finance"]);
    world.ok(&["install", "finance", "--tenant", "acme"]);
    world
}

/// Runs `args`, which must be not found, and returns the `hint:` line.
#[track_caller]
fn hint(world: &World, args: &[&str]) -> String {
    let run = world.run(args);
    run.code(3);
    let hints = run.stderr_lines("hint:");
    assert_eq!(hints.len(), 1, "modreg {}: {}", args.join(" "), run.stderr);
    hints[0].to_string()
}

#[test]
fn a_mistyped_module_is_suggested_wherever_a_module_is_looked_up() {
    let world = world();
    let similar = "hint: a module with a similar name exists: `finance`";
    assert_eq!(hint(&world, &["install", "finanse", "--tenant", "acme"]), similar);
    assert_eq!(hint(&world, &["modules", "show", "finanse"]), similar);
    assert_eq!(hint(&world, &["check", "--tenant", "acme", "finanse"]), similar);
    assert_eq!(hint(&world, &["upgrade", "membershp", "--tenant", "acme"]), "hint: a module with a similar name exists: `membership`");
    assert_eq!(
        hint(&world, &["flags", "list", "--tenant", "acme", "finanse"]),
        "hint: a module with a similar name is installed: `finance`"
    );
    // Nothing close: the hint says where to look instead of guessing.
    assert_eq!(hint(&world, &["install", "ledger", "--tenant", "acme"]), "hint: run `modreg modules list` to see the catalog");
    // With --json, the hint is in the error object.
    let run = world.run(&["install", "finanse", "--tenant", "acme", "--json"]);
    run.code(3);
    assert_eq!(run.error()["hint"], "a module with a similar name exists: `finance`");
    assert!(world.jobs().iter().all(|j| j["module"] != "finanse"), "a job for an unknown module");
}

#[test]
fn a_mistyped_tenant_is_suggested_for_one_tenant_and_for_a_fleet() {
    let world = world();
    assert_eq!(hint(&world, &["install", "forum", "--tenant", "acm"]), "hint: a tenant with a similar name exists: `acme`");
    assert_eq!(hint(&world, &["status", "--tenant", "glbex"]), "hint: a tenant with a similar name exists: `globex`");
    assert_eq!(
        hint(&world, &["install", "forum", "--tenant", "acme", "--tenant", "globx"]),
        "hint: a tenant with a similar name exists: `globex`"
    );
    assert_eq!(hint(&world, &["status", "--tenant", "initech"]), "hint: add it with `modreg tenant add initech`");
    assert!(!world.has_object("acme", "forum_threads") && !world.has_tenant_db("acm"));
}

#[test]
fn a_mistyped_flag_is_suggested_when_set_and_when_checked() {
    let world = world();
    let similar = "hint: a flag with a similar name exists: `invoicing`";
    assert_eq!(hint(&world, &["flags", "set", "--tenant", "acme", "finance.invoicng=false"]), similar);
    assert_eq!(hint(&world, &["check", "--tenant", "acme", "finance.invoicin"]), similar);
    assert_eq!(
        hint(&world, &["flags", "set", "--tenant", "acme", "finance.ledger=false"]),
        "hint: run `modreg flags list --tenant acme finance` to see its flags"
    );
    let flags = world.json(&["flags", "list", "--tenant", "acme", "finance"]);
    assert!(flags["flags"].as_array().unwrap().iter().any(|f| f["flag"] == "invoicing" && f["value"] == true), "{flags}");
}

#[test]
fn an_unknown_job_id_hints_at_the_newest_job() {
    let world = World::sample();
    assert_eq!(hint(&world, &["jobs", "show", "7"]), "hint: no job has run yet");
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "membership", "--tenant", "acme"]);
    let newest = world.jobs().last().unwrap()["id"].as_i64().unwrap();
    assert_eq!(
        hint(&world, &["jobs", "show", &(newest + 40).to_string()]),
        format!("hint: the newest job is {newest}; run `modreg jobs list` to see recent jobs")
    );
    assert_eq!(
        hint(&world, &["revert", &(newest + 40).to_string(), "--yes"]),
        format!("hint: the newest job is {newest}; run `modreg jobs list --status completed` to find it")
    );
}

#[test]
fn a_mistyped_command_line_flag_is_suggested_by_the_parser() {
    let world = world();
    let run = world.run(&["install", "forum", "--tenat", "acme"]);
    run.exit(2);
    assert!(run.stderr.contains("a similar argument exists: '--tenant'"), "{}", run.stderr);
}
