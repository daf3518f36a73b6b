//! `modreg install MODULE[@REQ]… (--tenant T… | --all-tenants) [--dry-run] [--restore]`

use clap::Args;

use crate::cli::operation::finish;
use crate::cli::{Done, Env, FleetArgs};
use crate::domain::Result;
use crate::domain::resolver::Request;
use crate::ops::install::{InstallOptions, install};

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Modules to install, with an optional cargo-style requirement: `finance`, `finance@^1.2`, `finance@=1.2.0`
    #[arg(required = true, value_name = "MODULE[@REQ]")]
    modules: Vec<String>,
    #[command(flatten)]
    fleet: FleetArgs,
    /// Print the plan and stop
    #[arg(long)]
    dry_run: bool,
    /// Bring modules back from their latest uninstall archive
    #[arg(long)]
    restore: bool,
}

pub fn run(args: InstallArgs, env: &Env) -> Result<Done> {
    let requests = args.modules.iter().map(|m| Request::parse(m)).collect::<Result<Vec<_>>>()?;
    let options = InstallOptions {
        requests,
        tenants: args.fleet.selection()?,
        dry_run: args.dry_run,
        restore: args.restore,
        fail_fast: args.fleet.fail_fast,
    };
    let ctx = args.fleet.context(env)?;
    env.catch_interruptions()?;
    let report = install(&ctx, &options, &env.reporter)?;
    finish(env, &report, "install")
}
