//! `modreg upgrade MODULE… (--tenant T… | --all-tenants) [--to VERSION] [--jobs N] [--dry-run]`

use clap::Args;

use crate::cli::operation::finish;
use crate::cli::{Done, Env, selection};
use crate::domain::name::ModuleName;
use crate::domain::{Error, Result};
use crate::ops::upgrade::{UpgradeOptions, upgrade};

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Modules to upgrade
    #[arg(required = true, value_name = "MODULE")]
    modules: Vec<String>,
    /// The tenant (repeat for several)
    #[arg(long = "tenant", short = 't', value_name = "TENANT", required_unless_present = "all_tenants")]
    tenants: Vec<String>,
    /// Every registered tenant that has the module
    #[arg(long, conflicts_with = "tenants")]
    all_tenants: bool,
    /// Upgrade to exactly this version instead of the newest that fits
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// Print the plan and stop
    #[arg(long)]
    dry_run: bool,
    /// Tenants worked on at once (default: the number of cores)
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Stop at the first tenant that fails
    #[arg(long)]
    fail_fast: bool,
}

pub fn run(args: UpgradeArgs, env: &Env) -> Result<Done> {
    let modules = args.modules.iter().map(|m| ModuleName::parse(m)).collect::<std::result::Result<Vec<_>, _>>()?;
    let to = args
        .to
        .as_deref()
        .map(|v| semver::Version::parse(v.trim_start_matches('=')).map_err(|e| Error::invalid(format!("`--to {v}` is not a version: {e}"))))
        .transpose()?;
    let options = UpgradeOptions {
        modules,
        tenants: selection(&args.tenants, args.all_tenants)?,
        to,
        dry_run: args.dry_run,
        fail_fast: args.fail_fast,
    };
    let mut ctx = env.context()?;
    if let Some(jobs) = args.jobs {
        ctx.settings.jobs = jobs.max(1);
    }
    let report = upgrade(&ctx, &options, &env.reporter)?;
    Ok(finish(env, &report, "upgrade"))
}
