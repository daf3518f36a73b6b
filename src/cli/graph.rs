//! `modreg graph [--format text|dot|mermaid] [--tenant T]`

use clap::{Args, ValueEnum};

use crate::cli::{Done, Env, tenant};
use crate::domain::Result;
use crate::domain::graph::GraphFormat;
use crate::ops::graph::{catalog_graph, tenant_graph};
use crate::store::LandlordAccess;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Dot,
    Mermaid,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// The graph of what this tenant has, instead of the catalog's
    #[arg(long, short = 't', value_name = "TENANT")]
    tenant: Option<String>,
}

pub fn run(args: GraphArgs, env: &Env) -> Result<Done> {
    let format = match args.format {
        Format::Text => GraphFormat::Text,
        Format::Dot => GraphFormat::Dot,
        Format::Mermaid => GraphFormat::Mermaid,
    };
    let graph = match args.tenant {
        Some(name) => {
            let name = tenant(&name)?;
            tenant_graph(&env.context()?, &name)?
        }
        None => catalog_graph(&env.context_for(LandlordAccess::ReadOnlyOrEmpty)?),
    };
    env.output.data(&graph, || graph.render(format));
    Ok(Done::Success)
}
