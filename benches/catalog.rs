//! Catalog benchmarks: discovering and parsing 1,000 manifests from disk, and resolving
//! an install over a synthetic 10,000-module catalog of deep dependency chains.
//!
//! `cargo bench --bench catalog`; BENCHMARKS.md has the figures and the machine.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use modreg::domain::catalog::Catalog;
use modreg::domain::manifest::parse_manifest;
use modreg::domain::module::{ModuleVersion, Source};
use modreg::domain::resolver::{Goal, Installed, Request, resolve};
use modreg::store::ModuleSource;
use modreg::store::discovery::DiskModules;

/// 1,000 module folders, each with a manifest (two dependencies, flags, a hook) and two
/// migrations, in ten groups of a hundred.
fn write_catalog(root: &Path) {
    for i in 0..1000 {
        let dir = root.join(format!("group{}/m{i:04}", i % 10));
        std::fs::create_dir_all(dir.join("migrations")).unwrap();
        let mut manifest = format!(
            "[module]\nname = \"m{i:04}\"\nversion = \"1.{}.0\"\ndescription = \"synthetic module {i}\"\n\n[dependencies]\n",
            i % 7
        );
        if i > 1 {
            manifest.push_str(&format!("m{:04} = \"^1\"\nm{:04} = \">=1.0, <2\"\n", i - 1, i / 3));
        }
        manifest.push_str("\n[features]\nalpha = true\nbeta = false\n");
        std::fs::write(dir.join("module.toml"), manifest).unwrap();
        std::fs::write(dir.join(format!("migrations/V1__m{i:04}.sql")), format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT);\n"))
            .unwrap();
        std::fs::write(dir.join(format!("migrations/V2__m{i:04}_index.sql")), format!("CREATE INDEX t{i}_v ON t{i} (v);\n")).unwrap();
    }
}

fn discovery(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_catalog(dir.path());
    let source = DiskModules::new(PathBuf::from(dir.path()));
    assert_eq!(source.discover().versions.len(), 1000);
    let mut group = c.benchmark_group("discovery");
    group.sample_size(30).measurement_time(Duration::from_secs(5));
    group.bench_function("discover_and_parse_1000_manifests", |b| {
        b.iter(|| {
            let found = source.discover();
            black_box(Catalog::new(found.versions))
        })
    });
    group.finish();
}

fn module(name: &str, version: &str, deps: &[(String, String)]) -> ModuleVersion {
    let mut text = format!("[module]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"d\"\n[dependencies]\n");
    for (d, r) in deps {
        text.push_str(&format!("{d} = \"{r}\"\n"));
    }
    let manifest = parse_manifest(&text, Path::new("module.toml")).unwrap();
    ModuleVersion::new(manifest, text, vec![], vec![], Source::Folder(PathBuf::from("/m")))
}

/// 10,000 modules in ten chains a thousand deep: each module depends on the next two
/// of its chain. Each has three versions: 2.0.0, which the requests rule out, 1.1.0,
/// which requires a major version of the next module that does not exist, so the
/// resolver must back out of it at every link, and 1.0.0, which fits.
fn synthetic_catalog() -> Catalog {
    let mut versions = Vec::new();
    for chain in 0..10 {
        for depth in 0..1000 {
            let name = format!("c{chain}_{depth:04}");
            let next = |step: usize| (depth + step < 1000).then(|| format!("c{chain}_{:04}", depth + step));
            let deps =
                |req: &str| -> Vec<(String, String)> { [next(1), next(2)].into_iter().flatten().map(|d| (d, req.to_string())).collect() };
            versions.push(module(&name, "1.0.0", &deps("^1")));
            versions.push(module(&name, "1.1.0", &deps("^3")));
            versions.push(module(&name, "2.0.0", &deps("^3")));
        }
    }
    Catalog::new(versions).0
}

fn resolution(c: &mut Criterion) {
    let catalog = synthetic_catalog();
    let requests: Vec<Request> = (0..10).map(|chain| Request::parse(&format!("c{chain}_0000@^1")).unwrap()).collect();
    let goal = Goal::Install(requests);
    let today = time::Date::from_calendar_date(2026, time::Month::November, 21).unwrap();
    let plan = resolve(&catalog, &Installed::new(), &goal, today).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.steps.len(), 10_000);
    // Only the last link of each chain, which has nothing to depend on, keeps 1.1.0.
    assert_eq!(plan.steps.iter().filter(|s| s.module.version().to_string() == "1.1.0").count(), 10);
    let mut group = c.benchmark_group("resolution");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    group.bench_function("install_10000_modules_in_deep_chains", |b| {
        b.iter(|| black_box(resolve(&catalog, &Installed::new(), &goal, today).unwrap()))
    });
    let deep = Goal::Install(vec![Request::parse("c0_0000").unwrap()]);
    group.bench_function("install_one_chain_with_backtracking", |b| {
        b.iter(|| black_box(resolve(&catalog, &Installed::new(), &deep, today).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, discovery, resolution);
criterion_main!(benches);
