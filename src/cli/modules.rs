//! `modreg modules list` and `modreg modules show NAME`

use clap::{Args, Subcommand};

use crate::cli::render::{key_values, or_dash, table, text};
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
                    out.push_str(&key_values([
                        ("version", v.version.clone()),
                        ("description", v.description.clone()),
                        ("folder", or_dash(v.folder.as_deref())),
                        ("dependencies", deps(&v.dependencies)),
                        ("optional", deps(&v.optional_dependencies)),
                        ("subscription", if v.requires_subscription { "required".into() } else { "-".into() }),
                        ("flags", v.features.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")),
                        ("hooks", v.hooks.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")),
                        ("migrations", v.migrations.join(", ")),
                        ("seeds", v.seeds.join(", ")),
                        ("deprecation", or_dash(v.deprecation.as_deref())),
                    ]));
                }
                out
            });
        }
    }
    Ok(Done::Success)
}
