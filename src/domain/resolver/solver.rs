//! The search behind [`resolve`](super::resolve): one decision per module, newest
//! candidate first, an undo log instead of recursion (deep chains cannot overflow the
//! stack), dependencies decided right after their dependent, and a jump back to the
//! decision that caused a conflict instead of the one made last.
//!
//! Every module name is interned once per resolve: the search keeps its state in vectors
//! indexed by that number, so a dependency edge costs one hash lookup, and requirements
//! borrow from the catalog and the goal, so solving allocates nothing per edge.

use std::collections::BTreeSet;
use std::sync::Arc;

use semver::{Version, VersionReq};
use time::Date;

use super::{Origin, PlanStep, Reason, Requirement, ResolveError, order};
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

/// A requirement while solving, borrowed from the catalog and the goal. `holder` is
/// `None` for the request itself.
#[derive(Clone, Copy)]
pub(super) struct Need<'a> {
    pub req: &'a VersionReq,
    pub holder: Option<&'a ModuleVersion>,
    pub optional: bool,
}

/// An interned module name.
type Id = u32;

enum Undo {
    Assign(Id),
    Need(Id),
    /// A name was pushed on the pending stack (and is now known to be needed).
    Push(Id),
    /// A name was popped off the pending stack.
    Pop(Id),
}

struct Decision<'a> {
    id: Id,
    candidates: Vec<&'a Arc<ModuleVersion>>,
    next: usize,
    undo_mark: usize,
}

const MAX_TRIES: usize = 200_000;

/// What the search knows about one module name.
struct Slot<'a> {
    name: &'a ModuleName,
    /// The catalog's versions of it, newest first (empty: not in the catalog).
    versions: &'a [Arc<ModuleVersion>],
    mode: Option<Mode>,
    /// The chosen version, and the decision that chose it (`None`: locked).
    assigned: Option<(&'a Arc<ModuleVersion>, Option<usize>)>,
    needs: Vec<Need<'a>>,
    queued: bool,
    /// Versions only the landlord still has may be chosen (restores).
    stored_ok: bool,
}

pub(super) struct Solver<'a> {
    catalog: &'a Catalog,
    installed: &'a Installed,
    today: Date,
    pub to: Option<&'a Version>,
    ids: rustc_hash::FxHashMap<&'a ModuleName, Id>,
    slots: Vec<Slot<'a>>,
    /// Names waiting for a decision, newest on top: a module's dependencies are decided
    /// right after it, so a conflict is found next to the decision that caused it.
    pending: Vec<Id>,
    undo: Vec<Undo>,
    tries: usize,
    first_failure: Option<ResolveError>,
    /// Combinations of versions that may not be chosen together (cycles found before).
    forbidden: &'a [Vec<(ModuleName, Version)>],
}

impl<'a> Solver<'a> {
    pub fn new(catalog: &'a Catalog, installed: &'a Installed, today: Date, forbidden: &'a [Vec<(ModuleName, Version)>]) -> Self {
        Solver {
            catalog,
            installed,
            today,
            to: None,
            ids: rustc_hash::FxHashMap::default(),
            slots: Vec::new(),
            pending: Vec::new(),
            undo: Vec::new(),
            tries: 0,
            first_failure: None,
            forbidden,
        }
    }

    /// Whether choosing `candidate` completes a forbidden combination with what is
    /// already chosen.
    fn completes_forbidden(&self, candidate: &ModuleVersion) -> bool {
        self.forbidden.iter().any(|combination| {
            combination.iter().any(|(n, v)| n == candidate.name() && v == candidate.version())
                && combination.iter().all(|(n, v)| {
                    (n == candidate.name() && v == candidate.version())
                        || self.ids.get(n).and_then(|&id| self.slot(id).assigned).is_some_and(|(m, _)| m.version() == v)
                })
        })
    }

    fn id(&mut self, name: &'a ModuleName) -> Id {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.slots.len() as Id;
        self.slots.push(Slot {
            name,
            versions: self.catalog.versions(name),
            mode: None,
            assigned: None,
            needs: Vec::new(),
            queued: false,
            stored_ok: false,
        });
        self.ids.insert(name, id);
        id
    }

