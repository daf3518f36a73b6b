//! `modreg modules list` and `modreg modules show NAME`

use clap::{Args, Subcommand};

use crate::cli::render::{or_dash, table, text};
use crate::cli::{Done, Env};
use crate::domain::Result;
use crate::ops::modules;
use crate::store::LandlordAccess;

#[derive(Debug, Args)]
pub struct ModulesArgs {
    #[command(subcommand)]
    command: ModulesCommand,
}

#[derive(Debug, Subcommand)]
enum ModulesCommand {
    /// Every module with its versions
    List,
    /// One module in detail: each version, its dependencies, flags, hooks and migrations
    Show {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

fn deps(map: &std::collections::BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

pub fn run(args: ModulesArgs, env: &Env) -> Result<Done> {
    if !env.settings.modules_dir.exists() {
        return Err(crate::domain::Error::not_found(format!("the modules folder `{}` does not exist", env.settings.modules_dir.display()))
            .with_hint("pass `--modules DIR` or set `MODREG_MODULES`"));
    }
    let ctx = env.context_for(LandlordAccess::ReadOnlyOrEmpty)?;
    match args.command {
        ModulesCommand::List => {
            let report = modules::list(&ctx);
            for d in &report.diagnostics {
                env.output.warning(&format!("skipping an invalid module: {d}"));
            }
            env.output.data(&report, || {
                let mut t = table(["module", "latest", "versions", "depends on", "subscription", "description"]);
                for m in &report.modules {
                    let latest =
                        if m.deprecated { format!("{} (deprecated)", or_dash(m.latest.as_deref())) } else { or_dash(m.latest.as_deref()) };
                    t.add_row([
                        m.name.clone(),
                        latest,
                        m.versions.join(", "),
                        deps(&m.dependencies),
                        if m.requires_subscription { "required".into() } else { "-".into() },
                        m.description.clone(),
                    ]);
                }
                text(t)
            });
        }
        ModulesCommand::Show { name } => {
            let report = modules::show(&ctx, &name)?;
            env.output.data(&report, || {
                let mut out = format!("{} (latest {})\n", report.name, or_dash(report.latest.as_deref()));
                if !report.dependents.is_empty() {
                    out.push_str(&format!("needed by: {}\n", report.dependents.join(", ")));
                }
                for v in &report.versions {
                    let mut t = table(["", ""]);
                    t.add_row(["version".to_string(), v.version.clone()]);
                    t.add_row(["description".to_string(), v.description.clone()]);
                    t.add_row(["folder".to_string(), or_dash(v.folder.as_deref())]);
                    t.add_row(["dependencies".to_string(), deps(&v.dependencies)]);
                    t.add_row(["optional".to_string(), deps(&v.optional_dependencies)]);
                    t.add_row(["subscription".to_string(), if v.requires_subscription { "required".into() } else { "-".into() }]);
                    t.add_row(["flags".to_string(), v.features.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")]);
                    t.add_row(["hooks".to_string(), v.hooks.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")]);
                    t.add_row(["migrations".to_string(), v.migrations.join(", ")]);
                    t.add_row(["seeds".to_string(), v.seeds.join(", ")]);
                    t.add_row(["deprecation".to_string(), or_dash(v.deprecation.as_deref())]);
                    out.push_str(&text(t));
                }
                out
            });
        }
    }
    Ok(Done::Success)
}
