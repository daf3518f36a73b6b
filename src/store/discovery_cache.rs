//! Discovery for a long-lived process (`modreg serve`): the modules folder is read and
//! parsed again only when something in it changed. What counts as a change: the
//! fingerprint of the tree, every file and folder that discovery walks (hidden folders
//! and `target` skipped) with its inode, size, mode, and
//! modification and change times. Adding, removing, renaming or editing a manifest, a
//! migration, a seed or a hook, or a `chmod`, changes it; each request takes a fresh
//! fingerprint (a walk and a `stat` per entry, no reads), so the next one sees the change.
//!
//! The times have the file system's granularity, so an edit made within the same tick
//! as an earlier look can leave them unchanged. A fingerprint with any time less than
//! [`SETTLE`] before it was taken is therefore not trusted: the folder is discovered
//! again until it has been still for that long (git's "racily clean" rule). Nor is one
//! whose discovery reported an error, or named a hook outside the walk (`../x.sh`, a
//! hidden folder), or that has a symbolic link (the fingerprint does not follow links),
//! whose state the fingerprint would not cover: those catalogs are discovered on every
//! call, as without this cache.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use walkdir::WalkDir;

use crate::domain::manifest::HookKind;
use crate::domain::module::Source;
use crate::store::discovery::{DiskModules, skipped};
use crate::store::{Discovered, ModuleSource};

/// How long the tree must have been still before its fingerprint is trusted: well above
/// the coarse clock tick that file times come from.
pub const SETTLE: Duration = Duration::from_secs(2);

/// One file or folder as the fingerprint sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: PathBuf,
    device: u64,
    inode: u64,
    size: u64,
    mode: u32,
    /// Nanoseconds since the epoch.
    modified: i128,
    changed: i128,
}

/// The tree's state, in walk order; `None` when the walk met an error.
type Fingerprint = Option<Vec<Entry>>;

/// [`DiskModules`] that keeps the last discovery while the tree's fingerprint holds.
pub struct CachedDiskModules {
    roots: Vec<PathBuf>,
    disk: DiskModules,
    settle: Duration,
    last: Mutex<Option<(Vec<Entry>, Discovered)>>,
    #[cfg(test)]
    reads: std::sync::atomic::AtomicUsize,
}

impl CachedDiskModules {
    pub fn new(roots: Vec<PathBuf>) -> CachedDiskModules {
        CachedDiskModules::settling(roots, SETTLE)
    }

    fn settling(roots: Vec<PathBuf>, settle: Duration) -> CachedDiskModules {
        CachedDiskModules {
            disk: DiskModules::paths(roots.clone()),
            roots,
            settle,
            last: Mutex::new(None),
            #[cfg(test)]
            reads: Default::default(),
        }
    }

    /// Discovers the tree: reads and parses it.
    fn read(&self) -> Discovered {
        #[cfg(test)]
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.disk.discover()
    }

    fn fingerprint(&self) -> Fingerprint {
        let mut entries = Vec::new();
        for root in &self.roots {
            if root.is_file() {
                entries.push(entry(root, &std::fs::metadata(root).ok()?));
                continue;
            }
            // Discovery's walk, but without following links: a link's target is not
            // in the fingerprint, so a tree with one is not trusted. (That also keeps
            // the walk to one `stat` an entry: this runs on every call.)
            for found in WalkDir::new(root).sort_by_file_name().into_iter().filter_entry(|e| !skipped(e)) {
                let found = found.ok()?;
                // The root may be a link (walkdir follows it, and its own inode shows a
                // retargeting); a link below it is not followed here.
                if found.depth() > 0 && found.path_is_symlink() {
                    return None;
                }
                entries.push(entry(found.path(), &found.metadata().ok()?));
            }
        }
        Some(entries)
    }
}

fn entry(path: &Path, meta: &std::fs::Metadata) -> Entry {
    let nanos = |seconds: i64, nanoseconds: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanoseconds);
    Entry {
        path: path.to_path_buf(),
        device: meta.dev(),
        inode: meta.ino(),
        size: meta.size(),
        mode: meta.mode(),
        modified: nanos(meta.mtime(), meta.mtime_nsec()),
        changed: nanos(meta.ctime(), meta.ctime_nsec()),
    }
}

/// Whether a later look can trust `entries`, taken at `taken` (nanoseconds since the
/// epoch), to describe `found`.
fn trusted(entries: &[Entry], found: &Discovered, taken: i128, settle: Duration) -> bool {
    let still_since = taken - settle.as_nanos() as i128;
    if entries.iter().any(|e| e.modified >= still_since || e.changed >= still_since) {
        return false;
    }
    if found.diagnostics.iter().any(|d| d.is_error()) {
        return false;
    }
    // Every hook that discovery checked must be in the walk, or its state is not covered.
    found.versions.iter().all(|v| {
        let Source::Folder(dir) = &v.source else { return true };
        HookKind::ALL.iter().filter_map(|kind| v.manifest.hook(*kind)).all(|relative| {
            let path = dir.join(relative);
            entries.iter().any(|e| e.path == path)
        })
    })
}

