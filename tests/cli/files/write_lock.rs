//! The tenant file's own write lock, as an application writing to the file holds it.

use crate::support::World;

#[test]
fn an_application_writing_to_the_tenant_file_makes_modreg_wait_then_report_busy() {
    let world = World::new();
    world.module("a", "a", "1.0.0").migration("V1__a", "CREATE TABLE a_t (x TEXT);").write();
    world.ok(&["tenant", "add", "acme"]);
    let app = world.tenant_db("acme");
    app.execute_batch("CREATE TABLE app_t (x TEXT); BEGIN IMMEDIATE; INSERT INTO app_t VALUES (1);").unwrap();
    let run = world.run(&["install", "a", "--tenant", "acme", "--lock-timeout", "0.3", "--json"]);
    run.code(6);
    assert_eq!(run.error()["kind"], "busy");
    assert!(!run.stdout.contains("database is locked"), "{}", run.stdout);
    assert_eq!(world.jobs().last().unwrap()["status"], "rolled_back");
    app.execute_batch("COMMIT").unwrap();
    world.ok(&["install", "a", "--tenant", "acme"]);
}
