//! The `module.toml` manifest (SPEC §2): serde types that refuse unknown keys, turned into
//! a validated [`Manifest`]. Every problem is reported with its line and column, and all
//! problems of a file are collected, not just the first. Pure: the caller reads the file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path};

use semver::{Version, VersionReq};
use serde::Deserialize;
use time::Date;
use toml::Spanned;

use crate::domain::diagnostic::Diagnostic;
use crate::domain::name::{FlagName, ModuleName};
use crate::domain::suggest::closest;

/// The hooks a manifest may name, in the order a reader expects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HookKind {
    PreInstall,
    PostInstall,
    PreUpgrade,
    PostUpgrade,
    PreUninstall,
    PostUninstall,
    Rollback,
}

impl HookKind {
    pub const ALL: [HookKind; 7] = [
        HookKind::PreInstall,
        HookKind::PostInstall,
        HookKind::PreUpgrade,
        HookKind::PostUpgrade,
        HookKind::PreUninstall,
        HookKind::PostUninstall,
        HookKind::Rollback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::PreInstall => "pre_install",
            HookKind::PostInstall => "post_install",
            HookKind::PreUpgrade => "pre_upgrade",
            HookKind::PostUpgrade => "post_upgrade",
            HookKind::PreUninstall => "pre_uninstall",
            HookKind::PostUninstall => "post_uninstall",
            HookKind::Rollback => "rollback",
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deprecation notice: installs and upgrades warn; after `sunset` no new installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecation {
    pub message: Option<String>,
    pub replacement: Option<ModuleName>,
    pub sunset: Option<Date>,
}

impl Deprecation {
    /// The notice as one line: message, replacement and sunset, whichever are given.
    pub fn note(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = &self.message {
            parts.push(m.clone());
        }
        if let Some(r) = &self.replacement {
            parts.push(format!("replacement: {r}"));
        }
        if let Some(s) = self.sunset {
            parts.push(format!("sunset {s}"));
        }
        if parts.is_empty() { "deprecated".into() } else { parts.join("; ") }
    }

    /// True when `today` is after the sunset date.
    pub fn is_past_sunset(&self, today: Date) -> bool {
        self.sunset.is_some_and(|sunset| today > sunset)
    }
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub name: ModuleName,
    pub version: Version,
    pub description: String,
    pub requires_subscription: bool,
    pub dependencies: BTreeMap<ModuleName, VersionReq>,
    pub optional_dependencies: BTreeMap<ModuleName, VersionReq>,
    pub features: BTreeMap<FlagName, bool>,
    /// Hook paths, relative to the module folder.
    pub hooks: BTreeMap<HookKind, String>,
    /// The hooks that write to the tenant database (`[hooks] writes_tenant_db`): a plan
    /// with one of them runs each module's work in a transaction of its own, committed
    /// before the hook runs, behind a whole-file rollback copy. The others run inside
    /// modreg's transaction and may only read.
    pub writes_tenant_db: BTreeSet<HookKind>,
    pub deprecation: Option<Deprecation>,
}

impl Manifest {
    pub fn hook(&self, kind: HookKind) -> Option<&str> {
        self.hooks.get(&kind).map(String::as_str)
    }

    /// Whether the manifest sets this hook and says that it writes the tenant database.
    pub fn hook_writes_tenant_db(&self, kind: HookKind) -> bool {
        self.writes_tenant_db.contains(&kind) && self.hooks.contains_key(&kind)
    }

    /// Required and optional dependencies, each with its requirement and whether it is optional.
    pub fn all_dependencies(&self) -> impl Iterator<Item = (&ModuleName, &VersionReq, bool)> {
        self.dependencies.iter().map(|(n, r)| (n, r, false)).chain(self.optional_dependencies.iter().map(|(n, r)| (n, r, true)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    module: Spanned<RawModule>,
    #[serde(default)]
    dependencies: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    features: BTreeMap<Spanned<String>, Spanned<bool>>,
    #[serde(default)]
    hooks: RawHooks,
    deprecation: Option<Spanned<RawDeprecation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    name: Spanned<String>,
    version: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    requires_subscription: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHooks {
    pre_install: Option<Spanned<String>>,
    post_install: Option<Spanned<String>>,
    pre_upgrade: Option<Spanned<String>>,
    post_upgrade: Option<Spanned<String>>,
    pre_uninstall: Option<Spanned<String>>,
    post_uninstall: Option<Spanned<String>>,
    rollback: Option<Spanned<String>>,
    #[serde(default)]
    writes_tenant_db: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeprecation {
    message: Option<String>,
    replacement: Option<Spanned<String>>,
    sunset: Option<Spanned<toml::Value>>,
}

/// Collects diagnostics for one manifest file.
struct Problems<'a> {
    file: &'a Path,
    text: &'a str,
    found: Vec<Diagnostic>,
}

impl Problems<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.found.push(Diagnostic::error(self.file, message).at_offset(self.text, span.start));
    }
}

/// Parses and validates a manifest. `file` is only used to name the file in diagnostics.
pub fn parse_manifest(text: &str, file: &Path) -> Result<Manifest, Vec<Diagnostic>> {
    let raw: RawManifest = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let mut d = Diagnostic::error(file, toml_message(&e));
            if let Some(span) = e.span() {
                d = d.at_offset(text, span.start);
            }
            return Err(vec![d]);
        }
    };
    let mut problems = Problems { file, text, found: Vec::new() };
    let module = raw.module.into_inner();

    let name = match ModuleName::parse(module.name.get_ref()) {
        Ok(name) => Some(name),
        Err(e) => {
            problems.at(module.name.span(), format!("{e}; expected 1 to 63 characters of a-z, 0-9 and `_`, starting with a letter"));
            None
        }
    };
    let version = match Version::parse(module.version.get_ref()) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.at(
                module.version.span(),
                format!("invalid version `{}`: {e}; expected a semantic version such as `1.2.0`", module.version.get_ref()),
            );
            None
        }
    };
    let dependencies = requirements(&mut problems, raw.dependencies, "dependencies", name.as_ref());
    let optional_dependencies = requirements(&mut problems, raw.optional_dependencies, "optional-dependencies", name.as_ref());
    for dep in optional_dependencies.keys() {
        if dependencies.contains_key(dep) {
            problems
                .found
                .push(Diagnostic::error(file, format!("`{dep}` is listed both in [dependencies] and [optional-dependencies]; keep one")));
        }
    }

