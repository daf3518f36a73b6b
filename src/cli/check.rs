//! `modreg check --tenant T MODULE[.FLAG]`: quiet; the exit code is the answer.

use clap::Args;

use crate::cli::{Done, Env, tenant};
use crate::domain::Result;
use crate::ops::check::{CheckTarget, check};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long, short = 't', value_name = "TENANT")]
    tenant: String,
    #[arg(value_name = "MODULE[.FLAG]")]
    target: String,
}

pub fn run(args: CheckArgs, env: &Env) -> Result<Done> {
    let name = tenant(&args.tenant)?;
    let target = CheckTarget::parse(&args.target)?;
    let report = check(&env.context()?, &name, &target)?;
    if env.output.json {
        env.output.json_document(&report);
    } else if env.output.verbose > 0 && !env.output.quiet {
        let answer = match &report.reason {
            None => "yes".to_string(),
            Some(reason) => format!("no: {reason}"),
        };
        crate::cli::output::print_stdout(&format!("{answer}\n"));
    }
    Ok(if report.allowed { Done::Success } else { Done::Exit(1) })
}
