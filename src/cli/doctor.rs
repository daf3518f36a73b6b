//! `modreg doctor [--tenant T…] [--rebuild-landlord]`

use clap::Args;

use crate::cli::render;
use crate::cli::{Done, Env};
use crate::domain::Result;
use crate::ops::Settings;
use crate::ops::doctor::{DoctorOptions, Severity, doctor};
use crate::ops::parse_tenants;
use crate::ops::rebuild_landlord::rebuild_landlord;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check only this tenant (repeat for several); the landlord's file is checked always
    #[arg(long = "tenant", short = 't', value_name = "TENANT", conflicts_with = "rebuild_landlord")]
    tenants: Vec<String>,
    /// Rebuild a lost landlord from this host's tenant files (refused while it has tenants)
    #[arg(long)]
    rebuild_landlord: bool,
    /// Tenants checked at once (default: the number of cores)
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

pub fn run(args: DoctorArgs, env: &Env) -> Result<Done> {
    let options = DoctorOptions { tenants: parse_tenants(&args.tenants)? };
    let mut settings = env.settings.clone();
    if let Some(jobs) = args.jobs {
        settings.jobs = jobs.max(1);
    }
    if args.rebuild_landlord {
        return rebuild(&settings, env);
    }
    let report = doctor(&settings, &options, &env.reporter)?;
    env.output.data(&report, || if report.findings.is_empty() { String::new() } else { render::findings(&report.findings) });
    let tenants = match report.checked.tenants {
        1 => "1 tenant".to_string(),
        n => format!("{n} tenants"),
    };
    if report.healthy {
        env.output.status("Healthy", &format!("the landlord and {tenants}: nothing to fix"));
    } else {
        let (errors, warnings) = (report.count(Severity::Error), report.count(Severity::Warning));
        env.output.status("Checked", &format!("the landlord and {tenants}: {errors} error(s), {warnings} warning(s)"));
    }
    if !report.checked.in_progress.is_empty() {
        env.output.warning(&format!(
            "another process was working on {}: only their files' integrity was checked; run `modreg doctor` again when it is done",
            report.checked.in_progress.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(if report.healthy { Done::Success } else { Done::Exit(1) })
}

/// `--rebuild-landlord`: what was rebuilt on stderr, what needs a look on stdout, what is
/// lost as a warning; exit 1 when a tenant file could not be rebuilt from.
fn rebuild(settings: &Settings, env: &Env) -> Result<Done> {
    let report = rebuild_landlord(settings, &env.reporter)?;
    env.output.data(&report, || render::rebuild(&report));
    let modules: usize = report.tenants.iter().map(|t| t.modules).sum();
    let flags: usize = report.tenants.iter().map(|t| t.flags).sum();
    env.output.status(
        "Rebuilt",
        &format!(
            "the landlord from {} tenant file(s): {modules} module(s), {flags} flag(s); {} catalog version(s) from the modules folder, {} kept file(s)",
            report.tenants.len(),
            report.recorded_versions,
            report.kept_files
        ),
    );
    env.output.warning(&format!("lost with the landlord, since no tenant file records them: {}", report.lost.join("; ")));
    if !report.not_rebuilt.is_empty() {
        env.output.warning(&format!("{} tenant file(s) could not be rebuilt from: see the table", report.not_rebuilt.len()));
    }
    Ok(if report.not_rebuilt.is_empty() { Done::Success } else { Done::Exit(1) })
}