    fn slot(&self, id: Id) -> &Slot<'a> {
        &self.slots[id as usize]
    }

    fn slot_mut(&mut self, id: Id) -> &mut Slot<'a> {
        &mut self.slots[id as usize]
    }

    fn installed_module(&self, name: &ModuleName) -> Option<&'a Arc<ModuleVersion>> {
        let version = self.installed.get(name)?;
        self.catalog.get(name, version)
    }

    pub fn set_mode(&mut self, name: &'a ModuleName, mode: Mode) {
        let id = self.id(name);
        self.slot_mut(id).mode = Some(mode);
    }

    pub fn allow_stored(&mut self, name: &'a ModuleName) {
        let id = self.id(name);
        self.slot_mut(id).stored_ok = true;
    }

    /// Pins installed modules at their versions; their requirements bind everyone else.
    pub fn lock(&mut self, names: &BTreeSet<&'a ModuleName>) {
        let mut locked = Vec::new();
        for &name in names {
            // The landlord keeps every installed version; a gap means the module's record
            // was lost, and it can only be treated as having no requirements.
            let Some(module) = self.installed_module(name) else { continue };
            let id = self.id(name);
            let slot = self.slot_mut(id);
            slot.mode = Some(Mode::Locked);
            slot.assigned = Some((module, None));
            locked.push(module);
        }
        for module in locked {
            for (dep, req, optional) in module.manifest.all_dependencies() {
                let id = self.id(dep);
                self.slot_mut(id).needs.push(Need { req, holder: Some(module), optional });
            }
        }
    }

    fn add_need(&mut self, id: Id, need: Need<'a>) {
        self.slot_mut(id).needs.push(need);
        self.undo.push(Undo::Need(id));
    }

    pub fn require(&mut self, name: &'a ModuleName, need: Need<'a>) {
        let id = self.id(name);
        self.require_id(id, need);
    }

    fn require_id(&mut self, id: Id, need: Need<'a>) {
        let optional = need.optional;
        self.add_need(id, need);
        if !optional {
            self.enqueue_id(id);
        }
    }

    pub fn enqueue(&mut self, name: &'a ModuleName) {
        let id = self.id(name);
        self.enqueue_id(id);
    }

    fn enqueue_id(&mut self, id: Id) {
        let slot = self.slot_mut(id);
        if !slot.queued {
            slot.queued = true;
            self.pending.push(id);
            self.undo.push(Undo::Push(id));
        }
    }

    /// The next name that needs a decision, dropping names decided meanwhile.
    fn next_pending(&mut self) -> Option<Id> {
        while let Some(&top) = self.pending.last() {
            if self.slot(top).assigned.is_none() {
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
                Some(Undo::Assign(id)) => self.slot_mut(id).assigned = None,
                Some(Undo::Need(id)) => {
                    self.slot_mut(id).needs.pop();
                }
                Some(Undo::Push(id)) => {
                    self.pending.pop();
                    self.slot_mut(id).queued = false;
                }
                Some(Undo::Pop(id)) => self.pending.push(id),
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

    fn satisfies_all(&self, id: Id, version: &Version) -> bool {
        self.slot(id).needs.iter().all(|n| n.req.matches(version))
    }

    /// The versions worth trying for `id`, best first; empty when none fits.
    fn candidates(&self, id: Id) -> Vec<&'a Arc<ModuleVersion>> {
        let slot = self.slot(id);
        let installed = self.installed.get(slot.name);
        let fresh = |m: &&'a Arc<ModuleVersion>| (m.is_installable() || slot.stored_ok) && !self.past_sunset(m);
        let fits = |m: &&'a Arc<ModuleVersion>| self.satisfies_all(id, m.version());
        match (slot.mode, installed) {
            (Some(Mode::Target), Some(current)) => slot
                .versions
                .iter()
                .filter(|m| m.version() > current && m.is_installable())
                .filter(|m| match self.to {
                    Some(to) => m.version() == to,
                    None => m.version().pre.is_empty() && !self.past_sunset(m),
                })
                .filter(fits)
                .collect(),
            (Some(Mode::Upgradable), Some(current)) => self
                .installed_module(slot.name)
                .into_iter()
                .chain(slot.versions.iter().filter(|m| m.version() > current).filter(fresh))
                .filter(fits)
                .collect(),
            _ => slot.versions.iter().filter(fresh).filter(fits).collect(),
        }
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

    fn requirements(&self, id: Id) -> Vec<Requirement> {
        self.slot(id).needs.iter().map(|n| self.owned(n)).collect()
    }

    /// Why no version of `id` fits.
    fn explain(&self, id: Id) -> ResolveError {
        let slot = self.slot(id);
        let name = slot.name;
        let requirements = self.requirements(id);
        // Retired versions that would otherwise have matched.
        if let Some(retired) =
            slot.versions.iter().find(|m| m.is_installable() && self.past_sunset(m) && self.satisfies_all(id, m.version()))
        {
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
            slot.versions.iter().filter(|m| m.is_installable() || slot.stored_ok).map(|m| m.version().clone()).collect();
        let only_request = requirements.iter().all(|r| r.origin == Origin::Request);
        if only_request && let [request] = requirements.as_slice() {
            return ResolveError::NoMatchingVersion { name: name.clone(), req: request.req.clone(), available };
        }
        let newer_than = match slot.mode {
            Some(Mode::Target) => self.installed.get(name).cloned(),
            _ => None,
        };
        ResolveError::Conflict { name: name.clone(), requirements, available, newer_than }
    }

    /// Assigns `candidate` to `id` (chosen by decision `decision`) and adds its
    /// requirements. Stops at the first requirement that an already-decided module
    /// misses, or on an unknown dependency; the first such failure is kept to explain.
    fn assign(&mut self, id: Id, candidate: &'a Arc<ModuleVersion>, decision: usize) -> bool {
        if !self.forbidden.is_empty() && self.completes_forbidden(candidate) {
            return false;
        }
        self.slot_mut(id).assigned = Some((candidate, Some(decision)));
        self.undo.push(Undo::Assign(id));
        for (dep, req, optional) in candidate.manifest.all_dependencies() {
            let dep_id = self.id(dep);
            let need = Need { req, holder: Some(candidate.as_ref()), optional };
            if let Some((current, _)) = self.slot(dep_id).assigned {
                if !req.matches(current.version()) {
                    self.note_failure(|solver| {
                        let requirement = solver.owned(&need);
                        let others = solver.requirements(dep_id);
                        if solver.slot(dep_id).mode == Some(Mode::Locked) {
                            return ResolveError::InstalledMismatch {
                                name: dep.clone(),
                                installed: current.version().clone(),
                                requirement,
                                others,
                            };
                        }
                        let mut requirements = others;
                        requirements.push(requirement);
                        let available = solver.slot(dep_id).versions.iter().map(|m| m.version().clone()).collect();
                        ResolveError::Conflict { name: dep.clone(), requirements, available, newer_than: None }
                    });
                    return false;
                }
                self.add_need(dep_id, need);
                continue;
            }
            if !optional && self.slot(dep_id).versions.is_empty() {
                self.note_failure(|solver| ResolveError::UnknownModule { name: dep.clone(), required_by: solver.owned(&need).origin });
                return false;
            }
            self.require_id(dep_id, need);
        }
        true
    }

    /// Keeps the first failure, built only when it is the first.
    fn note_failure(&mut self, explain: impl FnOnce(&Self) -> ResolveError) {
        if self.first_failure.is_none() {
            self.first_failure = Some(explain(self));
        }
    }

    /// The latest decision that put a requirement on `id`: going back to it is the
    /// nearest change that can make `id` satisfiable. Decisions in between had no part
    /// in the conflict, so jumping over them loses no solution.
    fn culprit(&self, id: Id) -> Option<usize> {
        self.slot(id)
            .needs
            .iter()
            .filter_map(|need| need.holder)
            .filter_map(|holder| self.ids.get(holder.name()).and_then(|&h| self.slot(h).assigned).and_then(|(_, decision)| decision))
            .max()
    }

    pub fn solve(&mut self) -> Result<(), ResolveError> {
        let mut decisions: Vec<Decision<'a>> = Vec::new();
        loop {
            let Some(id) = self.next_pending() else { return Ok(()) };
            let candidates = self.candidates(id);
            if candidates.is_empty() {
                self.note_failure(|solver| solver.explain(id));
                match self.culprit(id) {
                    Some(i) => decisions.truncate(i + 1),
                    None => decisions.clear(),
                }
            } else {
                self.pending.pop();
                self.undo.push(Undo::Pop(id));
                decisions.push(Decision { id, candidates, next: 0, undo_mark: self.undo.len() });
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
                let (mark, id) = (decision.undo_mark, decision.id);
                self.undo_to(mark);
                self.tries += 1;
                if self.tries > MAX_TRIES {
                    return Err(ResolveError::TooComplex { tries: MAX_TRIES });
                }
                if self.assign(id, candidate, depth - 1) {
                    break;
                }
            }
        }
    }

    /// The changed modules in dependency order (ties by name), each with why it is there.
    pub fn plan(&self, requested: &BTreeSet<ModuleName>) -> Result<Vec<PlanStep>, ResolveError> {
        let chosen: Vec<(Id, &'a Arc<ModuleVersion>)> =
            (0..self.slots.len() as Id).filter_map(|id| self.slot(id).assigned.map(|(m, _)| (id, m))).collect();
        // Positions in `chosen` stand for the modules in the one topological sort; ties
        // break by name.
        let mut by_name: Vec<usize> = (0..chosen.len()).collect();
        by_name.sort_by(|a, b| chosen[*a].1.name().cmp(chosen[*b].1.name()));
        let mut ranks = vec![0; chosen.len()];
        for (r, p) in by_name.into_iter().enumerate() {
            ranks[p] = r;
        }
        let mut position = vec![usize::MAX; self.slots.len()];
        for (p, (id, _)) in chosen.iter().enumerate() {
            position[*id as usize] = p;
        }
        let deps = |p: usize| {
            chosen[p]
                .1
                .manifest
                .all_dependencies()
                .filter_map(|(dep, _, _)| self.ids.get(dep).map(|&d| position[d as usize]).filter(|&p| p != usize::MAX))
        };
        let order: Vec<Id> = match order::order(deps, &ranks) {
            Ok(order) => order.into_iter().map(|p| chosen[p].0).collect(),
            Err(cycle) => {
                let path = cycle.into_iter().map(|p| (chosen[p].1.name().clone(), chosen[p].1.version().clone())).collect();
                return Err(ResolveError::Cycle { path });
            }
        };
        let assigned = |id: Id| self.slot(id).assigned.map(|(m, _)| m);
        let changed = |id: Id| assigned(id).is_some_and(|m| self.installed.get(m.name()) != Some(m.version()));
        // A dependency joins the plan for the first changed module that needs it.
        let mut needed_by: Vec<Option<Id>> = vec![None; self.slots.len()];
        for &id in order.iter().filter(|id| changed(**id)) {
            if let Some(module) = assigned(id) {
                for dep in module.manifest.dependencies.keys() {
                    if let Some(&d) = self.ids.get(dep) {
                        needed_by[d as usize].get_or_insert(id);
                    }
                }
            }
        }
        let mut steps = Vec::new();
        for &id in order.iter().filter(|id| changed(**id)) {
            let Some(module) = assigned(id) else { continue };
            let reason = match needed_by[id as usize] {
                Some(by) if !requested.contains(module.name()) => Reason::DependencyOf(self.slot(by).name.clone()),
                _ => Reason::Requested,
            };
            steps.push(PlanStep { module: Arc::clone(module), from: self.installed.get(module.name()).cloned(), reason });
        }
        Ok(steps)
    }
}