    let mut features = BTreeMap::new();
    for (flag, value) in raw.features {
        match FlagName::parse(flag.get_ref()) {
            Ok(f) => {
                features.insert(f, *value.get_ref());
            }
            Err(e) => problems.at(flag.span(), format!("{e}; expected 1 to 63 characters of a-z, 0-9 and `_`, starting with a letter")),
        }
    }

    let mut hooks = BTreeMap::new();
    let raw_hooks = raw.hooks;
    let writes = raw_hooks.writes_tenant_db;
    let named = [
        (HookKind::PreInstall, raw_hooks.pre_install),
        (HookKind::PostInstall, raw_hooks.post_install),
        (HookKind::PreUpgrade, raw_hooks.pre_upgrade),
        (HookKind::PostUpgrade, raw_hooks.post_upgrade),
        (HookKind::PreUninstall, raw_hooks.pre_uninstall),
        (HookKind::PostUninstall, raw_hooks.post_uninstall),
        (HookKind::Rollback, raw_hooks.rollback),
    ];
    for (kind, path) in named {
        let Some(path) = path else { continue };
        match check_hook_path(path.get_ref()) {
            Ok(()) => {
                hooks.insert(kind, path.into_inner());
            }
            Err(why) => problems.at(path.span(), format!("hook `{kind}` path `{}` {why}", path.get_ref())),
        }
    }
    let writes_tenant_db = writing_hooks(&mut problems, writes, &hooks);

