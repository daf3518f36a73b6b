//! Who owns what in a tenant database, and what module SQL may do to it (SPEC §5.1): the
//! rules every tenant engine enforces, written once. An adapter maps what its engine is
//! about to do (SQLite's authorizer actions, say) onto these questions and refuses what
//! they refuse, with their words; what to diff after a module's work and the order its
//! objects go in are answered here too.

use std::collections::{HashMap, HashSet};

use crate::domain::Error;

/// The prefix of modreg's own objects in a tenant database, which module SQL never sees.
pub const INTERNAL_PREFIX: &str = "_modreg_";

/// The rule of SPEC §5.1, as the end of a refusal.
const ONLY_DEPENDENCIES: &str = "a module may write only to its own tables and those of its dependencies";

/// Whether `name` is one of modreg's own objects (`_modreg_*`, in any case).
pub fn is_internal(name: &str) -> bool {
    name.len() >= INTERNAL_PREFIX.len() && name.as_bytes()[..INTERNAL_PREFIX.len()].eq_ignore_ascii_case(INTERNAL_PREFIX.as_bytes())
}

/// Whether SQL text (a trigger's or a view's body) names modreg's own objects.
pub fn refers_to_internal(sql: &str) -> bool {
    sql.to_ascii_lowercase().contains(INTERNAL_PREFIX)
}

/// Why module SQL may not do something, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hint: Option<String>,
}

impl Refusal {
    /// A failed job's error, saying `message`, with the refusal's hint.
    pub fn error(&self, message: String) -> Error {
        let error = Error::failed(message);
        match &self.hint {
            Some(hint) => error.with_hint(hint.clone()),
            None => error,
        }
    }
}

impl From<&str> for Refusal {
    fn from(message: &str) -> Refusal {
        Refusal { message: message.to_string(), hint: None }
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal { message, hint: None }
    }
}

/// What a module's SQL runs among: the objects it does not own, and whose tables it may
/// write. Names compare without regard to ASCII case, as SQL's do.
#[derive(Debug, Clone, Default)]
pub struct Ownership {
    module: String,
    /// Lowercase name to owning module (None: created outside modreg).
    foreign: HashMap<String, Option<String>>,
    /// The other modules whose tables the module may write: its dependencies.
    writable: HashSet<String>,
}

impl Ownership {
    /// `foreign`: the objects that exist and that `module` does not own, name to owning
    /// module (None: created outside modreg); `writable`: its dependencies.
    pub fn new(module: &str, foreign: impl IntoIterator<Item = (String, Option<String>)>, writable: HashSet<String>) -> Ownership {
        let foreign = foreign.into_iter().map(|(name, owner)| (name.to_ascii_lowercase(), owner)).collect();
        Ownership { module: module.to_string(), foreign, writable }
    }

    pub fn module(&self) -> &str {
        &self.module
    }

    /// Whether `name` exists and is not the module's own.
    pub fn is_foreign(&self, name: &str) -> bool {
        self.foreign.contains_key(&name.to_ascii_lowercase())
    }

    /// The module that owns `table`, when that is a module this one may not write to.
    fn unrelated_owner(&self, table: &str) -> Option<&str> {
        match self.foreign.get(&table.to_ascii_lowercase()) {
            Some(Some(owner)) if !self.writable.contains(owner) => Some(owner),
            _ => None,
        }
    }

    fn dependency_hint(&self, owner: &str) -> Option<String> {
        Some(format!("if `{}` must change the data of `{owner}`, add `{owner}` to its `[dependencies]`", self.module))
    }

    /// Module SQL may not read or change modreg's own objects.
    pub fn internal(name: &str) -> Refusal {
        format!("`{name}` belongs to modreg: module SQL may not read or change `_modreg_*` objects").into()
    }

    /// Whether the module may write rows of `table`. A write by `trigger`, a trigger
    /// that is not the module's own (another module's, or the application's), is that
    /// trigger's: its module's own writes were checked when it was created, and the
    /// application's are its own business.
    pub fn may_write(&self, table: &str, trigger: Option<&str>) -> Result<(), Refusal> {
        if trigger.is_some_and(|t| self.is_foreign(t)) {
            return Ok(());
        }
        let Some(owner) = self.unrelated_owner(table) else { return Ok(()) };
        let writer = match trigger {
            Some(trigger) => format!("trigger `{trigger}` of module `{}`", self.module),
            None => format!("module `{}`", self.module),
        };
        Err(Refusal {
            message: format!("{writer} may not write to `{table}`, which belongs to module `{owner}`: {ONLY_DEPENDENCIES}"),
            hint: self.dependency_hint(owner),
        })
    }

