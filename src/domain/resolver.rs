//! Dependency resolution (SPEC §5.1, §5.2): which versions a tenant ends up with, and in
//! what order to get there. Pure and deterministic.
//!
//! The solver is a chronological backtracking search over one decision per module,
//! newest candidate first, with an undo log instead of recursion so that deep dependency
//! chains cannot overflow the stack. Installed modules are locked at their version, except
//! during an upgrade, where the modules being upgraded move up and the installed modules
//! that do not depend on them may move up when a new requirement asks for it. When no
//! assignment exists, the error names every requirement on the module at fault and who
//! holds it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use std::fmt;
use std::sync::Arc;

use semver::{Version, VersionReq};
use time::Date;

use crate::domain::catalog::Catalog;
use crate::domain::error::{Error, ErrorKind};
use crate::domain::module::ModuleVersion;
use crate::domain::name::ModuleName;

/// A module asked for on the command line: `finance` or `finance@^1.2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: ModuleName,
    pub req: VersionReq,
    /// Versions only the landlord still has may be chosen (restoring from an archive).
    pub allow_stored: bool,
}

impl Request {
    /// Parses `NAME[@REQ]`; REQ is a cargo-style requirement (`1.2` means `^1.2`).
    pub fn parse(text: &str) -> Result<Request, Error> {
        let (name, req) = match text.split_once('@') {
            Some((name, req)) => (name, Some(req)),
            None => (text, None),
        };
        let name = ModuleName::parse(name)?;
        let req = match req {
            None => VersionReq::STAR,
            Some(req) => VersionReq::parse(req).map_err(|e| {
                Error::invalid(format!("invalid version requirement `{req}` for `{name}`: {e}"))
                    .with_hint(format!("use a cargo-style requirement, e.g. `{name}@^1.2` or `{name}@=1.2.0`"))
            })?,
        };
        Ok(Request { name, req, allow_stored: false })
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.req == VersionReq::STAR { write!(f, "{}", self.name) } else { write!(f, "{}@{}", self.name, self.req) }
    }
}

/// What the caller wants.
#[derive(Debug, Clone)]
pub enum Goal {
    /// Install these modules (and whatever they need).
    Install(Vec<Request>),
    /// Move these installed modules to the newest version that keeps every constraint
    /// true, or to `to`.
    Upgrade { modules: Vec<ModuleName>, to: Option<Version> },
}

/// Who holds a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Request,
    Module { name: ModuleName, version: Version, installed: bool },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Request => f.write_str("your request"),
            Origin::Module { name, version, installed: true } => write!(f, "`{name} {version}` (installed)"),
            Origin::Module { name, version, installed: false } => write!(f, "`{name} {version}`"),
        }
    }
}

/// One requirement on a module and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub req: VersionReq,
    pub origin: Origin,
    pub optional: bool,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let optional = if self.optional { " (optional dependency)" } else { "" };
        write!(f, "`{}` from {}{optional}", self.req, self.origin)
    }
}

/// Why resolution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// No module of that name exists in the catalog.
    UnknownModule { name: ModuleName, required_by: Origin },
    /// An upgrade names a module the tenant does not have.
    NotInstalled { name: ModuleName },
    /// No version matches the request, and nothing else is in the way.
    NoMatchingVersion { name: ModuleName, req: VersionReq, available: Vec<Version> },
    /// Requirements that no version satisfies at once.
    Conflict { name: ModuleName, requirements: Vec<Requirement>, available: Vec<Version>, newer_than: Option<Version> },
    /// A requirement that the installed (locked) version of a module does not meet.
    InstalledMismatch { name: ModuleName, installed: Version, requirement: Requirement, others: Vec<Requirement> },
    /// The only matching versions are past their sunset date.
    Sunset { name: ModuleName, version: Version, sunset: Date, replacement: Option<ModuleName> },
    /// `--to` names a version older than the installed one.
    Downgrade { name: ModuleName, installed: Version, to: Version },
    /// The chosen versions depend on each other in a circle.
    Cycle { path: Vec<ModuleName> },
    /// The search gave up.
    TooComplex { tries: usize },
}