    let deprecation = raw.deprecation.map(|d| {
        let d = d.into_inner();
        let replacement = d.replacement.and_then(|r| match ModuleName::parse(r.get_ref()) {
            Ok(n) => Some(n),
            Err(e) => {
                problems.at(r.span(), format!("deprecation replacement: {e}"));
                None
            }
        });
        let sunset = d.sunset.and_then(|s| {
            let span = s.span();
            match parse_date_value(s.get_ref()) {
                Some(date) => Some(date),
                None => {
                    problems.at(span, "invalid sunset date: expected a date such as \"2027-06-30\"");
                    None
                }
            }
        });
        Deprecation { message: d.message, replacement, sunset }
    });

    match (name, version) {
        (Some(name), Some(version)) if !problems.found.iter().any(Diagnostic::is_error) => Ok(Manifest {
            name,
            version,
            description: module.description,
            requires_subscription: module.requires_subscription,
            dependencies,
            optional_dependencies,
            features,
            hooks,
            writes_tenant_db,
            deprecation,
        }),
        _ => Err(problems.found),
    }
}

/// A key of a manifest that diagnostics point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKey<'a> {
    /// `[module] version`.
    Version,
    /// A dependency's entry, in `[dependencies]` or `[optional-dependencies]`.
    Dependency(&'a str),
}

/// Where `key` is in a manifest's text (a byte offset), when the text parses as TOML and
/// has it.
pub fn key_offset(text: &str, key: ManifestKey<'_>) -> Option<usize> {
    #[derive(Deserialize)]
    struct Keys {
        module: Option<ModuleKeys>,
        #[serde(default)]
        dependencies: BTreeMap<Spanned<String>, toml::Value>,
        #[serde(default, rename = "optional-dependencies")]
        optional_dependencies: BTreeMap<Spanned<String>, toml::Value>,
    }
    #[derive(Deserialize)]
    struct ModuleKeys {
        version: Option<Spanned<toml::Value>>,
    }
    let keys: Keys = toml::from_str(text).ok()?;
    match key {
        ManifestKey::Version => keys.module?.version.map(|v| v.span().start),
        ManifestKey::Dependency(name) => {
            keys.dependencies.keys().chain(keys.optional_dependencies.keys()).find(|k| k.get_ref() == name).map(|k| k.span().start)
        }
    }
}

/// Warnings of a manifest that parsed: reported by `validate` but never fatal.
pub fn manifest_warnings(text: &str, file: &Path) -> Vec<Diagnostic> {
    match parse_manifest(text, file) {
        Ok(m) if m.description.trim().is_empty() => {
            vec![Diagnostic::warning(file, "the module has no description").at_offset(text, 0)]
        }
        _ => Vec::new(),
    }
}

fn requirements(
    problems: &mut Problems<'_>,
    raw: BTreeMap<Spanned<String>, Spanned<String>>,
    table: &str,
    own: Option<&ModuleName>,
) -> BTreeMap<ModuleName, VersionReq> {
    let mut out = BTreeMap::new();
    for (dep, req) in raw {
        let dep_name = match ModuleName::parse(dep.get_ref()) {
            Ok(n) => n,
            Err(e) => {
                problems.at(dep.span(), format!("[{table}]: {e}"));
                continue;
            }
        };
        if Some(&dep_name) == own {
            problems.at(dep.span(), format!("[{table}]: a module cannot depend on itself"));
            continue;
        }
        match VersionReq::parse(req.get_ref()) {
            Ok(r) => {
                out.insert(dep_name, r);
            }
            Err(e) => problems.at(
                req.span(),
                format!(
                    "[{table}]: invalid requirement `{}` for `{dep_name}`: {e}; expected cargo syntax such as `^1.0`, `>=1.0, <3` or `*`",
                    req.get_ref()
                ),
            ),
        }
    }
    out
}

