//! `modreg install MODULE[@REQ]… (--tenant T… | --all-tenants) [--dry-run] [--restore]`

use clap::Args;

use crate::cli::operation::finish;
use crate::cli::{Done, Env, selection};
use crate::domain::Result;
use crate::domain::resolver::Request;
use crate::ops::install::{InstallOptions, install};

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Modules to install, with an optional cargo-style requirement: `finance`, `finance@^1.2`, `finance@=1.2.0`
    #[arg(required = true, value_name = "MODULE[@REQ]")]
    modules: Vec<String>,
    /// The tenant (repeat for several)
    #[arg(long = "tenant", short = 't', value_name = "TENANT", required_unless_present = "all_tenants")]
    tenants: Vec<String>,
    /// Every registered tenant
    #[arg(long, conflicts_with = "tenants")]
    all_tenants: bool,
    /// Print the plan and stop
    #[arg(long)]
    dry_run: bool,
    /// Bring modules back from their latest uninstall archive
    #[arg(long)]
    restore: bool,
    /// Tenants worked on at once (default: the number of cores)
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Stop at the first tenant that fails
    #[arg(long)]
    fail_fast: bool,
}

pub fn run(args: InstallArgs, env: &Env) -> Result<Done> {
    let requests = args.modules.iter().map(|m| Request::parse(m)).collect::<Result<Vec<_>>>()?;
    let options = InstallOptions {
        requests,
        tenants: selection(&args.tenants, args.all_tenants)?,
        dry_run: args.dry_run,
        restore: args.restore,
        fail_fast: args.fail_fast,
    };
    let mut ctx = env.context()?;
    if let Some(jobs) = args.jobs {
        ctx.settings.jobs = jobs.max(1);
    }
    let report = install(&ctx, &options, &env.reporter)?;
    Ok(finish(env, &report, "install"))
}