    /// Whether the module may read rows of `table`, on an engine where reading, too, is
    /// only for a module's own tables, those of its dependencies and those no module owns.
    pub fn may_read(&self, table: &str) -> Result<(), Refusal> {
        let Some(owner) = self.unrelated_owner(table) else { return Ok(()) };
        Err(Refusal {
            message: format!(
                "module `{}` may not read `{table}`, which belongs to module `{owner}`: \
                 a module may read only its own tables and those of its dependencies",
                self.module
            ),
            hint: Some(format!("if `{}` must read the data of `{owner}`, add `{owner}` to its `[dependencies]`", self.module)),
        })
    }

    /// Whether the module may hang `what` (an index, a trigger) named `name` on `table`:
    /// both change how its rows are written (a trigger runs with every write, a unique
    /// index can refuse one).
    pub fn may_hang_on(&self, what: &str, name: &str, table: &str) -> Result<(), Refusal> {
        let Some(owner) = self.unrelated_owner(table) else { return Ok(()) };
        Err(Refusal {
            message: format!(
                "module `{}` may not create {what} `{name}` on `{table}`, which belongs to module `{owner}`: {ONLY_DEPENDENCIES}",
                self.module
            ),
            hint: self.dependency_hint(owner),
        })
    }

    /// Whether the module may create an object named `name`: not over another's.
    pub fn may_create(&self, name: &str) -> Result<(), Refusal> {
        match self.foreign.get(&name.to_ascii_lowercase()) {
            None => Ok(()),
            Some(Some(owner)) => {
                Err(format!("module `{}` cannot create `{name}`: it already exists and belongs to module `{owner}`", self.module).into())
            }
            Some(None) => {
                Err(format!("module `{}` cannot create `{name}`: it already exists and was not created by a module", self.module).into())
            }
        }
    }

    /// Whether the module may drop or alter `name`: only its own objects.
    pub fn may_drop_or_alter(&self, name: &str) -> Result<(), Refusal> {
        match self.foreign.get(&name.to_ascii_lowercase()) {
            None => Ok(()),
            Some(owner) => {
                let owner = owner.as_deref().map_or("no module (it was created outside modreg)".to_string(), |o| format!("module `{o}`"));
                Err(format!("module `{}` may not drop or alter `{name}`, which belongs to {owner}", self.module).into())
            }
        }
    }
}

/// What a module's work did to the schema: the objects that are new (not modreg's own),
/// and those the module owned that are gone. `before` and `after` list every object's
/// name; `owned` the module's before the work.
pub fn changed_objects<'a>(before: &[&str], after: &[&'a str], owned: &[String]) -> (Vec<&'a str>, Vec<String>) {
    let existed: HashSet<String> = before.iter().map(|n| n.to_lowercase()).collect();
    let present: HashSet<String> = after.iter().map(|n| n.to_lowercase()).collect();
    let created = after.iter().copied().filter(|n| !existed.contains(&n.to_lowercase()) && !is_internal(n)).collect();
    let dropped = owned.iter().filter(|n| !present.contains(&n.to_lowercase())).cloned().collect();
    (created, dropped)
}

