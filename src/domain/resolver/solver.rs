//! The search behind [`resolve`](super::resolve): one decision per module, newest
//! candidate first, an undo log instead of recursion (deep chains cannot overflow the
//! stack), dependencies decided right after their dependent, and a jump back to the
//! decision that caused a conflict instead of the one made last. Requirements borrow
//! from the catalog and the goal, so solving allocates nothing per dependency edge.

use std::collections::BTreeSet;
use std::sync::Arc;

use semver::{Version, VersionReq};
use time::Date;

use super::{Origin, PlanStep, Reason, Requirement, ResolveError, dependency_order};
use crate::domain::catalog::Catalog;
use crate::domain::module::ModuleVersion;
use crate::domain::name::ModuleName;
use crate::domain::resolver::Installed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Installed and staying at its version.
    Locked,
    /// Being upgraded: a newer version must be chosen.
    Target,
    /// Installed; stays unless a new requirement needs a newer version.
    Upgradable,
}

/// A requirement while solving, borrowed from the catalog and the goal: solving
/// allocates nothing per dependency edge. `holder` is `None` for the request itself.
#[derive(Clone, Copy)]
pub(super) struct Need<'a> {
    pub req: &'a VersionReq,
    pub holder: Option<&'a ModuleVersion>,
    pub optional: bool,
}

type Map<K, V> = rustc_hash::FxHashMap<K, V>;
type Set<K> = rustc_hash::FxHashSet<K>;

enum Undo<'a> {
    Assign(&'a ModuleName),
    Need(&'a ModuleName),
    /// A name was pushed on the pending stack (and is now known to be needed).
    Push(&'a ModuleName),
    /// A name was popped off the pending stack.
    Pop(&'a ModuleName),
}

struct Decision<'a> {
    name: &'a ModuleName,
    candidates: Vec<&'a Arc<ModuleVersion>>,
    next: usize,
    undo_mark: usize,
}

const MAX_TRIES: usize = 200_000;

pub(super) struct Solver<'a> {
    catalog: &'a Catalog,
    installed: &'a Installed,
    today: Date,
    pub to: Option<&'a Version>,
    pub modes: Map<&'a ModuleName, Mode>,
    /// Chosen versions, with the decision that chose them (`None`: locked).
    assigned: Map<&'a ModuleName, (&'a Arc<ModuleVersion>, Option<usize>)>,
    needs: Map<&'a ModuleName, Vec<Need<'a>>>,
    /// Names waiting for a decision, newest on top: a module's dependencies are decided
    /// right after it, so a conflict is found next to the decision that caused it.
    pending: Vec<&'a ModuleName>,
    queued: Set<&'a ModuleName>,
    undo: Vec<Undo<'a>>,
    tries: usize,
    first_failure: Option<ResolveError>,
    /// Modules whose landlord-only versions may be chosen.
    pub stored_ok: Set<&'a ModuleName>,
}

impl<'a> Solver<'a> {
    pub fn new(catalog: &'a Catalog, installed: &'a Installed, today: Date) -> Self {
        Solver {
            catalog,
            installed,
            today,
            to: None,
            modes: Map::default(),
            assigned: Map::default(),
            needs: Map::default(),
            pending: Vec::new(),
            queued: Set::default(),
            undo: Vec::new(),
            tries: 0,
            first_failure: None,
            stored_ok: Set::default(),
        }
    }

