//! `modreg status [--tenant T]`

use clap::Args;

use crate::cli::render::{table, text};
use crate::cli::{Done, Env, tenant};
use crate::domain::Result;
use crate::ops::status::status;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, short = 't', value_name = "TENANT")]
    tenant: Option<String>,
}

pub fn run(args: StatusArgs, env: &Env) -> Result<Done> {
    let name = args.tenant.as_deref().map(tenant).transpose()?;
    let report = status(&env.context()?, name.as_ref(), &env.reporter)?;
    env.output.data(&report, || {
        let mut t = table(["tenant", "module", "version", "enabled", "latest", "notes"]);
        for tenant in &report.tenants {
            if tenant.modules.is_empty() {
                t.add_row([tenant.name.clone(), "-".into(), "-".into(), "-".into(), "-".into(), "no modules".into()]);
            }
            for m in &tenant.modules {
                let mut notes = Vec::new();
                if m.update_available {
                    notes.push("update available".to_string());
                }
                if let Some(d) = &m.deprecation {
                    notes.push(format!("deprecated: {d}"));
                }
                if m.past_sunset {
                    notes.push("past sunset".into());
                }
                t.add_row([
                    tenant.name.clone(),
                    m.name.clone(),
                    m.version.clone(),
                    if m.enabled { "yes".into() } else { "no".into() },
                    m.latest.clone().unwrap_or_else(|| "-".into()),
                    notes.join("; "),
                ]);
            }
            if tenant.unfinished_jobs > 0 {
                t.add_row([
                    tenant.name.clone(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    format!("{} unfinished job(s): run `modreg recover`", tenant.unfinished_jobs),
                ]);
            }
        }
        text(t)
    });
    Ok(Done::Success)
}
