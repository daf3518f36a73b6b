use crate::support::World;

#[test]
fn modules_list_shows_versions_dependencies_and_deprecation() {
    let world = World::sample();
    let list = world.json(&["modules", "list"]);
    let modules = list["modules"].as_array().unwrap();
    let names: Vec<&str> = modules.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["digital_card", "elections", "finance", "forum", "membership", "messaging", "newsletter"]);
    let membership = &modules[4];
    assert_eq!(membership["versions"], serde_json::json!(["1.0.0", "1.1.0"]));
    assert_eq!(membership["latest"], "1.1.0");
    let finance = &modules[2];
    assert_eq!(finance["requires_subscription"], true);
    assert_eq!(finance["dependencies"]["membership"], ">=1.0, <3");
    assert_eq!(modules[6]["deprecated"], true);
    assert!(!world.data().exists(), "listing the catalog needs no state");
}

#[test]
fn modules_show_gives_one_module_in_detail_and_unknown_is_not_found() {
    let world = World::sample();
    let show = world.json(&["modules", "show", "membership"]);
    assert_eq!(show["latest"], "1.1.0");
    assert_eq!(show["versions"].as_array().unwrap().len(), 2);
    assert_eq!(show["versions"][0]["migrations"], serde_json::json!(["V1__membership_types", "V2__members", "V3__member_notes_and_phone"]));
    let dependents: Vec<&str> = show["dependents"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert!(dependents.contains(&"finance") && dependents.contains(&"forum"));
    let run = world.run(&["modules", "show", "nope", "--json"]);
    run.code(3);
    assert_eq!(run.error()["kind"], "not_found");
}

#[test]
fn graph_renders_text_dot_and_mermaid() {
    let world = World::sample();
    let text = world.ok(&["graph"]).stdout;
    assert!(
        text.contains("finance 1.2.0\n├── digital_card 1.0.0 [^1.0]\n│   └── membership 1.1.0 [^1.0]\n└── membership 1.1.0 [>=1.0, <3]\n"),
        "{text}"
    );
    assert!(text.contains("└── messaging 1.0.0 [^1, optional]"), "{text}");
    let dot = world.ok(&["graph", "--format", "dot"]).stdout;
    assert!(dot.contains("\"finance\" -> \"digital_card\" [label=\"^1.0\"];"), "{dot}");
    assert!(dot.contains("\"forum\" -> \"messaging\" [label=\"^1\", style=dashed];"), "{dot}");
    let mermaid = world.ok(&["graph", "--format", "mermaid"]).stdout;
    assert!(mermaid.starts_with("graph LR\n") && mermaid.contains("finance -->|\"^1.0\"| digital_card"), "{mermaid}");
}

#[test]
fn graph_of_a_tenant_shows_what_it_has() {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme"]);
    world.ok(&["install", "elections", "--tenant", "acme"]);
    let graph = world.json(&["graph", "--tenant", "acme"]);
    let nodes: Vec<&str> = graph["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["elections", "membership"]);
    assert_eq!(graph["edges"][0]["from"], "elections");
    assert_eq!(graph["edges"][0]["to"], "membership");
    world.run(&["graph", "--tenant", "ghost"]).code(3);
}