/// The hooks `[hooks] writes_tenant_db` names: each a hook this manifest sets, other
/// than `rollback`, which runs after the tenant file is back and may always write.
fn writing_hooks(problems: &mut Problems<'_>, names: Vec<Spanned<String>>, set: &BTreeMap<HookKind, String>) -> BTreeSet<HookKind> {
    let mut kinds = BTreeSet::new();
    for name in names {
        let Some(kind) = HookKind::ALL.into_iter().find(|k| k.as_str() == name.get_ref()) else {
            let known = HookKind::ALL.iter().filter(|k| **k != HookKind::Rollback).map(|k| k.as_str());
            let mut message = format!("[hooks] writes_tenant_db: unknown hook `{}`", name.get_ref());
            match closest(name.get_ref(), known.clone()) {
                Some(near) => message.push_str(&format!("; did you mean `{near}`?")),
                None => message.push_str(&format!("; expected one of {}", known.map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))),
            }
            problems.at(name.span(), message);
            continue;
        };
        if kind == HookKind::Rollback {
            problems.at(
                name.span(),
                "[hooks] writes_tenant_db: `rollback` runs after the tenant file is back as it was, outside any transaction, and may always write; leave it out",
            );
        } else if !set.contains_key(&kind) {
            problems.at(
                name.span(),
                format!("[hooks] writes_tenant_db names `{kind}`, which this manifest does not set; set `{kind}` or leave it out"),
            );
        } else {
            kinds.insert(kind);
        }
    }
    kinds
}

fn check_hook_path(path: &str) -> Result<(), &'static str> {
    let p = Path::new(path);
    if path.trim().is_empty() {
        return Err("is empty");
    }
    if p.is_absolute() {
        return Err("must be relative to the module folder");
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err("may not leave the module folder (`..`)");
    }
    Ok(())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text.trim(), &format).ok()
}

fn parse_date_value(value: &toml::Value) -> Option<Date> {
    match value {
        toml::Value::String(s) => parse_date(s),
        toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => parse_date(&dt.to_string()),
        _ => None,
    }
}

