//! `modreg jobs list [--tenant T] [--module M] [--status S] [--limit N]` and `modreg jobs show ID`

use clap::{Args, Subcommand};

use crate::cli::render::{cut, key_values, or_dash, step_milliseconds, table, text, wrapped};
use crate::cli::{Done, Env, tenant};
use crate::domain::job::JobStatus;
use crate::domain::name::ModuleName;
use crate::domain::{Error, Result};
use crate::ops::jobs;
use crate::store::JobFilter;

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Recent jobs, newest first
    List {
        #[arg(long, short = 't', value_name = "TENANT")]
        tenant: Option<String>,
        #[arg(long, short = 'm', value_name = "MODULE")]
        module: Option<String>,
        /// pending, running, completed, failed or rolled_back
        #[arg(long, short = 's', value_name = "STATUS")]
        status: Option<String>,
        /// Jobs of one command
        #[arg(long, value_name = "BATCH")]
        batch: Option<String>,
        #[arg(long, short = 'n', value_name = "N", default_value = "50")]
        limit: usize,
    },
    /// One job with its steps, durations, error and hook output
    Show {
        #[arg(value_name = "ID")]
        id: i64,
    },
}

pub fn run(args: JobsArgs, env: &Env) -> Result<Done> {
    match args.command {
        JobsCommand::List { tenant: name, module, status, batch, limit } => {
            let status = status
                .as_deref()
                .map(|s| {
                    JobStatus::parse(s).ok_or_else(|| {
                        Error::invalid(format!("unknown job status `{s}`"))
                            .with_hint("use pending, running, completed, failed or rolled_back")
                    })
                })
                .transpose()?;
            let filter = JobFilter {
                tenant: name.as_deref().map(tenant).transpose()?.map(|t| t.to_string()),
                module: module.as_deref().map(ModuleName::parse).transpose()?.map(|m| m.to_string()),
                status,
                batch,
                limit: Some(limit),
                ..JobFilter::default()
            };
            let report = jobs::list(&env.context()?, &filter)?;
            env.output.data(&report, || {
                let mut t = table(["id", "tenant", "module", "kind", "status", "from", "to", "started", "error"]);
                for j in &report.jobs {
                    t.add_row([
                        j.id.to_string(),
                        j.tenant.clone(),
                        j.module.clone(),
                        j.kind.to_string(),
                        j.status.to_string(),
                        or_dash(j.from_version.as_deref()),
                        or_dash(j.to_version.as_deref()),
                        or_dash(j.started_at.as_deref()),
                        cut(j.error.as_deref().unwrap_or(""), 80),
                    ]);
                }
                text(t)
            });
        }
        JobsCommand::Show { id } => {
            let report = jobs::show(&env.context()?, id)?;
            env.output.data(&report, || {
                let j = &report.job.job;
                let mut out = key_values([
                    ("job", j.id.to_string()),
                    ("batch", j.batch.clone()),
                    ("tenant", j.tenant.clone()),
                    ("module", j.module.clone()),
                    ("kind", j.kind.to_string()),
                    ("status", j.status.to_string()),
                    ("from", or_dash(j.from_version.as_deref())),
                    ("to", or_dash(j.to_version.as_deref())),
                    ("actor", j.actor.clone()),
                    ("host", or_dash(j.host.as_deref())),
                    ("started", or_dash(j.started_at.as_deref())),
                    ("finished", or_dash(j.finished_at.as_deref())),
                    ("error", or_dash(j.error.as_deref())),
                ]);
                let mut steps = table(["step", "status", "ms", "detail"]);
                for s in &report.job.steps {
                    steps.add_row([
                        s.name.clone(),
                        s.status.as_str().to_string(),
                        step_milliseconds(s),
                        s.detail.clone().unwrap_or_default(),
                    ]);
                }
                out.push_str(&text(wrapped(steps)));
                for s in report.job.steps.iter().filter(|s| s.output.is_some()) {
                    out.push_str(&format!("--- output of {} ---\n{}\n", s.name, s.output.as_deref().unwrap_or_default().trim_end()));
                }
                out
            });
        }
    }
    Ok(Done::Success)
}
