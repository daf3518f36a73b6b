//! What commands print: `-q` prints nothing but errors, `--json` exactly one document.

use crate::support::World;

/// The sample catalog, tenants `acme` and `globex`, and a job of each kind.
fn busy_world() -> World {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["subscription", "grant", "--tenant", "acme", "finance"]);
    world
}

#[test]
fn quiet_prints_nothing_but_errors_on_every_command() {
    let world = busy_world();
    let commands: &[&[&str]] = &[
        &["tenant", "add", "initech"],
        &["tenant", "list"],
        &["subscription", "grant", "--tenant", "globex", "finance"],
        &["subscription", "list", "--tenant", "acme"],
        &["install", "membership@=1.0.0", "--tenant", "acme", "--dry-run"],
        &["install", "membership@=1.0.0", "--tenant", "acme"],
        &["install", "forum", "--tenant", "acme", "--tenant", "globex"],
        &["install", "forum", "--all-tenants", "--dry-run"],
        &["upgrade", "membership", "--tenant", "acme", "--dry-run"],
        &["upgrade", "membership", "--tenant", "acme"],
        &["disable", "forum", "--tenant", "acme"],
        &["enable", "forum", "--tenant", "acme"],
        &["flags", "list", "--tenant", "acme"],
        &["check", "--tenant", "acme", "forum"],
        &["status"],
        &["jobs", "list"],
        &["jobs", "show", "1"],
        &["modules", "list"],
        &["modules", "show", "finance"],
        &["graph"],
        &["graph", "--tenant", "acme", "--format", "dot"],
        &["validate"],
        &["stats"],
        &["recover"],
        &["uninstall", "forum", "--tenant", "acme", "--dry-run"],
        &["uninstall", "forum", "--all-tenants"],
        &["tenant", "remove", "initech"],
    ];
    for args in commands {
        let mut quiet = args.to_vec();
        quiet.push("-q");
        let run = world.run(&quiet);
        assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "modreg {}", quiet.join(" "));
        // The same command without -q has something to say, so -q is what hid it.
        if !args.contains(&"check") {
            let loud = world.run(args);
            assert!(!(loud.stdout.is_empty() && loud.stderr.is_empty()), "modreg {} says nothing even without -q", args.join(" "));
        }
    }
    let failed = world.run(&["install", "ghost", "--tenant", "acme", "-q"]);
    failed.code(3);
    assert_eq!(failed.stdout, "");
    assert_eq!(failed.stderr, "error: module `ghost` is not in the catalog\nhint: run `modreg modules list` to see the catalog\n");
}

#[test]
fn quiet_with_json_keeps_its_one_document() {
    let world = busy_world();
    let run = world.run(&["install", "forum", "--tenant", "acme", "--json", "-q"]);
    run.code(0);
    assert_eq!(run.stderr, "");
    assert_eq!(run.json()["summary"]["completed"], 2);
    let failed = world.run(&["install", "ghost", "--tenant", "acme", "--json", "-q"]);
    failed.code(3);
    assert_eq!(failed.stderr, "");
    assert_eq!(failed.error()["kind"], "not_found");
}
