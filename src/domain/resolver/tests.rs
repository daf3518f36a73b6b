//! Resolver tests: plans, explanations, and properties over random catalogs.

use super::*;
use crate::domain::catalog::tests::{module, module_with};
use crate::domain::manifest::parse_date;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

fn today() -> Date {
    parse_date("2026-11-21").unwrap()
}

fn name(n: &str) -> ModuleName {
    ModuleName::parse(n).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn installed(pairs: &[(&str, &str)]) -> Installed {
    pairs.iter().map(|(n, ver)| (name(n), v(ver))).collect()
}

fn install(catalog: &Catalog, have: &Installed, requests: &[&str]) -> Result<Resolution, ResolveError> {
    let requests = requests.iter().map(|r| Request::parse(r).unwrap()).collect();
    resolve(catalog, have, &Goal::Install(requests), today())
}

fn upgrade(catalog: &Catalog, have: &Installed, modules: &[&str], to: Option<&str>) -> Result<Resolution, ResolveError> {
    let goal = Goal::Upgrade { modules: modules.iter().map(|m| name(m)).collect(), to: to.map(v) };
    resolve(catalog, have, &goal, today())
}

fn labels(r: &Resolution) -> Vec<String> {
    r.steps.iter().map(|s| s.module.label()).collect()
}

fn platform() -> Catalog {
    Catalog::new([
        module("membership", "1.0.0", &[]),
        module("membership", "1.1.0", &[]),
        module("membership", "2.0.0", &[]),
        module("digital_card", "1.0.0", &[("membership", "^1.0")]),
        module("finance", "1.2.0", &[("digital_card", "^1.0"), ("membership", ">=1.0, <3")]),
        module_with("forum", "1.0.0", &[("membership", "^1")], &[("messaging", "^1")], ""),
        module("messaging", "1.0.0", &[("membership", "^1")]),
        module("messaging", "2.0.0", &[("membership", "^1")]),
    ])
    .0
}

#[test]
fn installs_missing_dependencies_first_at_the_newest_fitting_version() {
    let r = install(&platform(), &Installed::new(), &["finance"]).unwrap();
    assert_eq!(labels(&r), ["membership 1.1.0", "digital_card 1.0.0", "finance 1.2.0"]);
    assert_eq!(r.steps[0].reason, Reason::DependencyOf(name("digital_card")));
    assert_eq!(r.steps[2].reason, Reason::Requested);
}

#[test]
fn installed_modules_stay_and_satisfied_requests_are_unchanged() {
    let have = installed(&[("membership", "1.0.0")]);
    let r = install(&platform(), &have, &["digital_card", "membership"]).unwrap();
    assert_eq!(labels(&r), ["digital_card 1.0.0"]);
    assert_eq!(r.unchanged, vec![(name("membership"), v("1.0.0"))]);
    let r = install(&platform(), &installed(&[("membership", "1.0.0"), ("digital_card", "1.0.0")]), &["digital_card"]).unwrap();
    assert!(r.steps.is_empty());
}

#[test]
fn an_unsuitable_installed_dependency_names_both_requirements() {
    let have = installed(&[("membership", "2.0.0"), ("messaging", "2.0.0")]);
    let catalog = Catalog::new([
        module("membership", "2.0.0", &[]),
        module("messaging", "2.0.0", &[("membership", ">=2")]),
        module("digital_card", "1.0.0", &[("membership", "^1.0")]),
    ])
    .0;
    let e = install(&catalog, &have, &["digital_card"]).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ResolveError::InstalledMismatch { .. }), "{e:?}");
    assert!(text.contains("`digital_card 1.0.0` requires `membership ^1.0`, but `membership 2.0.0` is installed"), "{text}");
    assert!(text.contains("`>=2` from `messaging 2.0.0` (installed)"), "{text}");
    assert_eq!(e.kind(), ErrorKind::Dependency);
}

#[test]
fn backtracks_to_an_older_version_that_fits() {
    let catalog = Catalog::new([
        module("membership", "1.1.0", &[]),
        module("finance", "1.2.0", &[("membership", "^1")]),
        module("finance", "1.3.0", &[("membership", "^2")]),
    ])
    .0;
    let r = install(&catalog, &installed(&[("membership", "1.1.0")]), &["finance"]).unwrap();
    assert_eq!(labels(&r), ["finance 1.2.0"]);
}

