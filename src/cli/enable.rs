//! `modreg enable MODULE --tenant T` and `modreg disable MODULE --tenant T [--cascade]`

use clap::Args;

use crate::cli::operation::finish;
use crate::cli::{Done, Env, tenant};
use crate::domain::Result;
use crate::domain::name::ModuleName;
use crate::ops::{disable, enable};

#[derive(Debug, Args)]
pub struct EnableArgs {
    #[arg(value_name = "MODULE")]
    module: String,
    #[arg(long, short = 't', value_name = "TENANT")]
    tenant: String,
}

#[derive(Debug, Args)]
pub struct DisableArgs {
    #[arg(value_name = "MODULE")]
    module: String,
    #[arg(long, short = 't', value_name = "TENANT")]
    tenant: String,
    /// Disable the enabled modules that depend on it too
    #[arg(long)]
    cascade: bool,
}

pub fn run_enable(args: EnableArgs, env: &Env) -> Result<Done> {
    let (module, tenant) = (ModuleName::parse(&args.module)?, tenant(&args.tenant)?);
    let ctx = env.context()?;
    env.catch_interruptions()?;
    let report = enable::enable(&ctx, &tenant, &module, &env.reporter)?;
    finish(env, &report, "enable")
}

pub fn run_disable(args: DisableArgs, env: &Env) -> Result<Done> {
    let (module, tenant) = (ModuleName::parse(&args.module)?, tenant(&args.tenant)?);
    let ctx = env.context()?;
    env.catch_interruptions()?;
    let report = disable::disable(&ctx, &tenant, &module, args.cascade, &env.reporter)?;
    finish(env, &report, "disable")
}
