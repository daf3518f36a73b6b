//! `modreg validate [PATH…]`: exit 0 valid, 2 invalid; touches no state.

use std::path::PathBuf;

use clap::Args;

use crate::cli::{Done, Env};
use crate::domain::diagnostic::Severity;
use crate::domain::{ErrorKind, Result};
use crate::ops::validate::validate;
use crate::store::{LandlordAccess, module_source};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifests, module folders or catalogs to check (default: the modules folder)
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub fn run(args: ValidateArgs, env: &Env) -> Result<Done> {
    let modules_dir = &env.settings.modules_dir;
    let paths = if args.paths.is_empty() { vec![modules_dir.clone()] } else { args.paths };
    let ctx = env.context_for(LandlordAccess::ReadOnlyOrEmpty)?;
    let report = validate(&ctx, module_source(paths).as_ref());
    env.output.data(&report, || report.diagnostics.iter().map(|d| format!("{d}\n")).collect());
    let errors = report.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = report.diagnostics.len() - errors;
    if report.valid {
        env.output.status("Validated", &format!("{} module version(s), {warnings} warning(s)", report.modules));
        Ok(Done::Success)
    } else {
        env.output.status("Failed", &format!("{errors} error(s), {warnings} warning(s) in {} module version(s)", report.modules));
        Ok(Done::Exit(ErrorKind::Invalid.exit_code()))
    }
}
