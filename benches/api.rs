//! The library API: how long "may tenant X use module Y (and is flag Z on)?" takes when
//! the answer is cached, and when the cache was just dropped and the landlord is read.
//!
//! `cargo bench --bench api`; BENCHMARKS.md has the figures and the machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use modreg::api::Registry;
use modreg::domain::name::TenantName;
use modreg::domain::resolver::Request;
use modreg::ops::install::{InstallOptions, install};
use modreg::ops::{Context, Settings, Silent, TenantSelection, tenant};

/// A landlord with 200 tenants, each with a module that has three flags.
fn landlord(dir: &std::path::Path) {
    let modules = dir.join("modules/app");
    std::fs::create_dir_all(modules.join("migrations")).unwrap();
    std::fs::write(
        modules.join("module.toml"),
        "[module]\nname = \"app\"\nversion = \"1.0.0\"\ndescription = \"bench\"\n[features]\nalpha = true\nbeta = false\ngamma = true\n",
    )
    .unwrap();
    std::fs::write(modules.join("migrations/V1__app.sql"), "CREATE TABLE app_t (id INTEGER PRIMARY KEY);\n").unwrap();
    let ctx = Context::open(Settings::new(dir.join("modules"), dir.join("data"))).unwrap();
    let tenants: Vec<TenantName> = (0..200).map(|i| TenantName::parse(&format!("t{i:03}")).unwrap()).collect();
    tenant::add(&ctx, &tenants, &Silent).unwrap();
    let options = InstallOptions {
        requests: vec![Request::parse("app").unwrap()],
        tenants: TenantSelection::All,
        dry_run: false,
        restore: false,
        fail_fast: true,
    };
    install(&ctx, &options, &Silent).unwrap();
}

fn checks(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    landlord(dir.path());
    let registry = Registry::open(dir.path().join("data")).unwrap();
    assert!(registry.allows("t042", "app", Some("gamma")).unwrap());
    let mut group = c.benchmark_group("api");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("cached_check", |b| b.iter(|| black_box(registry.allows(black_box("t042"), "app", Some("gamma")).unwrap())));
    group.bench_function("uncached_check", |b| {
        b.iter(|| {
            registry.invalidate();
            black_box(registry.allows(black_box("t042"), "app", Some("gamma")).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, checks);
criterion_main!(benches);
