//! `modreg graph [--format text|dot|mermaid] [--tenant T]`: the dependency graph of the
//! catalog (newest version of each module), or of what a tenant has.

use std::sync::Arc;

use crate::domain::Result;
use crate::domain::catalog::Catalog;
use crate::domain::graph::{Edge, Graph, Node};
use crate::domain::module::ModuleVersion;
use crate::domain::name::TenantName;
use crate::ops::Context;
use crate::ops::catalog::module_version;

fn edges(module: &ModuleVersion, present: impl Fn(&str) -> bool) -> Vec<Edge> {
    module
        .manifest
        .all_dependencies()
        .filter(|(d, _, optional)| !optional || present(d.as_str()))
        .map(|(d, req, optional)| Edge { from: module.name().to_string(), to: d.to_string(), requirement: req.to_string(), optional })
        .collect()
}

/// The catalog's graph, from the newest version of each module.
pub fn catalog_graph(ctx: &Context) -> Graph {
    let (catalog, _) = Catalog::new(ctx.modules.discover().versions);
    let latest: Vec<Arc<ModuleVersion>> =
        catalog.names().filter_map(|n| catalog.latest(n).or_else(|| catalog.versions(n).first()).cloned()).collect();
    let mut graph = Graph::default();
    for m in &latest {
        let note = m.manifest.deprecation.as_ref().map(|_| "deprecated".to_string());
        graph.nodes.push(Node { name: m.name().to_string(), version: m.version().to_string(), note });
        graph.edges.extend(edges(m, |d| catalog.contains(d)));
    }
    graph
}

/// What one tenant has, with the edges its installed versions declare.
pub fn tenant_graph(ctx: &Context, tenant: &TenantName) -> Result<Graph> {
    ctx.require_tenant(tenant)?;
    let installed = ctx.landlord.installed(tenant.as_str())?;
    let mut graph = Graph::default();
    for m in &installed {
        let note = (!m.enabled).then(|| "disabled".to_string());
        graph.nodes.push(Node { name: m.module.clone(), version: m.version.clone(), note });
        if let Some(module) = module_version(ctx, &Catalog::default(), &m.module, &m.version)? {
            graph.edges.extend(edges(&module, |d| installed.iter().any(|i| i.module == d)));
        }
    }
    Ok(graph)
}
