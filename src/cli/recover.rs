//! `modreg recover`

use crate::cli::render::{table, text};
use crate::cli::{Done, Env};
use crate::domain::Result;
use crate::ops::recover::recover;

pub fn run(env: &Env) -> Result<Done> {
    let report = recover(&env.context()?, &env.reporter)?;
    env.output.data(&report, || {
        if report.tenants.is_empty() {
            return String::new();
        }
        let mut t = table(["tenant", "completed jobs", "rolled back jobs", "copy restored"]);
        for r in &report.tenants {
            let ids = |v: &[i64]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            t.add_row([r.tenant.clone(), ids(&r.completed), ids(&r.rolled_back), r.restored_copy.to_string()]);
        }
        text(t)
    });
    if report.tenants.is_empty() {
        env.output.status("Recovered", "nothing: no interrupted work was found");
    }
    Ok(Done::Success)
}