    fn installed_module(&self, name: &ModuleName) -> Option<&'a Arc<ModuleVersion>> {
        let version = self.installed.get(name)?;
        self.catalog.get(name, version)
    }

    /// Pins installed modules at their versions; their requirements bind everyone else.
    pub fn lock(&mut self, names: &BTreeSet<&'a ModuleName>) {
        for &name in names {
            // The landlord keeps every installed version; a gap means the module's record
            // was lost, and it can only be treated as having no requirements.
            let Some(module) = self.installed_module(name) else { continue };
            self.modes.insert(name, Mode::Locked);
            self.assigned.insert(name, (module, None));
        }
        for &name in names {
            let Some(&(module, _)) = self.assigned.get(name) else { continue };
            for (dep, req, optional) in module.manifest.all_dependencies() {
                self.needs.entry(dep).or_default().push(Need { req, holder: Some(module), optional });
            }
        }
    }

    fn add_need(&mut self, name: &'a ModuleName, need: Need<'a>) {
        self.needs.entry(name).or_default().push(need);
        self.undo.push(Undo::Need(name));
    }

    pub fn require(&mut self, name: &'a ModuleName, need: Need<'a>) {
        let optional = need.optional;
        self.add_need(name, need);
        if !optional {
            self.enqueue(name);
        }
    }

    pub fn enqueue(&mut self, name: &'a ModuleName) {
        if self.queued.insert(name) {
            self.pending.push(name);
            self.undo.push(Undo::Push(name));
        }
    }

    /// The next name that needs a decision, dropping names decided meanwhile.
    fn next_pending(&mut self) -> Option<&'a ModuleName> {
        while let Some(&top) = self.pending.last() {
            if !self.assigned.contains_key(top) {
                return Some(top);
            }
            self.pending.pop();
            self.undo.push(Undo::Pop(top));
        }
        None
    }

    fn undo_to(&mut self, mark: usize) {
        while self.undo.len() > mark {
            match self.undo.pop() {
                Some(Undo::Assign(name)) => {
                    self.assigned.remove(name);
                }
                Some(Undo::Need(name)) => {
                    if let Some(list) = self.needs.get_mut(name) {
                        list.pop();
                    }
                }
                Some(Undo::Push(name)) => {
                    self.pending.pop();
                    self.queued.remove(name);
                }
                Some(Undo::Pop(name)) => self.pending.push(name),
                None => break,
            }
        }
    }

    fn past_sunset(&self, module: &ModuleVersion) -> bool {
        module.manifest.deprecation.as_ref().is_some_and(|d| d.is_past_sunset(self.today))
    }

    /// True when an upgrade has somewhere to go: an installable, non-prerelease version
    /// newer than `current` that is not retired.
    pub fn has_newer_release(&self, name: &ModuleName, current: &Version) -> bool {
        self.catalog
            .versions(name)
            .iter()
            .any(|m| m.version() > current && m.version().pre.is_empty() && m.is_installable() && !self.past_sunset(m))
    }

    fn satisfies_all(&self, name: &ModuleName, version: &Version) -> bool {
        self.needs.get(name).is_none_or(|needs| needs.iter().all(|n| n.req.matches(version)))
    }

    /// The versions worth trying for `name`, best first; empty when none fits.
    fn candidates(&self, name: &'a ModuleName) -> Vec<&'a Arc<ModuleVersion>> {
        let all = self.catalog.versions(name);
        let mode = self.modes.get(name).copied();
        let installed = self.installed.get(name);
        let stored_ok = self.stored_ok.contains(name);
        let fresh = |m: &&'a Arc<ModuleVersion>| (m.is_installable() || stored_ok) && !self.past_sunset(m);
        let pool: Vec<&'a Arc<ModuleVersion>> = match (mode, installed) {
            (Some(Mode::Target), Some(current)) => all
                .iter()
                .filter(|m| m.version() > current && m.is_installable())
                .filter(|m| match self.to {
                    Some(to) => m.version() == to,
                    None => m.version().pre.is_empty() && !self.past_sunset(m),
                })
                .collect(),
            (Some(Mode::Upgradable), Some(current)) => {
                self.installed_module(name).into_iter().chain(all.iter().filter(|m| m.version() > current).filter(fresh)).collect()
            }
            _ => all.iter().filter(fresh).collect(),
        };
        pool.into_iter().filter(|m| self.satisfies_all(name, m.version())).collect()
    }

    fn owned(&self, need: &Need<'_>) -> Requirement {
        let origin = match need.holder {
            None => Origin::Request,
            Some(m) => Origin::Module {
                name: m.name().clone(),
                version: m.version().clone(),
                installed: self.installed.get(m.name()) == Some(m.version()),
            },
        };
        Requirement { req: need.req.clone(), origin, optional: need.optional }
    }

    fn requirements(&self, name: &ModuleName) -> Vec<Requirement> {
        self.needs.get(name).map(|needs| needs.iter().map(|n| self.owned(n)).collect()).unwrap_or_default()
    }

    /// Why no version of `name` fits.
    fn explain(&self, name: &ModuleName) -> ResolveError {
        let mode = self.modes.get(name).copied();
        let requirements = self.requirements(name);
        let all = self.catalog.versions(name);
        // Retired versions that would otherwise have matched.
        if let Some(retired) = all.iter().find(|m| m.is_installable() && self.past_sunset(m) && self.satisfies_all(name, m.version())) {
            let deprecation = retired.manifest.deprecation.as_ref();
            if let Some(sunset) = deprecation.and_then(|d| d.sunset) {
                return ResolveError::Sunset {
                    name: name.clone(),
                    version: retired.version().clone(),
                    sunset,
                    replacement: deprecation.and_then(|d| d.replacement.clone()),
                };
            }
        }
        let available: Vec<Version> =
            all.iter().filter(|m| m.is_installable() || self.stored_ok.contains(name)).map(|m| m.version().clone()).collect();
        let only_request = requirements.iter().all(|r| r.origin == Origin::Request);
        if only_request && let [request] = requirements.as_slice() {
            return ResolveError::NoMatchingVersion { name: name.clone(), req: request.req.clone(), available };
        }
        let newer_than = match mode {
            Some(Mode::Target) => self.installed.get(name).cloned(),
            _ => None,
        };
        ResolveError::Conflict { name: name.clone(), requirements, available, newer_than }
    }

    /// Assigns `candidate` to `name` (chosen by decision `decision`) and adds its
    /// requirements. Stops at the first requirement that an already-decided module
    /// misses, or on an unknown dependency; the first such failure is kept to explain.
    fn assign(&mut self, name: &'a ModuleName, candidate: &'a Arc<ModuleVersion>, decision: usize) -> bool {
        self.assigned.insert(name, (candidate, Some(decision)));
        self.undo.push(Undo::Assign(name));
        for (dep, req, optional) in candidate.manifest.all_dependencies() {
            let need = Need { req, holder: Some(candidate.as_ref()), optional };
            if let Some(&(current, _)) = self.assigned.get(dep) {
                if !req.matches(current.version()) {
                    self.note_failure(|solver| {
                        let requirement = solver.owned(&need);
                        let others = solver.requirements(dep);
                        if solver.modes.get(dep) == Some(&Mode::Locked) {
                            return ResolveError::InstalledMismatch {
                                name: dep.clone(),
                                installed: current.version().clone(),
                                requirement,
                                others,
                            };
                        }
                        let mut requirements = others;
                        requirements.push(requirement);
                        let available = solver.catalog.versions(dep).iter().map(|m| m.version().clone()).collect();
                        ResolveError::Conflict { name: dep.clone(), requirements, available, newer_than: None }
                    });
                    return false;
                }
                self.add_need(dep, need);
                continue;
            }
            if !optional && !self.catalog.contains(dep) {
                self.note_failure(|solver| ResolveError::UnknownModule { name: dep.clone(), required_by: solver.owned(&need).origin });
                return false;
            }
            self.require(dep, need);
        }
        true
    }

    /// Keeps the first failure, built only when it is the first.
    fn note_failure(&mut self, explain: impl FnOnce(&Self) -> ResolveError) {
        if self.first_failure.is_none() {
            self.first_failure = Some(explain(self));
        }
    }

    /// The latest decision that put a requirement on `name`: going back to it is the
    /// nearest change that can make `name` satisfiable. Decisions in between had no
    /// part in the conflict, so jumping over them loses no solution.
    fn culprit(&self, name: &ModuleName) -> Option<usize> {
        self.needs
            .get(name)?
            .iter()
            .filter_map(|need| need.holder)
            .filter_map(|holder| self.assigned.get(holder.name()).and_then(|(_, decision)| *decision))
            .max()
    }

    pub fn solve(&mut self) -> Result<(), ResolveError> {
        let mut decisions: Vec<Decision<'a>> = Vec::new();
        loop {
            let Some(name) = self.next_pending() else { return Ok(()) };
            let candidates = self.candidates(name);
            if candidates.is_empty() {
                self.note_failure(|solver| solver.explain(name));
                match self.culprit(name) {
                    Some(i) => decisions.truncate(i + 1),
                    None => decisions.clear(),
                }
            } else {
                self.pending.pop();
                self.undo.push(Undo::Pop(name));
                decisions.push(Decision { name, candidates, next: 0, undo_mark: self.undo.len() });
            }
            // Try the next candidate of the innermost decision, going back further as
            // decisions run out of candidates.
            loop {
                let depth = decisions.len();
                let Some(decision) = decisions.last_mut() else {
                    return Err(self.first_failure.take().unwrap_or(ResolveError::TooComplex { tries: self.tries }));
                };
                if decision.next == decision.candidates.len() {
                    decisions.pop();
                    continue;
                }
                let candidate = decision.candidates[decision.next];
                decision.next += 1;
                let (mark, name) = (decision.undo_mark, decision.name);
                self.undo_to(mark);
                self.tries += 1;
                if self.tries > MAX_TRIES {
                    return Err(ResolveError::TooComplex { tries: MAX_TRIES });
                }
                if self.assign(name, candidate, depth - 1) {
                    break;
                }
            }
        }
    }

    /// The changed modules in dependency order, each with why it is there.
    pub fn plan(&self, requested: &BTreeSet<ModuleName>) -> Result<Vec<PlanStep>, ResolveError> {
        let modules: Vec<Arc<ModuleVersion>> = self.assigned.values().map(|(m, _)| Arc::clone(m)).collect();
        let order = dependency_order(&modules)?;
        let changed = |m: &Arc<ModuleVersion>| self.installed.get(m.name()) != Some(m.version());
        // A dependency joins the plan for the first changed module that needs it.
        let mut needed_by: Map<&ModuleName, &ModuleName> = Map::default();
        for module in order.iter().filter(|m| changed(m)) {
            for dep in module.manifest.dependencies.keys() {
                needed_by.entry(dep).or_insert(module.name());
            }
        }
        let mut steps: Vec<PlanStep> = Vec::new();
        for module in order.iter().filter(|m| changed(m)) {
            let reason = match needed_by.get(module.name()) {
                Some(by) if !requested.contains(module.name()) => Reason::DependencyOf((*by).clone()),
                _ => Reason::Requested,
            };
            steps.push(PlanStep { module: module.clone(), from: self.installed.get(module.name()).cloned(), reason });
        }
        Ok(steps)
    }
}
