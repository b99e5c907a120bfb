//! Simulator speed: the two-equal-paths scenario with 20 MB, reported as simulated bytes
//! per second of wall time (the goal is at least 5 Gbit of transfer per wall second).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mptcp_sim::{run, RunOptions, Scenario};
use std::path::Path;

const BYTES: u64 = 20_000_000;

fn scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/two-equal-paths.toml");
    let mut s = match Scenario::from_file(&path) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    for f in &mut s.flows {
        f.bytes = BYTES;
    }
    s
}

fn sim_speed(c: &mut Criterion) {
    let s = scenario();
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(BYTES));
    group.bench_function("two_equal_paths_20MB", |b| {
        b.iter(|| {
            let r = run(&s, &RunOptions::default());
            assert!(r.is_ok_and(|r| r.all_ok()));
        })
    });
    group.finish();
}

criterion_group!(benches, sim_speed);
criterion_main!(benches);
