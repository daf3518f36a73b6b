//! `modreg tenant add T…`, `tenant list`, `tenant move T --to HOST`, `tenant remove T… [--purge]`

use clap::{Args, Subcommand};

use crate::cli::render::{or_dash, table, text};
use crate::cli::{Done, Env};
use crate::domain::Result;
use crate::domain::name::HostName;
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
    /// Every tenant with its number of modules and its host
    List,
    /// Give a tenant a new home host (on a landlord that several hosts share)
    Move {
        #[arg(value_name = "TENANT")]
        tenant: String,
        /// The host whose data folder holds (or will hold) the tenant's file
        #[arg(long, value_name = "HOST")]
        to: String,
    },
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
                let mut t = table(["tenant", "modules", "host", "created"]);
                for r in &report.tenants {
                    t.add_row([r.name.clone(), r.modules.to_string(), or_dash(r.host.as_deref()), r.created_at.clone()]);
                }
                text(t)
            });
        }
        TenantCommand::Move { tenant, to } => {
            let (tenant, to) = (crate::cli::tenant(&tenant)?, HostName::parse(&to)?);
            let report = tenant::move_tenant(&env.context()?, &tenant, &to, &env.reporter)?;
            env.output.data(&report, String::new);
        }
        TenantCommand::Remove { tenants, purge } => {
            let tenants = parse_tenants(&tenants)?;
            let report = tenant::remove(&env.context()?, &tenants, purge, &env.reporter)?;
            env.output.data(&report, String::new);
        }
    }
    Ok(Done::Success)
}
