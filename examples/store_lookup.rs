//! Benchmark helper (not a test): the cost of one cache decision with a
//! large store. Fills a fresh store with N finished runs (one transaction),
//! then times `Cache::check` — identity (canonical JSON + blake3, module
//! file hash memoised) plus the indexed SQLite look-up — for M experiments,
//! half of them stored, half not.
//!
//! `cargo run --release --example store_lookup -- [N=100000] [M=10000]`

use std::time::Instant;

use cool_runner::store::{Cache, Ending, Identifier, NewRun, Store};
use yaml_serde::{Mapping, Value};

fn experiment(i: usize) -> Mapping {
    let mut m = Mapping::new();
    m.insert("Name".into(), format!("exp{i}").into());
    m.insert("Module".into(), "/bin/true".into());
    m.insert("lr".into(), Value::from(0.001 * (i % 100) as f64));
    m.insert("seed".into(), Value::from(i as u64));
    let mut nested = Mapping::new();
    nested.insert("layers".into(), Value::from((i % 7) as u64));
    nested.insert("width".into(), Value::from(256_u64));
    m.insert("model".into(), Value::Mapping(nested));
    m.insert("REP".into(), Value::from(0_u64));
    m.insert("GLOBAL_REP".into(), Value::from(0_u64));
    m.insert("RND_IDX".into(), Value::from(123_456_u64));
    m.insert("HOST".into(), "bench".into());
    m
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let m: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.sqlite");
    let mut store = Store::open(&path)?;
    let mut identifier = Identifier::new(&[]);
    let fill = Instant::now();
    store.transaction(|store| {
        for i in 0..n {
            let exp = experiment(i);
            let identity = identifier.identify(&exp).expect("identity");
            let json = serde_json::to_string(&exp).expect("json");
            let parts = identity.parts.to_string();
            let id = store.insert(&NewRun {
                identity: &identity.hash,
                index: i,
                name: "exp",
                started_at: "2026-01-01T00:00:00.000+00:00",
                host: "bench",
                pid: "1",
                slot: 0,
                experiment: &json,
                parts: &parts,
                run_dir: None,
                log_path: None,
            })?;
            store.finish(
                id,
                &Ending {
                    status: "done",
                    exit_code: Some(0),
                    finished_at: "2026-01-01T00:00:01.000+00:00",
                    elapsed: 1.0,
                    results: "{\"ACC\": 0.5}",
                    document: &json,
                },
            )?;
        }
        Ok(())
    })?;
    eprintln!("filled {n} runs in {:.2} s", fill.elapsed().as_secs_f64());
    drop(store);

    let store = Store::open(&path)?;
    let mut cache = Cache::new(store, Identifier::new(&[]), false, "bench".into());
    // Half hits (spread over the store), half misses.
    let experiments: Vec<Mapping> = (0..m)
        .map(|k| {
            if k % 2 == 0 {
                experiment(k * (n / m.max(1)).max(1) % n.max(1))
            } else {
                experiment(n + k)
            }
        })
        .collect();
    let clock = Instant::now();
    let mut hits = 0;
    for exp in &experiments {
        if cache.check(exp)?.1.is_some() {
            hits += 1;
        }
    }
    let per = clock.elapsed().as_secs_f64() / m as f64 * 1000.0;
    println!("store of {n} runs: {m} decisions ({hits} cached), {per:.4} ms per decision");
    Ok(())
}
