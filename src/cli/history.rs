//! `modreg history --tenant T [MODULE]`

use clap::Args;

use crate::cli::render;
use crate::cli::{Done, Env, tenant};
use crate::domain::Result;
use crate::domain::name::ModuleName;
use crate::ops::history::history;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The tenant (also one that was removed: its history is kept)
    #[arg(long, short = 't', value_name = "TENANT")]
    tenant: String,
    /// Only this module's versions
    #[arg(value_name = "MODULE")]
    module: Option<String>,
}

pub fn run(args: HistoryArgs, env: &Env) -> Result<Done> {
    let name = tenant(&args.tenant)?;
    let module = args.module.as_deref().map(ModuleName::parse).transpose()?;
    let report = history(&env.context()?, &name, module.as_ref())?;
    env.output.data(&report, || render::history(&report.history));
    Ok(Done::Success)
}
