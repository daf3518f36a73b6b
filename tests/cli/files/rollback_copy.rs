//! The rollback copy beside a tenant's file, as a crash may leave it half-written.

use crate::support::World;

#[test]
fn a_half_written_rollback_copy_is_discarded() {
    let world = World::new();
    world.ok(&["tenant", "add", "acme"]);
    world.sql("acme", "CREATE TABLE app_data (x INTEGER); INSERT INTO app_data VALUES (1);");
    std::fs::write(world.data().join("tenants/acme.db.rollback.tmp"), b"half").unwrap();
    let before = world.dump("acme");
    let report = world.json(&["recover"]);
    assert_eq!(report["tenants"][0]["discarded_copies"], 1);
    assert!(!world.data().join("tenants/acme.db.rollback.tmp").exists());
    assert_eq!(world.dump("acme"), before);
}
