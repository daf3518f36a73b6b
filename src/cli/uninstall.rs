//! `modreg uninstall MODULE… (--tenant T… | --all-tenants) [--purge] [--cascade] [--dry-run]`

use clap::Args;

use crate::cli::operation::finish;
use crate::cli::{Done, Env, selection};
use crate::domain::Result;
use crate::domain::name::ModuleName;
use crate::ops::uninstall::{UninstallOptions, uninstall};

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Modules to uninstall
    #[arg(required = true, value_name = "MODULE")]
    modules: Vec<String>,
    /// The tenant (repeat for several)
    #[arg(long = "tenant", short = 't', value_name = "TENANT", required_unless_present = "all_tenants")]
    tenants: Vec<String>,
    /// Every registered tenant
    #[arg(long, conflicts_with = "tenants")]
    all_tenants: bool,
    /// Drop the module's data without writing an archive
    #[arg(long)]
    purge: bool,
    /// Uninstall the modules that depend on it too
    #[arg(long)]
    cascade: bool,
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

pub fn run(args: UninstallArgs, env: &Env) -> Result<Done> {
    let modules = args.modules.iter().map(|m| ModuleName::parse(m)).collect::<std::result::Result<Vec<_>, _>>()?;
    let options = UninstallOptions {
        modules,
        tenants: selection(&args.tenants, args.all_tenants)?,
        purge: args.purge,
        cascade: args.cascade,
        dry_run: args.dry_run,
        fail_fast: args.fail_fast,
    };
    let mut ctx = env.context()?;
    if let Some(jobs) = args.jobs {
        ctx.settings.jobs = jobs.max(1);
    }
    let report = uninstall(&ctx, &options, &env.reporter)?;
    Ok(finish(env, &report, "uninstall"))
}
