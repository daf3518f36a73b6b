//! What SQLite alone lets module SQL try on a tenant file: attaching other files (another
//! tenant's, the landlord), detaching, loading extensions; refused by the sandbox. On
//! PostgreSQL tenants, reaching another tenant's schema, the landlord and the server is
//! refused by the module's role (`tests/tenant/postgres.rs`).

use super::super::sandbox::{refused, world};

#[test]
fn module_sql_cannot_reach_other_files() {
    let world = world();
    let victim = world.tenant_path("victim");
    let landlord = world.data().join("landlord.db");
    refused(
        &world,
        "attach_tenant",
        &format!("ATTACH DATABASE '{}' AS v;\nCREATE TABLE stolen AS SELECT * FROM v.secrets;", victim.display()),
        "ATTACH is not allowed",
    );
    refused(&world, "attach_landlord", &format!("ATTACH '{}' AS l;\nDELETE FROM l.jobs;", landlord.display()), "ATTACH is not allowed");
    refused(&world, "attach_expr", "ATTACH DATABASE 'file:' || 'x.db' AS x;", "ATTACH is not allowed");
    refused(&world, "detach", "DETACH DATABASE temp;", "DETACH is not allowed");
    refused(&world, "load", "SELECT load_extension('/tmp/evil.so');", "loading extensions is not allowed");
    assert!(world.jobs().iter().all(|j| j["status"] != "running"));
    let secrets: String = world.tenant_db("victim").query_row("SELECT s FROM secrets", [], |r| r.get(0)).unwrap();
    assert_eq!(secrets, "victim data");
}
