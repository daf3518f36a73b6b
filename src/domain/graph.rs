//! The dependency graph as data, and its renderings: an indented tree, Graphviz DOT and
//! Mermaid. Pure text in, text out.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Node {
    pub name: String,
    pub version: String,
    /// A note shown next to the node (`disabled`, `deprecated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Edge {
    /// The dependent.
    pub from: String,
    /// The dependency.
    pub to: String,
    pub requirement: String,
    pub optional: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    pub fn render(&self, format: GraphFormat) -> String {
        match format {
            GraphFormat::Text => self.text(),
            GraphFormat::Dot => self.dot(),
            GraphFormat::Mermaid => self.mermaid(),
        }
    }

    fn label(&self, name: &str) -> String {
        match self.nodes.iter().find(|n| n.name == name) {
            Some(n) => match &n.note {
                Some(note) => format!("{} {} ({note})", n.name, n.version),
                None => format!("{} {}", n.name, n.version),
            },
            None => format!("{name} (missing)"),
        }
    }

    fn text(&self) -> String {
        let mut children: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
        let mut has_parent = BTreeSet::new();
        for e in &self.edges {
            children.entry(e.from.as_str()).or_default().push(e);
            has_parent.insert(e.to.as_str());
        }
        let mut out = String::new();
        let roots: Vec<&Node> = self.nodes.iter().filter(|n| !has_parent.contains(n.name.as_str())).collect();
        // A graph that is all cycle has no root; start from every node then.
        let roots: Vec<&Node> = if roots.is_empty() { self.nodes.iter().collect() } else { roots };
        for root in roots {
            out.push_str(&self.label(&root.name));
            out.push('\n');
            let mut path = vec![root.name.as_str()];
            self.subtree(&children, &root.name, "", &mut path, &mut out);
        }
        out
    }

    fn subtree<'a>(
        &'a self,
        children: &BTreeMap<&str, Vec<&'a Edge>>,
        name: &str,
        prefix: &str,
        path: &mut Vec<&'a str>,
        out: &mut String,
    ) {
        let Some(edges) = children.get(name) else { return };
        for (i, edge) in edges.iter().enumerate() {
            let last = i + 1 == edges.len();
            let optional = if edge.optional { ", optional" } else { "" };
            let cycle = path.contains(&edge.to.as_str());
            let tail = if cycle { " (cycle)" } else { "" };
            out.push_str(&format!(
                "{prefix}{}{} [{}{optional}]{tail}\n",
                if last { "└── " } else { "├── " },
                self.label(&edge.to),
                edge.requirement
            ));
            if !cycle {
                path.push(edge.to.as_str());
                let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
                self.subtree(children, &edge.to, &deeper, path, out);
                path.pop();
            }
        }
    }

    fn dot(&self) -> String {
        let mut out = String::from("digraph modules {\n    rankdir=LR;\n    node [shape=box];\n");
        for n in &self.nodes {
            out.push_str(&format!("    \"{}\" [label=\"{}\"];\n", escape(&n.name), escape(&self.label(&n.name))));
        }
        for e in &self.edges {
            let style = if e.optional { ", style=dashed" } else { "" };
            out.push_str(&format!("    \"{}\" -> \"{}\" [label=\"{}\"{style}];\n", escape(&e.from), escape(&e.to), escape(&e.requirement)));
        }
        out.push_str("}\n");
        out
    }

    fn mermaid(&self) -> String {
        let mut out = String::from("graph LR\n");
        for n in &self.nodes {
            out.push_str(&format!("    {}[\"{}\"]\n", n.name, self.label(&n.name).replace('"', "'")));
        }
        for e in &self.edges {
            let arrow = if e.optional { "-.->" } else { "-->" };
            out.push_str(&format!("    {} {arrow}|\"{}\"| {}\n", e.from, e.requirement.replace('"', "'"), e.to));
        }
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Graph {
        let node = |n: &str| Node { name: n.into(), version: "1.0.0".into(), note: None };
        let edge = |f: &str, t: &str, o: bool| Edge { from: f.into(), to: t.into(), requirement: "^1".into(), optional: o };
        Graph {
            nodes: vec![node("finance"), node("digital_card"), node("membership"), node("forum")],
            edges: vec![
                edge("finance", "digital_card", false),
                edge("digital_card", "membership", false),
                edge("forum", "membership", false),
                edge("finance", "membership", true),
            ],
        }
    }

    #[test]
    fn text_is_a_tree_from_each_root() {
        let text = sample().render(GraphFormat::Text);
        assert_eq!(
            text,
            "finance 1.0.0\n├── digital_card 1.0.0 [^1]\n│   └── membership 1.0.0 [^1]\n└── membership 1.0.0 [^1, optional]\nforum 1.0.0\n└── membership 1.0.0 [^1]\n"
        );
    }

    #[test]
    fn dot_and_mermaid_name_every_edge() {
        let dot = sample().render(GraphFormat::Dot);
        assert!(dot.starts_with("digraph modules {"));
        assert!(dot.contains("\"finance\" -> \"membership\" [label=\"^1\", style=dashed];"));
        let mermaid = sample().render(GraphFormat::Mermaid);
        assert!(mermaid.contains("finance -.->|\"^1\"| membership"));
        assert!(mermaid.contains("digital_card -->|\"^1\"| membership"));
    }

    #[test]
    fn cycles_do_not_loop() {
        let node = |n: &str| Node { name: n.into(), version: "1.0.0".into(), note: None };
        let g = Graph {
            nodes: vec![node("a"), node("b")],
            edges: vec![
                Edge { from: "a".into(), to: "b".into(), requirement: "*".into(), optional: false },
                Edge { from: "b".into(), to: "a".into(), requirement: "*".into(), optional: false },
            ],
        };
        assert!(g.render(GraphFormat::Text).contains("(cycle)"));
    }
}
