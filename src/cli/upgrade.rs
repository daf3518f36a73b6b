//! `modreg upgrade MODULE… (--tenant T… | --all-tenants) [--to VERSION] [--jobs N] [--dry-run]`

use clap::Args;

use crate::cli::operation::finish;
use crate::cli::{Done, Env, FleetArgs};
use crate::domain::name::ModuleName;
use crate::domain::{Error, Result};
use crate::ops::upgrade::{UpgradeOptions, upgrade};

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Modules to upgrade
    #[arg(required = true, value_name = "MODULE")]
    modules: Vec<String>,
    #[command(flatten)]
    fleet: FleetArgs,
    /// Upgrade to exactly this version instead of the newest that fits
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// Print the plan and stop
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: UpgradeArgs, env: &Env) -> Result<Done> {
    let modules = args.modules.iter().map(|m| ModuleName::parse(m)).collect::<std::result::Result<Vec<_>, _>>()?;
    let to = args
        .to
        .as_deref()
        .map(|v| semver::Version::parse(v.trim_start_matches('=')).map_err(|e| Error::invalid(format!("`--to {v}` is not a version: {e}"))))
        .transpose()?;
    let options = UpgradeOptions { modules, tenants: args.fleet.selection()?, to, dry_run: args.dry_run, fail_fast: args.fleet.fail_fast };
    let ctx = args.fleet.context(env)?;
    env.catch_interruptions()?;
    let report = upgrade(&ctx, &options, &env.reporter)?;
    finish(env, &report, "upgrade")
}
