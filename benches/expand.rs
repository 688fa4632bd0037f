//! Criterion benchmark of expansion alone (no process start, no printing):
//! the `bench/gen_workload.py` files of 1,000 and 10,000 experiments,
//! through `expand_text`, the pipelined path the binary runs.
//! `bench/expand.sh` measures the whole `run --dry` command instead.

use std::path::Path;
use std::process::Command;

use cool_runner::config::{expand_text, ExpandOptions};
use cool_runner::expr::Sandbox;
use criterion::{criterion_group, criterion_main, Criterion};

fn workload(n: usize) -> String {
    let out = Command::new("python3")
        .args(["bench/gen_workload.py", &n.to_string(), "--strings"])
        .output()
        .expect("python3 runs bench/gen_workload.py");
    String::from_utf8(out.stdout).expect("utf-8")
}

fn expand(c: &mut Criterion) {
    let sandbox = Sandbox::new();
    let options = ExpandOptions {
        seed: Some(1),
        host: "bench".to_owned(),
        limit: None,
        placeholders: false,
    };
    let mut group = c.benchmark_group("expand");
    group.sample_size(10);
    for n in [1_000, 10_000] {
        let text = workload(n);
        group.bench_function(format!("{n} experiments"), |b| {
            b.iter(|| {
                let expansion =
                    expand_text(&sandbox, Path::new("w.yaml"), text.clone(), &[], &options)
                        .unwrap();
                assert_eq!(expansion.experiments.len(), n);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, expand);
criterion_main!(benches);