impl ResolveError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ResolveError::UnknownModule { required_by: Origin::Request, .. }
            | ResolveError::NotInstalled { .. }
            | ResolveError::NoMatchingVersion { .. } => ErrorKind::NotFound,
            ResolveError::Downgrade { .. } => ErrorKind::Invalid,
            _ => ErrorKind::Dependency,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            ResolveError::UnknownModule { .. } => Some("run `modreg modules list` to see the catalog".into()),
            ResolveError::NotInstalled { name } => Some(format!("install it first: `modreg install {name} --tenant …`")),
            ResolveError::NoMatchingVersion { name, .. } => Some(format!("run `modreg modules show {name}` to see its versions")),
            ResolveError::InstalledMismatch { name, requirement, .. } if requirement.origin == Origin::Request => {
                Some(format!("to move an installed module, run `modreg upgrade {name} --tenant …`"))
            }
            ResolveError::InstalledMismatch { name, .. } => {
                Some(format!("upgrade `{name}` first, or pick a version whose requirements it meets"))
            }
            ResolveError::Sunset { replacement: Some(r), .. } => Some(format!("install `{r}` instead")),
            ResolveError::Downgrade { .. } => {
                Some("downgrades are refused; `modreg revert JOB` undoes an upgrade from its kept copy".into())
            }
            ResolveError::TooComplex { .. } => Some("pin versions with `MODULE@=VERSION` to narrow the search".into()),
            _ => None,
        }
    }
}

fn versions_list(versions: &[Version]) -> String {
    if versions.is_empty() {
        return "none".into();
    }
    versions.iter().map(Version::to_string).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::UnknownModule { name, required_by: Origin::Request } => write!(f, "module `{name}` is not in the catalog"),
            ResolveError::UnknownModule { name, required_by } => {
                write!(f, "{required_by} depends on `{name}`, which is not in the catalog")
            }
            ResolveError::NotInstalled { name } => write!(f, "module `{name}` is not installed for this tenant"),
            ResolveError::NoMatchingVersion { name, req, available } => {
                write!(f, "no version of `{name}` matches `{req}` (available: {})", versions_list(available))
            }
            ResolveError::Conflict { name, requirements, available, newer_than } => {
                match newer_than {
                    Some(v) => write!(f, "no version of `{name}` newer than {v} satisfies every requirement:")?,
                    None => write!(f, "no version of `{name}` satisfies every requirement:")?,
                }
                for r in requirements {
                    write!(f, "\n  {r}")?;
                }
                write!(f, "\navailable: {}", versions_list(available))
            }
            ResolveError::InstalledMismatch { name, installed, requirement, others } => {
                match &requirement.origin {
                    Origin::Request => write!(f, "`{name} {installed}` is installed, which does not match `{}`", requirement.req)?,
                    origin => write!(f, "{origin} requires `{name} {}`, but `{name} {installed}` is installed", requirement.req)?,
                }
                for other in others {
                    write!(f, "\n  `{name}` is also required as {other}")?;
                }
                Ok(())
            }
            ResolveError::Sunset { name, version, sunset, replacement } => {
                write!(f, "`{name} {version}` was retired on {sunset} and can no longer be installed")?;
                if let Some(r) = replacement {
                    write!(f, "; its replacement is `{r}`")?;
                }
                Ok(())
            }
            ResolveError::Downgrade { name, installed, to } => {
                write!(f, "`{name}` is at {installed}; moving it to {to} would be a downgrade")
            }
            ResolveError::Cycle { path } => {
                let path: Vec<&str> = path.iter().map(ModuleName::as_str).collect();
                write!(f, "dependency cycle: {}", path.join(" -> "))
            }
            ResolveError::TooComplex { tries } => write!(f, "dependency resolution gave up after trying {tries} candidate versions"),
        }
    }
}

impl std::error::Error for ResolveError {}

impl From<ResolveError> for Error {
    fn from(e: ResolveError) -> Self {
        let hint = e.hint();
        let mut err = Error::new(e.kind(), e.to_string());
        err.hint = hint;
        err
    }
}

