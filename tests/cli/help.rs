use crate::support::World;

#[test]
fn top_level_help() {
    let world = World::new();
    let help = world.run_bare(&["--help"]).code(0).stdout.clone();
    crate::support::snapshot_settings().bind(|| insta::assert_snapshot!("cli__help__top_level_help", help));
}

#[test]
fn install_help() {
    let world = World::new();
    let help = world.run_bare(&["install", "--help"]).code(0).stdout.clone();
    crate::support::snapshot_settings().bind(|| insta::assert_snapshot!("cli__help__install_help", help));
}

#[test]
fn completions_and_man_page_are_generated() {
    let world = World::new();
    assert!(world.ok(&["completions", "bash"]).stdout.contains("_modreg()"));
    assert!(world.ok(&["completions", "zsh"]).stdout.contains("#compdef modreg"));
    let man = world.ok(&["man"]).stdout;
    assert!(man.contains(".TH modreg") && man.contains("install"), "{}", &man[..200.min(man.len())]);
}

#[test]
fn usage_errors_exit_2_and_are_json_with_json() {
    let world = World::new();
    let run = world.run(&["install", "finance"]);
    run.code(2);
    let run = world.run(&["install", "finance", "--json"]);
    run.code(2);
    assert_eq!(run.error()["kind"], "invalid");
    let run = world.run(&["frobnicate"]);
    run.code(2);
}