/// toml's messages carry a rendered snippet on later lines; keep the first line, lowercase.
fn toml_message(e: &toml::de::Error) -> String {
    let message = e.message().lines().next().unwrap_or("invalid TOML").trim().to_string();
    let mut chars = message.chars();
    let first = chars.next().map(|c| c.to_lowercase().collect::<String>()).unwrap_or_default();
    format!("{first}{}", chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[module]
name = "finance"
version = "1.2.0"
description = "Invoices"
requires_subscription = true

[dependencies]
digital_card = "^1.0"
membership = ">=1.0, <3"

[optional-dependencies]
messaging = "^1"

[features]
invoicing = true
recurring_billing = false

[hooks]
pre_install = "hooks/check.sh"
rollback = "hooks/rollback.sh"

[deprecation]
message = "Use ledger instead"
replacement = "ledger"
sunset = "2027-06-30"
"#;

    fn parse(text: &str) -> Result<Manifest, Vec<Diagnostic>> {
        parse_manifest(text, Path::new("module.toml"))
    }

    fn errors(text: &str) -> Vec<Diagnostic> {
        parse(text).unwrap_err()
    }

    #[test]
    fn keys_are_found_where_they_are_written() {
        let at = |key| key_offset(FULL, key).map(|offset| crate::domain::diagnostic::line_column(FULL, offset));
        assert_eq!(at(ManifestKey::Version), Some((4, 11)));
        assert_eq!(at(ManifestKey::Dependency("membership")), Some((10, 1)));
        assert_eq!(at(ManifestKey::Dependency("messaging")), Some((13, 1)));
        assert_eq!(at(ManifestKey::Dependency("ledger")), None);
        // A dependency named like a key of another table is found in its own.
        let text = "[module]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nversion = \"^1\"\n";
        assert_eq!(
            key_offset(text, ManifestKey::Dependency("version")).map(|o| crate::domain::diagnostic::line_column(text, o)),
            Some((5, 1))
        );
        assert_eq!(key_offset("not toml [", ManifestKey::Version), None);
    }

    #[test]
    fn parses_every_section() {
        let m = parse(FULL).unwrap();
        assert_eq!(m.name.as_str(), "finance");
        assert_eq!(m.version, Version::new(1, 2, 0));
        assert!(m.requires_subscription);
        assert_eq!(m.dependencies.len(), 2);
        assert!(m.dependencies[&ModuleName::parse("membership").unwrap()].matches(&Version::new(2, 9, 0)));
        assert_eq!(m.optional_dependencies.len(), 1);
        assert_eq!(m.features.get(&FlagName::parse("recurring_billing").unwrap()), Some(&false));
        assert_eq!(m.hook(HookKind::PreInstall), Some("hooks/check.sh"));
        assert_eq!(m.hook(HookKind::PostInstall), None);
        let d = m.deprecation.unwrap();
        assert_eq!(d.replacement.unwrap().as_str(), "ledger");
        let sunset = d.sunset.unwrap();
        assert_eq!(sunset.to_string(), "2027-06-30");
    }

    #[test]
    fn minimal_manifest_has_defaults() {
        let m = parse("[module]\nname = \"a\"\nversion = \"0.1.0\"\ndescription = \"x\"\n").unwrap();
        assert!(!m.requires_subscription);
        assert!(m.dependencies.is_empty() && m.hooks.is_empty() && m.deprecation.is_none());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_position() {
        let e = errors("[module]\nname = \"a\"\nversion = \"0.1.0\"\nrequires_subscripton = true\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("unknown field `requires_subscripton`"), "{}", e[0].message);
        assert_eq!((e[0].line, e[0].column), (Some(4), Some(1)));

        let e = errors("[module]\nname = \"a\"\nversion = \"0.1.0\"\n[hooks]\npre_instal = \"x.sh\"\n");
        assert!(e[0].message.contains("pre_instal"), "{}", e[0].message);
        assert_eq!(e[0].line, Some(5));

        let e = errors("[module]\nname = \"a\"\nversion = \"0.1.0\"\n[dependency]\nb = \"1\"\n");
        assert!(e[0].message.contains("dependency"), "{}", e[0].message);
    }

    #[test]
    fn collects_every_semantic_problem() {
        let text = "[module]\nname = \"Bad-Name\"\nversion = \"1.0\"\n[dependencies]\nok = \"^1\"\nbroken = \"^^1\"\n[features]\n\"Flag\" = true\n[hooks]\npre_install = \"/etc/passwd\"\npost_install = \"../x.sh\"\n";
        let e = errors(text);
        let lines: Vec<_> = e.iter().filter(|d| d.is_error()).map(|d| d.line.unwrap()).collect();
        assert_eq!(lines, vec![2, 3, 6, 8, 10, 11], "{e:#?}");
        assert!(e[0].message.contains("invalid module name `Bad-Name`"));
        assert!(e[1].message.contains("invalid version `1.0`"));
        assert!(e[2].message.contains("invalid requirement `^^1`"));
    }

    #[test]
    fn writes_tenant_db_names_hooks_the_manifest_sets() {
        let base =
            "[module]\nname = \"a\"\nversion = \"1.0.0\"\n[hooks]\npre_install = \"h.sh\"\npost_install = \"h.sh\"\nrollback = \"r.sh\"\n";
        let m = parse(&format!("{base}writes_tenant_db = [\"post_install\"]\n")).unwrap();
        assert!(m.hook_writes_tenant_db(HookKind::PostInstall));
        assert!(!m.hook_writes_tenant_db(HookKind::PreInstall));
        assert!(parse(base).unwrap().writes_tenant_db.is_empty());
        let e = errors(&format!("{base}writes_tenant_db = [\"post_instal\", \"post_upgrade\", \"rollback\", \"nonsense\"]\n"));
        let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "[hooks] writes_tenant_db: unknown hook `post_instal`; did you mean `post_install`?",
                "[hooks] writes_tenant_db names `post_upgrade`, which this manifest does not set; set `post_upgrade` or leave it out",
                "[hooks] writes_tenant_db: `rollback` runs after the tenant file is back as it was, outside any transaction, and may always write; leave it out",
                "[hooks] writes_tenant_db: unknown hook `nonsense`; expected one of `pre_install`, `post_install`, `pre_upgrade`, `post_upgrade`, `pre_uninstall`, `post_uninstall`",
            ]
        );
        assert!(e.iter().all(|d| d.line == Some(8)), "{e:#?}");
        let e = errors(&format!("{base}writes_tenant_db = \"post_install\"\n"));
        assert_eq!(e[0].line, Some(8), "{e:#?}");
    }

    #[test]
    fn self_dependency_and_duplicate_optional_are_refused() {
        let e = errors("[module]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\na = \"^1\"\n");
        assert!(e[0].message.contains("cannot depend on itself"));
        let e = errors("[module]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nb = \"^1\"\n[optional-dependencies]\nb = \"^1\"\n");
        assert!(e[0].message.contains("both"));
    }

    #[test]
    fn wrong_types_and_syntax_errors_point_at_the_value() {
        let e = errors("[module]\nname = \"a\"\nversion = 1\n");
        assert_eq!(e[0].line, Some(3));
        assert!(e[0].message.contains("string"), "{}", e[0].message);
        let e = errors("[module\nname = \"a\"\n");
        assert_eq!(e[0].line, Some(1));
        let e = errors("");
        assert!(e[0].message.contains("missing field `module`"), "{}", e[0].message);
    }

    #[test]
    fn sunset_accepts_a_toml_date_and_refuses_nonsense() {
        let base = "[module]\nname = \"a\"\nversion = \"1.0.0\"\ndescription = \"x\"\n[deprecation]\n";
        assert!(parse(&format!("{base}sunset = 2027-06-30\n")).is_ok());
        let e = errors(&format!("{base}sunset = \"next year\"\n"));
        assert_eq!(e[0].line, Some(6));
    }

    #[test]
    fn missing_description_is_only_a_warning() {
        let text = "[module]\nname = \"a\"\nversion = \"1.0.0\"\n";
        assert!(parse(text).is_ok());
        assert_eq!(manifest_warnings(text, Path::new("m")).len(), 1);
    }

    proptest::proptest! {
        /// Every cargo-style requirement in a manifest means what semver says it means.
        #[test]
        fn requirements_parse_as_semver_does(op in proptest::sample::select(vec!["", "^", "~", "=", ">=", "<", ">", "<="]), major in 0u64..20, minor in proptest::option::of(0u64..20), patch in 0u64..20, upper in proptest::option::of(1u64..40)) {
            let mut req = format!("{op}{major}");
            if let Some(minor) = minor {
                req.push_str(&format!(".{minor}.{patch}"));
            }
            if let Some(upper) = upper {
                req.push_str(&format!(", <{upper}"));
            }
            let text = format!("[module]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nb = \"{req}\"\n");
            let expected = VersionReq::parse(&req);
            match parse(&text) {
                Ok(m) => {
                    let parsed = &m.dependencies[&ModuleName::parse("b").unwrap()];
                    proptest::prop_assert_eq!(Some(parsed), expected.as_ref().ok());
                }
                Err(e) => {
                    proptest::prop_assert!(expected.is_err(), "{req} refused: {e:?}");
                    proptest::prop_assert_eq!(e[0].line, Some(5));
                }
            }
        }

        /// No manifest text makes the parser panic; every refusal says where.
        #[test]
        fn any_text_is_parsed_or_refused_without_panic(text in "\\PC{0,200}") {
            if let Err(diagnostics) = parse(&text) {
                proptest::prop_assert!(!diagnostics.is_empty());
            }
        }

        /// Manifests that are nearly right (a few characters changed) never panic either.
        #[test]
        fn mangled_manifests_never_panic(edits in proptest::collection::vec((0usize..400, proptest::char::any()), 1..6)) {
            let mut text: Vec<char> = FULL.chars().collect();
            for (at, c) in edits {
                let at = at % text.len();
                text[at] = c;
            }
            let text: String = text.into_iter().collect();
            let _ = parse(&text);
        }
    }

    #[test]
    fn sunset_is_inclusive() {
        let d = Deprecation { message: None, replacement: None, sunset: parse_date("2027-06-30") };
        assert!(!d.is_past_sunset(parse_date("2027-06-30").unwrap()));
        assert!(d.is_past_sunset(parse_date("2027-07-01").unwrap()));
    }
}