/// Why a module is in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Requested,
    /// Needed by this module of the plan.
    DependencyOf(ModuleName),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Requested => f.write_str("requested"),
            Reason::DependencyOf(n) => write!(f, "required by {n}"),
        }
    }
}

/// One module to install or upgrade.
#[derive(Debug, Clone)]
pub struct PlanStep {
    pub module: Arc<ModuleVersion>,
    /// The installed version for an upgrade; `None` for an install.
    pub from: Option<Version>,
    pub reason: Reason,
}

/// The outcome of resolution: the steps in dependency order, and the requested modules
/// that are already where they should be.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub steps: Vec<PlanStep>,
    pub unchanged: Vec<(ModuleName, Version)>,
}

/// The tenant's installed modules: name to version.
pub type Installed = BTreeMap<ModuleName, Version>;

/// Resolves `goal` for a tenant that has `installed`, against `catalog`, on `today`.
pub fn resolve(catalog: &Catalog, installed: &Installed, goal: &Goal, today: Date) -> Result<Resolution, ResolveError> {
    let mut solver = Solver::new(catalog, installed, today);
    let mut unchanged = Vec::new();
    let mut requested = BTreeSet::new();
    match goal {
        Goal::Install(requests) => {
            let every: BTreeSet<&ModuleName> = installed.keys().collect();
            solver.lock(&every);
            for request in requests {
                requested.insert(request.name.clone());
                if let Some(version) = installed.get(&request.name) {
                    if request.req.matches(version) {
                        unchanged.push((request.name.clone(), version.clone()));
                        continue;
                    }
                    let requirement = Requirement { req: request.req.clone(), origin: Origin::Request, optional: false };
                    return Err(ResolveError::InstalledMismatch {
                        name: request.name.clone(),
                        installed: version.clone(),
                        requirement,
                        others: Vec::new(),
                    });
                }
                if !catalog.contains(&request.name) {
                    return Err(ResolveError::UnknownModule { name: request.name.clone(), required_by: Origin::Request });
                }
                if request.allow_stored {
                    solver.stored_ok.insert(&request.name);
                }
                solver.require(&request.name, Need { req: &request.req, holder: None, optional: false });
            }
        }
        Goal::Upgrade { modules, to } => {
            let mut targets = BTreeSet::new();
            for name in modules {
                requested.insert(name.clone());
                let Some(current) = installed.get(name) else {
                    return Err(ResolveError::NotInstalled { name: name.clone() });
                };
                if !catalog.contains(name) {
                    return Err(ResolveError::UnknownModule { name: name.clone(), required_by: Origin::Request });
                }
                if let Some(to) = to {
                    if to < current {
                        return Err(ResolveError::Downgrade { name: name.clone(), installed: current.clone(), to: to.clone() });
                    }
                    if to == current {
                        unchanged.push((name.clone(), current.clone()));
                        continue;
                    }
                    if catalog.get(name, to).is_none_or(|m| !m.is_installable()) {
                        let available = catalog.versions(name).iter().map(|m| m.version().clone()).collect();
                        return Err(ResolveError::NoMatchingVersion { name: name.clone(), req: exact(to), available });
                    }
                } else if !solver.has_newer_release(name, current) {
                    unchanged.push((name.clone(), current.clone()));
                    continue;
                }
                targets.insert(name.clone());
            }
            solver.to = to.as_ref();
            let dependents = dependents_closure(catalog, installed, &targets, true);
            let locked: BTreeSet<&ModuleName> = installed.keys().filter(|n| dependents.contains(*n) && !targets.contains(*n)).collect();
            solver.lock(&locked);
            for (name, _) in installed.iter().filter(|(n, _)| targets.contains(*n)) {
                solver.modes.insert(name, Mode::Target);
                solver.enqueue(name);
            }
            for name in installed.keys() {
                if !targets.contains(name) && !locked.contains(name) {
                    solver.modes.insert(name, Mode::Upgradable);
                    solver.enqueue(name);
                }
            }
        }
    }
    solver.solve()?;
    let steps = solver.plan(&requested)?;
    Ok(Resolution { steps, unchanged })
}

