//! `modreg doctor [--tenant T…]`

use clap::Args;

use crate::cli::render;
use crate::cli::{Done, Env};
use crate::domain::Result;
use crate::ops::doctor::{DoctorOptions, Severity, doctor};
use crate::ops::parse_tenants;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check only this tenant (repeat for several); the landlord's file is checked always
    #[arg(long = "tenant", short = 't', value_name = "TENANT")]
    tenants: Vec<String>,
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