impl ModuleSource for CachedDiskModules {
    fn discover(&self) -> Discovered {
        let taken = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
        // Taken before discovery reads anything: a change made while it reads shows in
        // the next fingerprint.
        let Some(entries) = self.fingerprint() else { return self.read() };
        {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((seen, found)) = last.as_ref()
                && *seen == entries
            {
                return found.clone();
            }
        }
        let found = self.read();
        let keep = trusted(&entries, &found, taken, self.settle).then(|| (entries, found.clone()));
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = keep;
        found
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::store::discovery::tests::{manifest, write};

    fn labels(found: &Discovered) -> Vec<String> {
        let mut labels: Vec<String> = found.versions.iter().map(|v| v.label()).collect();
        labels.sort();
        labels
    }

    /// A catalog whose files are all older than the settle time of a cache that trusts
    /// anything not from the future: the tests need not wait for the tree to settle.
    fn catalog() -> (tempfile::TempDir, CachedDiskModules) {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a/module.toml"), &manifest("a", "1.0.0"));
        write(&dir.path().join("a/migrations/V1__init.sql"), "create table a(x);");
        let cache = CachedDiskModules::settling(vec![dir.path().to_path_buf()], Duration::ZERO);
        (dir, cache)
    }

    fn reads(cache: &CachedDiskModules) -> usize {
        cache.reads.load(Ordering::Relaxed)
    }

    #[test]
    fn an_unchanged_tree_is_not_read_again() {
        let (_dir, cache) = catalog();
        let first = cache.discover();
        let second = cache.discover();
        assert_eq!(labels(&first), ["a 1.0.0"]);
        assert_eq!(second.versions, first.versions);
        assert_eq!(reads(&cache), 1);
    }

    #[test]
    fn a_manifest_added_is_seen_by_the_next_call() {
        let (dir, cache) = catalog();
        cache.discover();
        write(&dir.path().join("b/2.0.0/module.toml"), &manifest("b", "2.0.0"));
        assert_eq!(labels(&cache.discover()), ["a 1.0.0", "b 2.0.0"]);
        std::fs::remove_dir_all(dir.path().join("b")).unwrap();
        assert_eq!(labels(&cache.discover()), ["a 1.0.0"]);
        assert_eq!(reads(&cache), 3);
    }

    #[test]
    fn a_migration_edited_in_place_is_seen_by_the_next_call() {
        let (dir, cache) = catalog();
        let before = cache.discover().versions[0].checksum.clone();
        write(&dir.path().join("a/migrations/V1__init.sql"), "create table a(x, y);");
        let after = cache.discover();
        assert_eq!(after.versions[0].migrations[0].sql, "create table a(x, y);");
        assert_ne!(after.versions[0].checksum, before);
    }

    #[test]
    fn a_hook_made_executable_is_seen_by_the_next_call() {
        let (dir, cache) = catalog();
        let hooked = format!("{}[hooks]\npost_install = \"hooks/post.sh\"\n", manifest("h", "1.0.0"));
        write(&dir.path().join("h/module.toml"), &hooked);
        write(&dir.path().join("h/hooks/post.sh"), "#!/bin/sh\n");
        assert_eq!(labels(&cache.discover()), ["a 1.0.0"]);
        std::fs::set_permissions(dir.path().join("h/hooks/post.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(labels(&cache.discover()), ["a 1.0.0", "h 1.0.0"]);
        assert_eq!(labels(&cache.discover()), ["a 1.0.0", "h 1.0.0"]);
        assert_eq!(reads(&cache), 2, "kept once the catalog had no error");
    }

    #[test]
    fn a_hook_outside_the_walk_is_checked_on_every_call() {
        let (dir, cache) = catalog();
        let outside = format!("{}[hooks]\npost_install = \".hooks/post.sh\"\n", manifest("h", "1.0.0"));
        write(&dir.path().join("h/module.toml"), &outside);
        write(&dir.path().join("h/.hooks/post.sh"), "#!/bin/sh\n");
        std::fs::set_permissions(dir.path().join("h/.hooks/post.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(labels(&cache.discover()), ["a 1.0.0", "h 1.0.0"]);
        std::fs::set_permissions(dir.path().join("h/.hooks/post.sh"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(labels(&cache.discover()), ["a 1.0.0"], "the hidden folder is not walked, so it is not cached");
    }

    #[test]
    fn a_tree_with_a_link_is_read_on_every_call() {
        let (dir, cache) = catalog();
        let elsewhere = tempfile::tempdir().unwrap();
        write(&elsewhere.path().join("module.toml"), &manifest("linked", "1.0.0"));
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("linked")).unwrap();
        assert_eq!(labels(&cache.discover()), ["a 1.0.0", "linked 1.0.0"]);
        write(&elsewhere.path().join("module.toml"), &manifest("linked", "1.0.1"));
        assert_eq!(labels(&cache.discover()), ["a 1.0.0", "linked 1.0.1"]);
        assert_eq!(reads(&cache), 2);
    }

    #[test]
    fn a_linked_root_is_cached_and_its_retargeting_seen() {
        let (dir, _) = catalog();
        let other = tempfile::tempdir().unwrap();
        write(&other.path().join("b/module.toml"), &manifest("b", "1.0.0"));
        let links = tempfile::tempdir().unwrap();
        let root = links.path().join("modules");
        std::os::unix::fs::symlink(dir.path(), &root).unwrap();
        let cache = CachedDiskModules::settling(vec![root.clone()], Duration::ZERO);
        assert_eq!(labels(&cache.discover()), ["a 1.0.0"]);
        assert_eq!(labels(&cache.discover()), ["a 1.0.0"]);
        assert_eq!(reads(&cache), 1);
        std::fs::remove_file(&root).unwrap();
        std::os::unix::fs::symlink(other.path(), &root).unwrap();
        assert_eq!(labels(&cache.discover()), ["b 1.0.0"]);
    }

    #[test]
    fn a_tree_changed_within_the_settle_time_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a/module.toml"), &manifest("a", "1.0.0"));
        let cache = CachedDiskModules::settling(vec![dir.path().to_path_buf()], Duration::from_secs(3600));
        cache.discover();
        cache.discover();
        assert_eq!(reads(&cache), 2, "files written this hour are not trusted to show a change");
    }
}
