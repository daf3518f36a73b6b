//! `modreg revert JOB [--yes]`

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;

use crate::cli::operation::finish;
use crate::cli::{Done, Env};
use crate::domain::{Error, Result};
use crate::ops::revert;

#[derive(Debug, Args)]
pub struct RevertArgs {
    /// The id of a completed upgrade job (see `modreg jobs list`)
    #[arg(value_name = "JOB")]
    job: i64,
    /// Do not ask: data written since the upgrade is lost
    #[arg(long, short = 'y')]
    yes: bool,
}

pub fn run(args: RevertArgs, env: &Env) -> Result<Done> {
    let ctx = env.context()?;
    let plan = revert::plan(&ctx, args.job)?;
    if !args.yes {
        let question = format!(
            "revert `{}` of `{}` from {} to {}? Data written since job {} is lost",
            plan.module, plan.tenant, plan.from_version, plan.to_version, plan.job
        );
        if env.output.json || !std::io::stdin().is_terminal() {
            return Err(Error::invalid(format!("{question}: pass `--yes` to confirm")));
        }
        eprint!("{question}. Continue? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            env.output.status("Cancelled", "nothing was changed");
            return Ok(Done::Success);
        }
    }
    env.catch_interruptions()?;
    let report = revert::revert(&ctx, args.job, &env.reporter)?;
    finish(env, &report, "revert")
}
