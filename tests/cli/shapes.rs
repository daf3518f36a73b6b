//! Snapshots of what users and scripts read: the human plan, status and error output,
//! and every JSON shape of SPEC §7. What changes from run to run (times, batch ids,
//! durations, the temporary folder) is replaced by a placeholder; everything else must
//! stay as it is, or the snapshot is updated on purpose.

use crate::support::World;

/// Snapshots `text` with the run-to-run parts replaced, under the same name for both
/// landlords (the output must not differ).
macro_rules! snapshot {
    ($world:expr, $name:expr, $text:expr) => {{
        let settings = crate::support::world_snapshot_settings(&$world);
        settings.bind(|| insta::assert_snapshot!(format!("cli__shapes__{}", $name), $text));
    }};
}

/// The sample catalog; `acme` with finance (three modules) installed and a flag set,
/// `globex` with an older membership.
fn world() -> World {
    let world = World::sample();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world.ok(&["subscription", "grant", "--tenant", "acme", "finance"]);
    world.ok(&["install", "finance", "--tenant", "acme"]);
    world.ok(&["install", "membership@=1.0.0", "--tenant", "globex"]);
    world.ok(&["flags", "set", "--tenant", "acme", "finance.recurring_billing=true"]);
    world
}

#[test]
fn human_plan_status_and_errors() {
    let world = world();
    let plan = world.ok(&["install", "forum", "elections", "--tenant", "acme", "--dry-run"]);
    snapshot!(world, "human_plan", format!("{}--- stderr\n{}", plan.stdout, plan.stderr));
    let status = world.ok(&["status"]);
    snapshot!(world, "human_status", status.stdout);
    let conflict = world.run(&["install", "membership@^2", "--tenant", "acme"]);
    conflict.code(4);
    snapshot!(world, "human_error_dependency", conflict.stderr);
    let unknown = world.run(&["install", "forum", "--tenant", "initech"]);
    unknown.code(3);
    snapshot!(world, "human_error_not_found", unknown.stderr);
    let blocked = world.run(&["uninstall", "membership", "--tenant", "acme"]);
    blocked.code(4);
    snapshot!(world, "human_error_dependents", blocked.stderr);
}

#[test]
fn human_detail_tables() {
    let world = world();
    // A relative modules folder keeps the `folder` row (and so the table) the same width
    // wherever the test runs.
    snapshot!(world, "human_modules_show", world.ok(&["modules", "show", "finance", "--modules", "modules"]).stdout);
    let disabled = world.json(&["disable", "finance", "--tenant", "acme"]);
    let job = &disabled["jobs"][0];
    let mut shown = world.ok(&["jobs", "show", &job["id"].to_string()]).stdout;
    // Placeholders as wide as what they replace, so that the table stays a table.
    for (field, placeholder) in [("batch", "[batch]"), ("started_at", "[time]"), ("finished_at", "[time]")] {
        let value = job[field].as_str().unwrap();
        shown = shown.replacen(value, &format!("{placeholder:<width$}", width = value.len()), 1);
    }
    snapshot!(world, "human_jobs_show", shown);
}

#[test]
fn json_shapes_of_spec_section_7() {
    let world = world();
    let json = |args: &[&str]| serde_json::to_string_pretty(&world.json(args)).unwrap();
    snapshot!(world, "json_status", json(&["status"]));
    snapshot!(world, "json_install", json(&["install", "forum", "--tenant", "acme"]));
    snapshot!(world, "json_upgrade", json(&["upgrade", "membership", "--tenant", "globex", "--dry-run"]));
    snapshot!(world, "json_disable", json(&["disable", "forum", "--tenant", "acme"]));
    snapshot!(world, "json_enable", json(&["enable", "forum", "--tenant", "acme"]));
    snapshot!(world, "json_uninstall", json(&["uninstall", "forum", "--tenant", "acme"]));
    snapshot!(world, "json_jobs_list", json(&["jobs", "list", "--tenant", "acme", "--limit", "2"]));
    snapshot!(world, "json_jobs_show", jobs_show_with_objects_apart(&world));
    snapshot!(world, "json_modules_list", json(&["modules", "list"]));
    snapshot!(world, "json_tenant_list", tenant_list_with_hosts_apart(&world));
    snapshot!(world, "json_flags_list", json(&["flags", "list", "--tenant", "acme"]));
    snapshot!(world, "json_validate", json(&["validate"]));
    snapshot!(world, "events", events_with_hosts_apart(&world));
    let error = world.run(&["install", "membership@^2", "--tenant", "acme", "--json"]);
    error.code(4);
    snapshot!(world, "json_error", error.stdout);
}

/// `jobs show 1 --json` (membership's install for acme), with the objects its `record
/// objects` step names replaced by `[objects]` once they are checked: PostgreSQL records
/// what SQLite has no such thing for (sequences, a trigger's function, a unique index
/// that SQLite keeps as its own), so the list is each engine's, and the rest the same.
fn jobs_show_with_objects_apart(world: &World) -> String {
    let mut shown = world.json(&["jobs", "show", "1"]);
    let steps = shown["job"]["steps"].as_array_mut().unwrap();
    let record = steps.iter_mut().find(|s| s["name"] == "record objects").expect("a record objects step");
    let expected = match world.tenants_url {
        Some(_) => {
            "membership_types_id_seq, membership_types, membership_types_active_idx, members_id_seq, members, members_email_uidx, \
             members_status_idx, members_membership_type_idx, members_name_idx, members_touch_updated_at, members_touch_updated_at, \
             members_phone_idx, member_notes_id_seq, member_notes, member_notes_member_idx"
        }
        None => {
            "membership_types, membership_types_active_idx, members, members_status_idx, members_membership_type_idx, members_name_idx, \
             members_touch_updated_at, members_phone_idx, member_notes, member_notes_member_idx"
        }
    };
    assert_eq!(record["detail"], expected);
    record["detail"] = "[objects]".into();
    serde_json::to_string_pretty(&shown).unwrap()
}

/// `tenant list --json`, with each tenant's home host replaced by `[host]` once checked:
/// this host on SQLite files, none on PostgreSQL, whose tenants any host may work on.
fn tenant_list_with_hosts_apart(world: &World) -> String {
    let mut list = world.json(&["tenant", "list"]);
    let home = if world.tenants_url.is_some() { serde_json::Value::Null } else { crate::support::TEST_HOST.into() };
    for tenant in list["tenants"].as_array_mut().unwrap() {
        assert_eq!(tenant["host"], home, "{tenant}");
        tenant["host"] = "[host]".into();
    }
    serde_json::to_string_pretty(&list).unwrap()
}

/// `events`, with the home host a `tenant.added` event names replaced by `[host]` once
/// checked, as in [`tenant_list_with_hosts_apart`].
fn events_with_hosts_apart(world: &World) -> String {
    let home = if world.tenants_url.is_some() { "null".to_string() } else { format!("\"{}\"", crate::support::TEST_HOST) };
    let (named, placeholder) = (format!("\"data\":{{\"host\":{home}}}"), "\"data\":{\"host\":\"[host]\"}");
    let events = world.ok(&["events"]).stdout;
    events
        .lines()
        .map(|line| {
            if !line.contains("\"type\":\"tenant.added\"") {
                return format!("{line}\n");
            }
            assert!(line.contains(&named), "{line}");
            format!("{}\n", line.replace(&named, placeholder))
        })
        .collect()
}
