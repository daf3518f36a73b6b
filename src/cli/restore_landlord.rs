//! `modreg restore-landlord FILE`

use std::path::PathBuf;

use clap::Args;

use crate::cli::{Done, Env};
use crate::domain::Result;
use crate::ops::restore_landlord::restore_landlord;

#[derive(Debug, Args)]
pub struct RestoreLandlordArgs {
    /// A landlord backup: the `landlord.db` of a folder `modreg backup` wrote
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(args: RestoreLandlordArgs, env: &Env) -> Result<Done> {
    let report = restore_landlord(&env.settings, &args.file, &env.reporter)?;
    env.output.data(&report, String::new);
    if let Some(unfinished) = report.unfinished_jobs.filter(|n| *n > 0) {
        env.output.warning(&format!(
            "the restored landlord has {unfinished} unfinished job(s) from when the backup was taken: `modreg recover` ends them"
        ));
    }
    Ok(Done::Success)
}
