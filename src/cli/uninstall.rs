//! `modreg uninstall MODULE… (--tenant T… | --all-tenants) [--purge] [--cascade] [--dry-run]`

use clap::Args;

use crate::cli::operation::finish;
use crate::cli::{Done, Env, FleetArgs};
use crate::domain::Result;
use crate::domain::name::ModuleName;
use crate::ops::uninstall::{UninstallOptions, uninstall};

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Modules to uninstall
    #[arg(required = true, value_name = "MODULE")]
    modules: Vec<String>,
    #[command(flatten)]
    fleet: FleetArgs,
    /// Drop the module's data without writing an archive
    #[arg(long)]
    purge: bool,
    /// Uninstall the modules that depend on it too
    #[arg(long)]
    cascade: bool,
    /// Print the plan and stop
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: UninstallArgs, env: &Env) -> Result<Done> {
    let modules = args.modules.iter().map(|m| ModuleName::parse(m)).collect::<std::result::Result<Vec<_>, _>>()?;
    let options = UninstallOptions {
        modules,
        tenants: args.fleet.selection()?,
        purge: args.purge,
        cascade: args.cascade,
        dry_run: args.dry_run,
        fail_fast: args.fleet.fail_fast,
    };
    let ctx = args.fleet.context(env)?;
    env.catch_interruptions()?;
    let report = uninstall(&ctx, &options, &env.reporter)?;
    finish(env, &report, "uninstall")
}
