//! `modreg flags list --tenant T [MODULE]` and `modreg flags set --tenant T MODULE.FLAG=true|false`

use clap::{Args, Subcommand};

use crate::cli::render::{table, text};
use crate::cli::{Done, Env, tenant};
use crate::domain::Result;
use crate::domain::name::ModuleName;
use crate::ops::flags::{self, FlagAssignment};

#[derive(Debug, Args)]
pub struct FlagsArgs {
    #[command(subcommand)]
    command: FlagsCommand,
}

impl FlagsArgs {
    pub fn changes_state(&self) -> bool {
        matches!(self.command, FlagsCommand::Set { .. })
    }
}

#[derive(Debug, Subcommand)]
enum FlagsCommand {
    /// A tenant's flags (of one module)
    List {
        #[arg(long, short = 't', value_name = "TENANT")]
        tenant: String,
        #[arg(value_name = "MODULE")]
        module: Option<String>,
    },
    /// Set a flag: `finance.invoicing=false`
    Set {
        #[arg(long, short = 't', value_name = "TENANT")]
        tenant: String,
        #[arg(value_name = "MODULE.FLAG=true|false")]
        assignment: String,
    },
}

pub fn run(args: FlagsArgs, env: &Env) -> Result<Done> {
    match args.command {
        FlagsCommand::List { tenant: name, module } => {
            let name = tenant(&name)?;
            let module = module.as_deref().map(ModuleName::parse).transpose()?;
            let report = flags::list(&env.context()?, &name, module.as_ref())?;
            env.output.data(&report, || {
                let mut t = table(["module", "flag", "value"]);
                for f in &report.flags {
                    t.add_row([f.module.clone(), f.flag.clone(), f.value.to_string()]);
                }
                text(t)
            });
        }
        FlagsCommand::Set { tenant: name, assignment } => {
            let name = tenant(&name)?;
            let assignment = FlagAssignment::parse(&assignment)?;
            let report = flags::set(&env.context()?, &name, &assignment, &env.reporter)?;
            env.output.data(&report, String::new);
            let verb = if report.changed { "Set" } else { "Unchanged" };
            env.output.status(verb, &format!("{}.{}={} for {}", report.module, report.flag, report.value, report.tenant));
        }
    }
    Ok(Done::Success)
}
