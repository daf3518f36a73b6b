//! `modreg backup DEST [--tenants]`

use std::path::PathBuf;

use clap::Args;

use crate::cli::render::{self, bytes_text};
use crate::cli::{Done, Env};
use crate::domain::Result;
use crate::ops::backup::{BackupOptions, backup};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// A new (or empty) folder for `landlord.db`, `tenants/*.db` and `manifest.json`
    #[arg(value_name = "DEST")]
    dest: PathBuf,
    /// Copy every tenant file of this host too, each consistent in itself
    #[arg(long)]
    tenants: bool,
    /// Tenant files copied at once (default: the number of cores)
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

pub fn run(args: BackupArgs, env: &Env) -> Result<Done> {
    let mut ctx = env.context_for(crate::store::LandlordAccess::ReadOnly)?;
    if let Some(jobs) = args.jobs {
        ctx.settings.jobs = jobs.max(1);
    }
    let report = backup(&ctx, &BackupOptions { dest: args.dest.clone(), tenants: args.tenants }, &env.reporter)?;
    env.output.data(&report, || render::backup(&report));
    let bytes = report.landlord.iter().chain(&report.tenants).map(|f| f.bytes).sum();
    let landlord = if report.landlord.is_some() { "the landlord and " } else { "" };
    env.output.status(
        "Backed up",
        &format!("{landlord}{} tenant file(s) to `{}` ({})", report.tenants.len(), args.dest.display(), bytes_text(bytes)),
    );
    for failed in &report.failed {
        env.output.warning(&format!("tenant `{}` was not copied: {}", failed.tenant, failed.error));
    }
    Ok(if report.failed.is_empty() { Done::Success } else { Done::Exit(1) })
}
