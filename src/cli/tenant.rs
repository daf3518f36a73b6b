//! `modreg tenant add T…`, `tenant list`, `tenant remove T… [--purge]`

use clap::{Args, Subcommand};

use crate::cli::render::{table, text};
use crate::cli::{Done, Env};
use crate::domain::Result;
use crate::ops::{parse_tenants, tenant};

#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(subcommand)]
    command: TenantCommand,
}

impl TenantArgs {
    pub fn changes_state(&self) -> bool {
        !matches!(self.command, TenantCommand::List)
    }
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Register tenants and create their database files
    Add {
        #[arg(required = true, value_name = "TENANT")]
        tenants: Vec<String>,
    },
    /// Every tenant with its number of modules
    List,
    /// Remove tenants; their files are archived unless `--purge`
    Remove {
        #[arg(required = true, value_name = "TENANT")]
        tenants: Vec<String>,
        /// Delete the tenant files instead of archiving them
        #[arg(long)]
        purge: bool,
    },
}

pub fn run(args: TenantArgs, env: &Env) -> Result<Done> {
    match args.command {
        TenantCommand::Add { tenants } => {
            let tenants = parse_tenants(&tenants)?;
            let report = tenant::add(&env.context()?, &tenants, &env.reporter)?;
            env.output.data(&report, String::new);
        }
        TenantCommand::List => {
            let report = tenant::list(&env.context()?)?;
            env.output.data(&report, || {
                let mut t = table(["tenant", "modules", "created"]);
                for r in &report.tenants {
                    t.add_row([r.name.clone(), r.modules.to_string(), r.created_at.clone()]);
                }
                text(t)
            });
        }
        TenantCommand::Remove { tenants, purge } => {
            let tenants = parse_tenants(&tenants)?;
            let report = tenant::remove(&env.context()?, &tenants, purge, &env.reporter)?;
            env.output.data(&report, String::new);
        }
    }
    Ok(Done::Success)
}
