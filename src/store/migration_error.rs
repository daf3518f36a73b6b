//! What a failed run of a module's migrations says, on every tenant engine: refinery
//! finds a changed, missing or repeated migration the same way whatever runs the SQL, so
//! the words (and the advice) are written once here; an engine's driver adds only its
//! own failures, the ones that say where in a script its database stopped.

use refinery_core::error::Kind;

use crate::domain::Error;
use crate::domain::module::ModuleVersion;
use crate::store::WorkError;

/// The failure of applying `module`'s migrations, from refinery's error. `driver` turns
/// the error the engine's driver gave refinery into the job's failure, or gives `None`
/// for an error it does not know.
pub(crate) fn refinery_failure(
    module: &ModuleVersion,
    e: refinery_core::Error,
    driver: impl FnOnce(&(dyn std::error::Error + Send + Sync + 'static)) -> Option<WorkError>,
) -> WorkError {
    let name = module.name();
    match e.kind() {
        Kind::DivergentVersion(applied, _) => WorkError::new(
            format!("migrate V{}__{}", applied.version(), applied.name()),
            Error::invalid(format!(
                "migration `V{}__{}` of `{name}` has changed since it was applied to this tenant",
                applied.version(),
                applied.name()
            ))
            .with_hint("a published migration never changes: revert the edit and put the change in a new migration of a new version"),
        ),
        Kind::MissingVersion(m) => WorkError::new(
            format!("migrate V{}__{}", m.version(), m.name()),
            Error::invalid(format!(
                "migration `V{}__{}` was applied to this tenant but `{}` does not have it (or has it out of order)",
                m.version(),
                m.name(),
                module.label()
            ))
            .with_hint("a new version must keep every migration of the old one and add new ones with higher numbers"),
        ),
        Kind::RepeatedVersion(m) => {
            WorkError::new("migrate", Error::invalid(format!("`{}` has two migrations numbered {}", module.label(), m.version())))
        }
        Kind::Connection(_, source) => driver(source.as_ref())
            .unwrap_or_else(|| WorkError::new("migrate", Error::internal(format!("migrations of `{name}`: {source}")))),
        other => WorkError::new("migrate", Error::internal(format!("migrations of `{name}`: {other}"))),
    }
}