/// The order to drop a module's objects in, given their kinds in the order they were
/// created: dependents first (triggers, views, then indexes, then virtual tables, which
/// take their shadow tables with them, then tables), newest first within a kind. Shadow
/// tables are left out: their virtual table drops them.
pub fn removal_order(kinds: &[&str]) -> Vec<usize> {
    let rank = |kind: &str| match kind {
        "trigger" => 0,
        "view" => 1,
        "index" => 2,
        "virtual" => 3,
        "table" => 4,
        _ => 5,
    };
    let mut order: Vec<usize> = (0..kinds.len()).filter(|&i| kinds[i] != "shadow").collect();
    order.sort_by_key(|&i| (rank(kinds[i]), std::cmp::Reverse(i)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn among(foreign: &[(&str, Option<&str>)], writable: &[&str]) -> Ownership {
        Ownership::new(
            "billing",
            foreign.iter().map(|(n, o)| (n.to_string(), o.map(str::to_string))),
            writable.iter().map(|w| w.to_string()).collect(),
        )
    }

    #[test]
    fn internal_names_are_known_in_any_case() {
        assert!(is_internal("_modreg_objects"));
        assert!(is_internal("_MODREG_Jobs"));
        assert!(!is_internal("_modre"));
        assert!(!is_internal("modreg_objects"));
        assert!(refers_to_internal("INSERT INTO _MODREG_jobs VALUES (1)"));
        assert!(!refers_to_internal("INSERT INTO invoices VALUES (1)"));
    }

    #[test]
    fn a_module_writes_its_own_its_dependencies_and_unowned_tables_only() {
        let rules = among(&[("Members", Some("membership")), ("cards", Some("cards")), ("legacy", None)], &["membership"]);
        assert_eq!(rules.may_write("invoices", None), Ok(()), "its own");
        assert_eq!(rules.may_write("members", None), Ok(()), "a dependency's, in any case");
        assert_eq!(rules.may_write("legacy", None), Ok(()), "nobody's");
        let refused = rules.may_write("cards", None).unwrap_err();
        assert_eq!(
            refused.message,
            "module `billing` may not write to `cards`, which belongs to module `cards`: \
             a module may write only to its own tables and those of its dependencies"
        );
        assert_eq!(refused.hint.as_deref(), Some("if `billing` must change the data of `cards`, add `cards` to its `[dependencies]`"));
        assert!(rules.may_write("cards", Some("audit")).unwrap_err().message.starts_with("trigger `audit` of module `billing`"));
    }

    #[test]
    fn a_read_is_refused_in_the_words_of_a_write() {
        let rules = among(&[("members", Some("membership")), ("cards", Some("cards"))], &["membership"]);
        assert_eq!(rules.may_read("members"), Ok(()));
        let refused = rules.may_read("cards").unwrap_err();
        assert!(
            refused.message.starts_with("module `billing` may not read `cards`, which belongs to module `cards`"),
            "{}",
            refused.message
        );
        assert_eq!(refused.hint.as_deref(), Some("if `billing` must read the data of `cards`, add `cards` to its `[dependencies]`"));
    }

    #[test]
    fn a_write_by_a_trigger_that_is_not_the_modules_own_is_that_triggers() {
        let rules = among(&[("cards", Some("cards")), ("cards_audit", Some("cards"))], &[]);
        assert_eq!(rules.may_write("cards", Some("cards_audit")), Ok(()));
    }

    #[test]
    fn nothing_is_created_over_another_object_nor_hung_on_an_unrelated_table() {
        let rules = among(&[("cards", Some("cards")), ("legacy", None)], &[]);
        assert_eq!(rules.may_create("invoices"), Ok(()));
        assert!(rules.may_create("CARDS").unwrap_err().message.contains("belongs to module `cards`"));
        assert!(rules.may_create("legacy").unwrap_err().message.contains("was not created by a module"));
        assert!(rules.may_hang_on("index", "cards_by_x", "cards").unwrap_err().message.contains("may not create index `cards_by_x`"));
        assert_eq!(rules.may_hang_on("index", "legacy_by_x", "legacy"), Ok(()), "nobody's table");
    }

    #[test]
    fn only_its_own_objects_are_dropped_or_altered() {
        let rules = among(&[("cards", Some("cards")), ("legacy", None)], &["cards"]);
        assert_eq!(rules.may_drop_or_alter("invoices"), Ok(()));
        assert!(rules.may_drop_or_alter("cards").unwrap_err().message.ends_with("which belongs to module `cards`"), "a dependency too");
        assert!(rules.may_drop_or_alter("legacy").unwrap_err().message.contains("created outside modreg"));
    }

    #[test]
    fn the_diff_names_new_objects_and_owned_ones_that_went() {
        let (created, dropped) =
            changed_objects(&["Old", "kept"], &["old", "kept", "fresh", "_modreg_history_x"], &["kept".into(), "gone".into()]);
        assert_eq!(created, ["fresh"], "case does not make an object new; modreg's own are not the module's");
        assert_eq!(dropped, ["gone"]);
    }

    #[test]
    fn dependents_go_first_and_the_newest_first_within_a_kind() {
        let kinds = ["table", "index", "table", "view", "trigger", "virtual", "shadow"];
        assert_eq!(removal_order(&kinds), [4, 3, 1, 5, 2, 0]);
    }
}
