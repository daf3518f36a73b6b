//! `modreg doctor` on a tenant file whose pages are damaged: found, with the backup as its fix.

use super::super::doctor::{doctor, found, world_with_history};
use super::super::storage::damage_table;

#[test]
fn damaged_pages_in_a_tenant_file_are_an_error_whose_fix_is_the_backup() {
    let world = world_with_history();
    let page = damage_table(&world.tenant_path("initech"), "a_t");
    assert!(page > 2, "a_t's root is on page {page}");
    let report = doctor(&world, &[], 1);
    assert_eq!(found(&report, "tenant.integrity"), [("initech".to_string(), "error".to_string())], "{report:#}");
    let finding = &report["findings"][0];
    assert!(finding["message"].as_str().unwrap().contains("is damaged"), "{finding}");
    assert!(finding["fix"].as_str().unwrap().contains("`modreg backup BACKUP --tenants`"), "{finding}");
    // The other tenants alone are healthy.
    let others = doctor(&world, &["--tenant", "acme", "--tenant", "globex"], 0);
    assert_eq!(others["checked"]["tenants"], 2);
    // The human table shows severity, tenant, check and fix.
    let human = world.run(&["doctor"]);
    human.exit(1);
    assert!(human.stdout.contains("tenant.integrity") && human.stdout.contains("initech"), "{}", human.stdout);
    assert!(human.stderr.contains("1 error(s), 0 warning(s)"), "{}", human.stderr);
}
