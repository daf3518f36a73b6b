//! `modreg subscription grant|revoke|list --tenant T [MODULE] [--until DATE]`

use clap::{Args, Subcommand};

use crate::cli::render::{or_dash, table, text};
use crate::cli::{Done, Env, tenant};
use crate::domain::manifest::parse_date;
use crate::domain::name::ModuleName;
use crate::domain::{Error, Result};
use crate::ops::subscription;

#[derive(Debug, Args)]
pub struct SubscriptionArgs {
    #[command(subcommand)]
    command: SubscriptionCommand,
}

#[derive(Debug, Subcommand)]
enum SubscriptionCommand {
    /// Give a tenant a subscription to a module
    Grant {
        #[arg(long, short = 't', value_name = "TENANT")]
        tenant: String,
        #[arg(value_name = "MODULE")]
        module: String,
        /// Last day the subscription covers (YYYY-MM-DD); open-ended without
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
    },
    /// End a tenant's subscription to a module
    Revoke {
        #[arg(long, short = 't', value_name = "TENANT")]
        tenant: String,
        #[arg(value_name = "MODULE")]
        module: String,
    },
    /// A tenant's subscriptions
    List {
        #[arg(long, short = 't', value_name = "TENANT")]
        tenant: String,
        #[arg(value_name = "MODULE")]
        module: Option<String>,
    },
}

pub fn run(args: SubscriptionArgs, env: &Env) -> Result<Done> {
    match args.command {
        SubscriptionCommand::Grant { tenant: name, module, until } => {
            let (name, module) = (tenant(&name)?, ModuleName::parse(&module)?);
            let until = until
                .as_deref()
                .map(|d| {
                    parse_date(d).ok_or_else(|| Error::invalid(format!("`--until {d}` is not a date")).with_hint("write it as YYYY-MM-DD"))
                })
                .transpose()?;
            let report = subscription::grant(&env.context()?, &name, &module, until)?;
            env.output.data(&report, String::new);
            let until = report.until.as_deref().map(|u| format!(" until {u}")).unwrap_or_default();
            env.output.status("Granted", &format!("{} to {}{until}", report.module, report.tenant));
        }
        SubscriptionCommand::Revoke { tenant: name, module } => {
            let (name, module) = (tenant(&name)?, ModuleName::parse(&module)?);
            let report = subscription::revoke(&env.context()?, &name, &module)?;
            env.output.data(&report, String::new);
            let verb = if report.changed { "Revoked" } else { "Unchanged" };
            env.output.status(verb, &format!("{} for {}", report.module, report.tenant));
        }
        SubscriptionCommand::List { tenant: name, module } => {
            let name = tenant(&name)?;
            let module = module.as_deref().map(ModuleName::parse).transpose()?;
            let report = subscription::list(&env.context()?, &name, module.as_ref())?;
            env.output.data(&report, || {
                let mut t = table(["module", "active", "until", "granted", "revoked"]);
                for s in &report.subscriptions {
                    t.add_row([
                        s.record.module.clone(),
                        if s.active { "yes".into() } else { "no".into() },
                        or_dash(s.record.until.as_deref()),
                        s.record.granted_at.clone(),
                        or_dash(s.record.revoked_at.as_deref()),
                    ]);
                }
                text(t)
            });
        }
    }
    Ok(Done::Success)
}