#[test]
fn backtracks_through_a_transitive_dependency() {
    let catalog = Catalog::new([
        module("a", "1.0.0", &[]),
        module("a", "2.0.0", &[]),
        module("b", "1.0.0", &[("a", "^1")]),
        module("b", "2.0.0", &[("a", "^2")]),
        module("c", "1.0.0", &[("b", "*"), ("a", "^1")]),
    ])
    .0;
    let r = install(&catalog, &Installed::new(), &["c"]).unwrap();
    let mut got = labels(&r);
    got.sort();
    assert_eq!(got, ["a 1.0.0", "b 1.0.0", "c 1.0.0"]);
}

#[test]
fn conflicts_list_every_requirement_and_its_holder() {
    let catalog = Catalog::new([
        module("a", "1.0.0", &[]),
        module("a", "2.0.0", &[]),
        module("x", "1.0.0", &[("a", "^1")]),
        module("y", "1.0.0", &[("a", "^2")]),
    ])
    .0;
    let e = install(&catalog, &installed(&[("x", "1.0.0"), ("a", "1.0.0")]), &["y"]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("`y 1.0.0` requires `a ^2`, but `a 1.0.0` is installed"), "{text}");
    assert!(text.contains("`^1` from `x 1.0.0` (installed)"), "{text}");

    let e = install(&catalog, &Installed::new(), &["x", "y"]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("no version of `a` satisfies every requirement"), "{text}");
    assert!(text.contains("`^1` from `x 1.0.0`") && text.contains("`^2` from `y 1.0.0`"), "{text}");
}

