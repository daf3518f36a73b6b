//! `modreg completions SHELL` and `modreg man`

use clap::Args;

use crate::cli::{Done, command};
use crate::domain::{Error, Result};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum, value_name = "SHELL")]
    shell: clap_complete::Shell,
}

pub fn run_completions(args: CompletionsArgs) -> Result<Done> {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "modreg", &mut out);
    crate::cli::output::print_stdout(&String::from_utf8_lossy(&out));
    Ok(Done::Success)
}

pub fn run_man() -> Result<Done> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command()).render(&mut out).map_err(|e| Error::internal(format!("cannot render the man page: {e}")))?;
    crate::cli::output::print_stdout(&String::from_utf8_lossy(&out));
    Ok(Done::Success)
}