fn exact(version: &Version) -> VersionReq {
    VersionReq::parse(&format!("={version}")).unwrap_or(VersionReq::STAR)
}

/// The installed modules that depend on any of `of`, directly or through others
/// (`of` itself excluded), using the installed versions' manifests.
pub fn dependents_closure(
    catalog: &Catalog,
    installed: &Installed,
    of: &BTreeSet<ModuleName>,
    include_optional: bool,
) -> BTreeSet<ModuleName> {
    let mut found: BTreeSet<ModuleName> = BTreeSet::new();
    let mut frontier: Vec<ModuleName> = of.iter().cloned().collect();
    while let Some(target) = frontier.pop() {
        for (name, version) in installed {
            if of.contains(name) || found.contains(name) {
                continue;
            }
            let Some(module) = catalog.get(name, version) else { continue };
            let depends = module.manifest.all_dependencies().any(|(d, _, optional)| d == &target && (include_optional || !optional));
            if depends {
                found.insert(name.clone());
                frontier.push(name.clone());
            }
        }
    }
    found
}

/// Orders modules so that each comes after everything it depends on (required, and
/// optional when present). Ties go to the name that sorts first.
pub fn dependency_order(modules: &[Arc<ModuleVersion>]) -> Result<Vec<Arc<ModuleVersion>>, ResolveError> {
    // Work on indices into the modules sorted by name: ties break by index.
    let mut sorted: Vec<&Arc<ModuleVersion>> = modules.iter().collect();
    sorted.sort_by(|a, b| a.name().cmp(b.name()));
    let index: rustc_hash::FxHashMap<&ModuleName, usize> = sorted.iter().enumerate().map(|(i, m)| (m.name(), i)).collect();
    let mut indegree = vec![0usize; sorted.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); sorted.len()];
    for (i, m) in sorted.iter().enumerate() {
        for (dep, _, _) in m.manifest.all_dependencies() {
            if let Some(&d) = index.get(dep) {
                indegree[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> =
        (0..sorted.len()).filter(|&i| indegree[i] == 0).map(std::cmp::Reverse).collect();
    let mut order = Vec::with_capacity(sorted.len());
    while let Some(std::cmp::Reverse(next)) = ready.pop() {
        order.push(Arc::clone(sorted[next]));
        for &dependent in &dependents[next] {
            indegree[dependent] -= 1;
            if indegree[dependent] == 0 {
                ready.push(std::cmp::Reverse(dependent));
            }
        }
    }
    if order.len() < sorted.len() {
        let by_name: HashMap<&ModuleName, &Arc<ModuleVersion>> = sorted.iter().map(|m| (m.name(), *m)).collect();
        let remaining: HashSet<&ModuleName> = (0..sorted.len()).filter(|&i| indegree[i] > 0).map(|i| sorted[i].name()).collect();
        return Err(ResolveError::Cycle { path: find_cycle(&by_name, &remaining) });
    }
    Ok(order)
}

/// Walks dependencies inside `remaining` (every node of which has an unresolved
/// dependency there) until a node repeats; returns the loop `a -> b -> a`.
fn find_cycle(by_name: &HashMap<&ModuleName, &Arc<ModuleVersion>>, remaining: &HashSet<&ModuleName>) -> Vec<ModuleName> {
    let Some(start) = remaining.iter().min() else { return Vec::new() };
    let mut path: Vec<&ModuleName> = vec![start];
    let mut seen: HashMap<&ModuleName, usize> = HashMap::from([(*start, 0)]);
    let mut current = *start;
    loop {
        let next = by_name[current].manifest.all_dependencies().map(|(d, _, _)| d).filter_map(|d| remaining.get(d).copied()).min();
        let Some(next) = next else { return path.into_iter().cloned().collect() };
        if let Some(&at) = seen.get(next) {
            let mut cycle: Vec<ModuleName> = path[at..].iter().map(|n| (*n).clone()).collect();
            cycle.push(next.clone());
            return cycle;
        }
        seen.insert(next, path.len());
        path.push(next);
        current = next;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
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
struct Need<'a> {
    req: &'a VersionReq,
    holder: Option<&'a ModuleVersion>,
    optional: bool,
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

struct Solver<'a> {
    catalog: &'a Catalog,
    installed: &'a Installed,
    today: Date,
    to: Option<&'a Version>,
    modes: Map<&'a ModuleName, Mode>,
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
    stored_ok: Set<&'a ModuleName>,
}

impl<'a> Solver<'a> {
    fn new(catalog: &'a Catalog, installed: &'a Installed, today: Date) -> Self {
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
    fn lock(&mut self, names: &BTreeSet<&'a ModuleName>) {
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

    fn require(&mut self, name: &'a ModuleName, need: Need<'a>) {
        let optional = need.optional;
        self.add_need(name, need);
        if !optional {
            self.enqueue(name);
        }
    }

    fn enqueue(&mut self, name: &'a ModuleName) {
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
    fn has_newer_release(&self, name: &ModuleName, current: &Version) -> bool {
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

    fn solve(&mut self) -> Result<(), ResolveError> {
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
    fn plan(&self, requested: &BTreeSet<ModuleName>) -> Result<Vec<PlanStep>, ResolveError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::tests::{module, module_with};
    use crate::domain::manifest::parse_date;
    use proptest::prelude::*;

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
        let catalog = Catalog::new([
            module("a", "1.0.0", &[("b", "^1")]),
            module("b", "1.0.0", &[("c", "^1")]),
            module("c", "1.0.0", &[("a", "^1")]),
        ])
        .0;
        let e = install(&catalog, &Installed::new(), &["a"]).unwrap_err();
        assert_eq!(e.to_string(), "dependency cycle: a -> b -> c -> a");
        assert_eq!(e.kind(), ErrorKind::Dependency);
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

    /// (module index, major version, [(dependency index, required major)])
    type Entry = (usize, u64, Vec<(usize, u64)>);

    fn random_catalog() -> impl Strategy<Value = Vec<Entry>> {
        prop::collection::vec((0usize..6, 1u64..4, prop::collection::vec((0usize..6, 1u64..4), 0..3)), 1..14)
    }

    proptest! {
        /// Whatever the catalog, a successful plan lists each module once, after all of
        /// its dependencies, and every chosen version meets every requirement on it.
        #[test]
        fn plans_are_ordered_and_consistent(entries in random_catalog(), want in 0usize..6) {
            let mut seen = HashSet::new();
            let mut versions = Vec::new();
            for (m, major, deps) in entries {
                if !seen.insert((m, major)) { continue; }
                let deps: Vec<(String, String)> = deps.into_iter().filter(|(d, _)| *d != m).map(|(d, r)| (format!("m{d}"), format!("^{r}"))).collect();
                let mut unique = BTreeMap::new();
                for (d, r) in deps { unique.entry(d).or_insert(r); }
                let deps: Vec<(&str, &str)> = unique.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                versions.push(module(&format!("m{m}"), &format!("{major}.0.0"), &deps));
            }
            let catalog = Catalog::new(versions).0;
            let request = format!("m{want}");
            if let Ok(r) = install(&catalog, &Installed::new(), &[request.as_str()]) {
                let chosen: HashMap<&str, &Version> = r.steps.iter().map(|s| (s.module.name().as_str(), s.module.version())).collect();
                prop_assert_eq!(chosen.len(), r.steps.len());
                prop_assert!(chosen.contains_key(request.as_str()));
                for (i, step) in r.steps.iter().enumerate() {
                    for (dep, req, _) in step.module.manifest.all_dependencies() {
                        let version = chosen.get(dep.as_str());
                        prop_assert!(version.is_some_and(|v| req.matches(v)));
                        let at = r.steps.iter().position(|s| s.module.name() == dep).unwrap();
                        prop_assert!(at < i, "dependency {} after {}", dep, step.module.name());
                    }
                }
            }
        }
    }
}