#[test]
fn unknown_modules_and_versions_are_not_found() {
    let e = install(&platform(), &Installed::new(), &["nope"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = install(&platform(), &Installed::new(), &["finance@^9"]).unwrap_err();
    assert_eq!(e.to_string(), "no version of `finance` matches `^9` (available: 1.2.0)");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let catalog = Catalog::new([module("a", "1.0.0", &[("ghost", "^1")])]).0;
    let e = install(&catalog, &Installed::new(), &["a"]).unwrap_err();
    assert_eq!(e.to_string(), "`a 1.0.0` depends on `ghost`, which is not in the catalog");
    assert_eq!(e.kind(), ErrorKind::Dependency);
}

#[test]
fn cycles_are_reported_with_their_path() {
    let catalog =
        Catalog::new([module("a", "1.0.0", &[("b", "^1")]), module("b", "1.0.0", &[("c", "^1")]), module("c", "1.0.0", &[("a", "^1")])]).0;
    let e = install(&catalog, &Installed::new(), &["a"]).unwrap_err();
    assert_eq!(e.to_string(), "dependency cycle: a -> b -> c -> a");
    assert_eq!(e.kind(), ErrorKind::Dependency);
}

#[test]
fn a_version_whose_dependencies_form_a_cycle_is_passed_over() {
    let catalog = Catalog::new([
        module("a", "1.0.0", &[("b", "^1")]),
        module("a", "2.0.0", &[("b", "^2")]),
        module("b", "1.0.0", &[]),
        module("b", "2.0.0", &[("a", "^2")]),
    ])
    .0;
    let r = install(&catalog, &Installed::new(), &["a"]).unwrap();
    assert_eq!(labels(&r), ["b 1.0.0", "a 1.0.0"]);
    // Asked for exactly the versions of the cycle, the cycle is the answer.
    let e = install(&catalog, &Installed::new(), &["a@=2.0.0"]).unwrap_err();
    assert_eq!(e.to_string(), "dependency cycle: a -> b -> a");
}

#[test]
fn optional_dependencies_order_the_plan_and_must_match_when_present() {
    let r = install(&platform(), &Installed::new(), &["forum", "messaging@^1"]).unwrap();
    assert_eq!(labels(&r), ["membership 1.1.0", "messaging 1.0.0", "forum 1.0.0"]);
    // Not installed for you.
    let r = install(&platform(), &Installed::new(), &["forum"]).unwrap();
    assert_eq!(labels(&r), ["membership 1.1.0", "forum 1.0.0"]);
    // If installed, it must match: messaging 2 is refused for a tenant with forum.
    let have = installed(&[("membership", "1.1.0"), ("forum", "1.0.0")]);
    let r = install(&platform(), &have, &["messaging"]).unwrap();
    assert_eq!(labels(&r), ["messaging 1.0.0"]);
    let e = install(&platform(), &have, &["messaging@^2"]).unwrap_err();
    assert!(e.to_string().contains("(optional dependency)"), "{e}");
}

#[test]
fn the_dependency_closure_follows_what_the_tenant_has() {
    // app -> ledger -> people; app ~> (optional) chat -> people, and ~> mail (absent);
    // audit depends on people but not the other way round.
    let (catalog, _) = Catalog::new([
        module_with("app", "1.0.0", &[("ledger", "^1")], &[("chat", "^1"), ("mail", "^1")], ""),
        module("ledger", "1.0.0", &[("people", "^1")]),
        module_with("chat", "1.0.0", &[("people", "^1")], &[("app", "^1")], ""),
        module("people", "1.0.0", &[]),
        module("audit", "1.0.0", &[("people", "^1")]),
    ]);
    let app = catalog.get("app", &v("1.0.0")).unwrap();
    let names = |set: BTreeSet<ModuleName>| set.iter().map(ToString::to_string).collect::<Vec<_>>();
    let with = |have: &[&str]| {
        let have: Vec<&str> = have.to_vec();
        names(dependency_closure(app, |n: &ModuleName| have.contains(&n.as_str()).then(|| catalog.get(n, &v("1.0.0")).unwrap().as_ref())))
    };
    assert_eq!(with(&["ledger", "people", "audit"]), ["ledger", "people"]);
    // An optional dependency counts once the tenant has it, and so does what it needs;
    // a cycle back to the module itself ends the walk.
    assert_eq!(with(&["ledger", "people", "chat", "audit"]), ["chat", "ledger", "people"]);
    // A required dependency is named even where its manifest is not at hand.
    assert_eq!(with(&[]), ["ledger"]);
}

#[test]
fn prereleases_only_when_asked_for_exactly() {
    let catalog = Catalog::new([module("a", "1.0.0", &[]), module("a", "1.1.0-beta.1", &[])]).0;
    assert_eq!(labels(&install(&catalog, &Installed::new(), &["a"]).unwrap()), ["a 1.0.0"]);
    assert_eq!(labels(&install(&catalog, &Installed::new(), &["a@=1.1.0-beta.1"]).unwrap()), ["a 1.1.0-beta.1"]);
}

#[test]
fn sunset_versions_cannot_be_installed_but_installed_ones_stay() {
    let retired = "[deprecation]\nmessage = \"old\"\nreplacement = \"messaging\"\nsunset = \"2026-01-31\"\n";
    let future = "[deprecation]\nsunset = \"2030-01-01\"\n";
    let catalog = Catalog::new([
        module("membership", "1.0.0", &[]),
        module_with("newsletter", "0.9.0", &[("membership", "^1")], &[], retired),
        module_with("legacy", "1.0.0", &[], &[], future),
    ])
    .0;
    let e = install(&catalog, &Installed::new(), &["newsletter"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`newsletter 0.9.0` was retired on 2026-01-31 and can no longer be installed; its replacement is `messaging`"
    );
    assert!(install(&catalog, &Installed::new(), &["legacy"]).is_ok());
    let have = installed(&[("membership", "1.0.0"), ("newsletter", "0.9.0")]);
    assert!(install(&catalog, &have, &["newsletter"]).unwrap().steps.is_empty());
}

#[test]
fn upgrade_moves_to_the_newest_version_dependents_allow() {
    let catalog = Catalog::new([
        module("membership", "1.0.0", &[]),
        module("membership", "1.1.0", &[]),
        module("membership", "2.0.0", &[]),
        module("digital_card", "1.0.0", &[("membership", "^1.0")]),
    ])
    .0;
    let have = installed(&[("membership", "1.0.0")]);
    let r = upgrade(&catalog, &have, &["membership"], None).unwrap();
    assert_eq!(labels(&r), ["membership 2.0.0"]);
    assert_eq!(r.steps[0].from, Some(v("1.0.0")));

    let have = installed(&[("membership", "1.0.0"), ("digital_card", "1.0.0")]);
    let r = upgrade(&catalog, &have, &["membership"], None).unwrap();
    assert_eq!(labels(&r), ["membership 1.1.0"]);

    let e = upgrade(&catalog, &have, &["membership"], Some("2.0.0")).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("no version of `membership` newer than 1.0.0"), "{text}");
    assert!(text.contains("`^1.0` from `digital_card 1.0.0` (installed)"), "{text}");
    assert_eq!(e.kind(), ErrorKind::Dependency);
}

#[test]
fn upgrade_installs_and_upgrades_what_the_new_version_needs() {
    let catalog = Catalog::new([
        module("membership", "1.0.0", &[]),
        module("membership", "1.2.0", &[]),
        module("audit", "1.0.0", &[]),
        module("finance", "1.0.0", &[("membership", "^1.0")]),
        module("finance", "2.0.0", &[("membership", "^1.2"), ("audit", "^1")]),
    ])
    .0;
    let have = installed(&[("membership", "1.0.0"), ("finance", "1.0.0")]);
    let r = upgrade(&catalog, &have, &["finance"], None).unwrap();
    let got: Vec<(String, Option<Version>)> = r.steps.iter().map(|s| (s.module.label(), s.from.clone())).collect();
    assert_eq!(
        got,
        [("audit 1.0.0".into(), None), ("membership 1.2.0".into(), Some(v("1.0.0"))), ("finance 2.0.0".into(), Some(v("1.0.0")))]
    );
}

#[test]
fn upgrade_of_something_current_is_a_no_op_and_downgrades_are_refused() {
    let catalog = platform();
    let have = installed(&[("membership", "2.0.0")]);
    let r = upgrade(&catalog, &have, &["membership"], None).unwrap();
    assert!(r.steps.is_empty());
    assert_eq!(r.unchanged, vec![(name("membership"), v("2.0.0"))]);
    let e = upgrade(&catalog, &have, &["membership"], Some("1.0.0")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    let e = upgrade(&catalog, &have, &["finance"], None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = upgrade(&catalog, &have, &["membership"], Some("3.0.0")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn deep_chains_do_not_overflow() {
    let n = 20_000;
    let modules = (0..n).map(|i| {
        let deps: Vec<(String, String)> = if i + 1 < n { vec![(format!("m{}", i + 1), "^1".to_string())] } else { vec![] };
        let deps: Vec<(&str, &str)> = deps.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        module(&format!("m{i}"), "1.0.0", &deps)
    });
    let catalog = Catalog::new(modules).0;
    let r = install(&catalog, &Installed::new(), &["m0"]).unwrap();
    assert_eq!(r.steps.len(), n);
    assert_eq!(r.steps[0].module.name().as_str(), format!("m{}", n - 1));
}

#[test]
fn request_parsing() {
    assert_eq!(Request::parse("finance").unwrap().req, VersionReq::STAR);
    assert_eq!(Request::parse("finance@1.2").unwrap().req, VersionReq::parse("^1.2").unwrap());
    assert_eq!(Request::parse("finance@=1.2.0").unwrap().to_string(), "finance@=1.2.0");
    assert_eq!(Request::parse("Finance").unwrap_err().kind, ErrorKind::Invalid);
    assert_eq!(Request::parse("finance@banana").unwrap_err().kind, ErrorKind::Invalid);
}

/// (module index, major version, [(dependency index, required major, optional)])
type Entry = (usize, u64, Vec<(usize, u64, bool)>);

fn random_catalog() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec((0usize..6, 1u64..4, prop::collection::vec((0usize..6, 1u64..4, prop::bool::weighted(0.2)), 0..3)), 1..14)
}

/// The module versions a random catalog describes (one per module and major, no
/// dependency on itself, one requirement per dependency).
fn build(entries: Vec<Entry>) -> Vec<ModuleVersion> {
    let mut seen = HashSet::new();
    let mut versions = Vec::new();
    for (m, major, deps) in entries {
        if !seen.insert((m, major)) {
            continue;
        }
        let mut required = BTreeMap::new();
        let mut optional = BTreeMap::new();
        for (d, r, is_optional) in deps.into_iter().filter(|(d, _, _)| *d != m) {
            if !required.contains_key(&format!("m{d}")) && !optional.contains_key(&format!("m{d}")) {
                let table = if is_optional { &mut optional } else { &mut required };
                table.insert(format!("m{d}"), format!("^{r}"));
            }
        }
        let required: Vec<(&str, &str)> = required.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let optional: Vec<(&str, &str)> = optional.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        versions.push(module_with(&format!("m{m}"), &format!("{major}.0.0"), &required, &optional, ""));
    }
    versions
}

/// Every installable set that contains `request`, by brute force: each module absent or
/// at one of its versions, every required dependency present and matching, every
/// optional one matching when present, and no cycle (which could not be ordered).
fn every_solution(catalog: &Catalog, request: &str) -> Vec<BTreeMap<String, Version>> {
    let names: Vec<&ModuleName> = catalog.names().collect();
    let mut solutions = Vec::new();
    let mut choice = vec![0usize; names.len()];
    loop {
        let chosen: BTreeMap<&str, &Arc<ModuleVersion>> =
            names.iter().zip(&choice).filter(|(_, c)| **c > 0).map(|(n, c)| (n.as_str(), &catalog.versions(*n)[*c - 1])).collect();
        let consistent = chosen.contains_key(request)
            && chosen.values().all(|m| {
                m.manifest.all_dependencies().all(|(dep, req, optional)| match chosen.get(dep.as_str()) {
                    Some(d) => req.matches(d.version()),
                    None => optional,
                })
            });
        if consistent {
            let modules: Vec<Arc<ModuleVersion>> = chosen.values().map(|m| Arc::clone(m)).collect();
            if dependency_order(&modules).is_ok() {
                solutions.push(chosen.iter().map(|(n, m)| (n.to_string(), m.version().clone())).collect());
            }
        }
        // The next assignment, like counting in a mixed base.
        let mut i = 0;
        loop {
            let Some(name) = names.get(i) else { return solutions };
            choice[i] += 1;
            if choice[i] <= catalog.versions(*name).len() {
                break;
            }
            choice[i] = 0;
            i += 1;
        }
    }
}

proptest! {
    /// Whatever the catalog, a successful plan lists each module once, after all of
    /// its dependencies, and every chosen version meets every requirement on it.
    #[test]
    fn plans_are_ordered_and_consistent(entries in random_catalog(), want in 0usize..6) {
        let catalog = Catalog::new(build(entries)).0;
        let request = format!("m{want}");
        if let Ok(r) = install(&catalog, &Installed::new(), &[request.as_str()]) {
            let chosen: HashMap<&str, &Version> = r.steps.iter().map(|s| (s.module.name().as_str(), s.module.version())).collect();
            prop_assert_eq!(chosen.len(), r.steps.len());
            prop_assert!(chosen.contains_key(request.as_str()));
            for (i, step) in r.steps.iter().enumerate() {
                for (dep, req, optional) in step.module.manifest.all_dependencies() {
                    let version = chosen.get(dep.as_str());
                    prop_assert!(version.is_some_and(|v| req.matches(v)) || optional && version.is_none());
                    if let Some(at) = r.steps.iter().position(|s| s.module.name() == dep) {
                        prop_assert!(at < i, "dependency {} after {}", dep, step.module.name());
                    }
                }
            }
        }
    }

    /// Against a brute-force search of every assignment: when any installable set holds
    /// the request, the resolver finds one, and picks the highest version of the
    /// requested module that any of them has; when none does, it says so.
    #[test]
    fn resolution_is_complete_and_takes_the_highest_version(entries in random_catalog(), want in 0usize..6) {
        let catalog = Catalog::new(build(entries)).0;
        // One of the modules the catalog has (it has at least one).
        let names: Vec<&ModuleName> = catalog.names().collect();
        let request = names[want % names.len()].to_string();
        let solutions = every_solution(&catalog, &request);
        let resolved = install(&catalog, &Installed::new(), &[request.as_str()]);
        match solutions.iter().map(|s| &s[&request]).max() {
            Some(highest) => {
                let plan = resolved.map_err(|e| TestCaseError::fail(format!("{} solutions exist, the resolver said: {e}", solutions.len())))?;
                let chosen = plan.steps.iter().find(|s| s.module.name().as_str() == request).map(|s| s.module.version());
                prop_assert_eq!(chosen, Some(highest));
                let plan: BTreeMap<String, Version> = plan.steps.iter().map(|s| (s.module.name().to_string(), s.module.version().clone())).collect();
                prop_assert!(solutions.contains(&plan), "the plan {:?} is not one of the installable sets", plan);
            }
            None => prop_assert!(resolved.is_err(), "no installable set holds {}, yet the resolver planned {:?}", request, resolved.map(|r| labels(&r))),
        }
    }
}
