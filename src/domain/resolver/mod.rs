//! Dependency resolution (SPEC §5.1, §5.2): which versions a tenant ends up with, and in
//! what order to get there. Pure and deterministic.
//!
//! Installed modules are locked at their version, except during an upgrade, where the
//! modules being upgraded move up and the installed modules that do not depend on them
//! may move up when a new requirement asks for it. When no assignment exists, the error
//! names every requirement on the module at fault and who holds it. The search itself is
//! in `solver`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use semver::{Version, VersionReq};
use time::Date;

use crate::domain::catalog::Catalog;
use crate::domain::error::{Error, ErrorKind};
use crate::domain::module::ModuleVersion;
use crate::domain::name::ModuleName;

mod order;
mod solver;
#[cfg(test)]
mod tests;

use solver::{Mode, Need, Solver};

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
    /// The chosen versions depend on each other in a circle: `a -> b -> a`, each with the
    /// version that holds the dependency on the next.
    Cycle { path: Vec<(ModuleName, Version)> },
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
                let path: Vec<&str> = path.iter().map(|(name, _)| name.as_str()).collect();
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
///
/// Versions that depend on each other in a circle cannot be installed (there is no order
/// to run their migrations in): when the chosen versions form a cycle, that combination
/// is ruled out and the search goes on, so that a lower version without the cycle is
/// found if one exists. When none is, the first cycle is the error.
pub fn resolve(catalog: &Catalog, installed: &Installed, goal: &Goal, today: Date) -> Result<Resolution, ResolveError> {
    let mut forbidden: Vec<Vec<(ModuleName, Version)>> = Vec::new();
    let mut first_cycle = None;
    loop {
        let outcome = resolve_once(catalog, installed, goal, today, &forbidden);
        match outcome {
            Err(ResolveError::Cycle { path }) if forbidden.len() < MAX_CYCLES => {
                let mut members = path.clone();
                members.pop();
                forbidden.push(members);
                first_cycle.get_or_insert(ResolveError::Cycle { path });
            }
            Err(e) => return Err(first_cycle.unwrap_or(e)),
            Ok(resolution) => return Ok(resolution),
        }
    }
}

/// How many cycles a resolution rules out before it reports the first.
const MAX_CYCLES: usize = 64;

/// One search, with the version combinations of `forbidden` ruled out.
fn resolve_once(
    catalog: &Catalog,
    installed: &Installed,
    goal: &Goal,
    today: Date,
    forbidden: &[Vec<(ModuleName, Version)>],
) -> Result<Resolution, ResolveError> {
    let mut solver = Solver::new(catalog, installed, today, forbidden);
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
                    solver.allow_stored(&request.name);
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
                solver.set_mode(name, Mode::Target);
                solver.enqueue(name);
            }
            for name in installed.keys() {
                if !targets.contains(name) && !locked.contains(name) {
                    solver.set_mode(name, Mode::Upgradable);
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

/// The modules `module` depends on, directly or through others: every required
/// dependency, and each optional one that the tenant has, as `present` gives what the
/// tenant has while `module` runs. A module's SQL may write to their tables and to its
/// own, and to no other module's (SPEC §5.1).
pub fn dependency_closure<'a>(
    module: &'a ModuleVersion,
    present: impl Fn(&ModuleName) -> Option<&'a ModuleVersion>,
) -> BTreeSet<ModuleName> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![module];
    while let Some(next) = frontier.pop() {
        for (dep, _, optional) in next.manifest.all_dependencies() {
            if dep == module.name() || found.contains(dep) {
                continue;
            }
            match present(dep) {
                Some(version) => {
                    found.insert(dep.clone());
                    frontier.push(version);
                }
                None if !optional => {
                    found.insert(dep.clone());
                }
                None => {}
            }
        }
    }
    found
}

/// Orders modules so that each comes after everything it depends on (required, and
/// optional when present). Ties go to the name that sorts first.
pub fn dependency_order(modules: &[Arc<ModuleVersion>]) -> Result<Vec<Arc<ModuleVersion>>, ResolveError> {
    let mut sorted: Vec<&Arc<ModuleVersion>> = modules.iter().collect();
    sorted.sort_by(|a, b| a.name().cmp(b.name()));
    let index: rustc_hash::FxHashMap<&ModuleName, usize> = sorted.iter().enumerate().map(|(i, m)| (m.name(), i)).collect();
    let deps = |i: usize| sorted[i].manifest.all_dependencies().filter_map(|(dep, _, _)| index.get(dep).copied());
    let rank: Vec<usize> = (0..sorted.len()).collect();
    match order::order(deps, &rank) {
        Ok(order) => Ok(order.into_iter().map(|i| Arc::clone(sorted[i])).collect()),
        Err(cycle) => {
            Err(ResolveError::Cycle { path: cycle.into_iter().map(|i| (sorted[i].name().clone(), sorted[i].version().clone())).collect() })
        }
    }
}
