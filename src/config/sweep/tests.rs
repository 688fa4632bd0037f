//! Unit tests of `Sweep` reading and point decoding.

use yaml_serde::{Mapping, Value};

use super::*;

fn map(text: &str) -> Mapping {
    yaml_serde::from_str(text).unwrap()
}

fn plan_with(doc: &str, defaults: &str, cli: &[Override]) -> Result<Option<Plan>, ConfigError> {
    let text = format!("Global: {{}}\n{defaults}\n---\n{doc}");
    let source = SourceText::new("s.yaml".into(), text);
    let defaults = map(defaults);
    let ctx = Context {
        source: Some(&source),
        document: 1,
        defaults: &defaults,
        cli,
        seed: 7,
    };
    Plan::read(&ctx, &map(doc))
}

fn plan(doc: &str) -> Plan {
    plan_with(doc, "x: 0", &[]).unwrap().unwrap()
}

fn error(doc: &str) -> String {
    plan_with(doc, "x: 0\nmodel: {depth: 1}\nopt: adam", &[])
        .unwrap_err()
        .to_string()
}

fn keys_of(m: &Mapping) -> Vec<String> {
    m.keys().map(|k| k.as_str().unwrap().to_owned()).collect()
}

#[test]
fn grid_then_zip_last_key_fastest() {
    let doc = map(
        "a: 1\nSweep:\n  grid: {lr: [1, 2], d: [3, 4, 5]}\n  zip: {x: [a, b], y: [c, d]}\nb: 2\n",
    );
    let p = plan(
        "a: 1\nSweep:\n  grid: {lr: [1, 2], d: [3, 4, 5]}\n  zip: {x: [a, b], y: [c, d]}\nb: 2\n",
    );
    assert_eq!(p.points(), 12);
    assert_eq!(p.describe(), "grid 2×3 × zip 2");
    let point = |i| p.document(&doc, i);
    assert_eq!(keys_of(&point(0)), ["a", "lr", "d", "x", "y", "b"]);
    let values = |i| {
        let m = point(i);
        ["lr", "d", "x", "y"].map(|k| super::axis::value_text(&m[k]))
    };
    assert_eq!(values(0), ["1", "3", "a", "c"]);
    assert_eq!(values(1), ["1", "3", "b", "d"]);
    assert_eq!(values(2), ["1", "4", "a", "c"]);
    assert_eq!(values(11), ["2", "5", "b", "d"]);
    assert!(!point(3).contains_key("Sweep"));
}

#[test]
fn dotted_paths_nest_and_land_in_own_mappings() {
    let doc = map("model: {width: 3}\nSweep: {grid: {model.depth: [20, 56], opt.lr: [0.1]}}\n");
    let p = plan("model: {width: 3}\nSweep: {grid: {model.depth: [20, 56], opt.lr: [0.1]}}\n");
    let first = p.document(&doc, 1);
    assert_eq!(keys_of(&first), ["model", "opt"]);
    assert_eq!(first["model"], Value::Mapping(map("width: 3\ndepth: 56")));
    assert_eq!(first["opt"], Value::Mapping(map("lr: 0.1")));
}

#[test]
fn cli_axes_go_first_without_a_sweep_key_and_fastest_with_one() {
    let cli = [Override::parse_sweep("seed=0,1,2").unwrap()];
    let doc = map("Name: x\nlr: 1\n");
    let p = plan_with("Name: x\nlr: 1\n", "x: 0", &cli)
        .unwrap()
        .unwrap();
    assert_eq!(p.describe(), "--sweep 3");
    assert_eq!(keys_of(&p.document(&doc, 2)), ["seed", "Name", "lr"]);
    let doc = map("Name: x\nSweep: {grid: {lr: [1, 2]}}\n");
    let p = plan_with("Name: x\nSweep: {grid: {lr: [1, 2]}}\n", "x: 0", &cli)
        .unwrap()
        .unwrap();
    assert_eq!(p.points(), 6);
    let point = p.document(&doc, 4);
    assert_eq!(keys_of(&point), ["Name", "lr", "seed"]);
    assert_eq!(
        (point["lr"].as_i64(), point["seed"].as_i64()),
        (Some(2), Some(1))
    );
    assert!(plan_with("a: 1\n", "x: 0", &[]).unwrap().is_none());
}

#[test]
fn random_points_are_prefix_stable_and_seeded() {
    let doc = |n: u64, seed: &str| {
        format!("Sweep:\n  random:\n    n: {n}\n    {seed}\n    space: {{wd: {{loguniform: [1.0e-6, 1.0e-2]}}, opt: [adam, sgd], layers: {{randint: [2, 8]}}}}\n")
    };
    let small = plan(&doc(5, ""));
    let large = plan(&doc(50, ""));
    let own_seed = plan(&doc(5, "seed: 8"));
    assert_eq!(small.describe(), "random 5 (seed 7)");
    assert_eq!(own_seed.describe(), "random 5 (seed 8)");
    let d = map(&doc(5, ""));
    for i in 0..5 {
        assert_eq!(small.document(&d, i), large.document(&d, i));
        assert_ne!(small.document(&d, i), own_seed.document(&d, i));
    }
    assert_ne!(small.document(&d, 0), small.document(&d, 1));
}

#[test]
fn overflowing_point_counts_are_errors() {
    let err = plan_with(
        "Sweep: {grid: {a: {range: [0, 10000000000]}, b: {range: [0, 10000000000]}}}",
        "x: 0",
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("has more than"), "{err}");
}

#[test]
fn errors_name_file_line_and_key() {
    for (doc, expected) in [
        (
            "Name: a\nSweep:\n  zip:\n    a: [1, 2]\n    b: [1, 2, 3]\n",
            "s.yaml:10 (document 1, key `Sweep.zip.b`): the lists of `zip` are walked together \
             and must have equal lengths: `a` has 2 values, `b` has 3",
        ),
        (
            "Sweep:\n  grid:\n    a: []\n",
            "s.yaml:8 (document 1, key `Sweep.grid.a`): an empty axis",
        ),
        ("Sweep:\n  gird: {a: [1]}\n", "key `Sweep.gird`): unknown block `Sweep.gird`; did you mean `grid`?"),
        ("Sweep:\n  grid:\n    a: {linspcae: [0, 1, 3]}\n", "unknown generator `linspcae`; did you mean `linspace`?"),
        ("Sweep:\n  grid:\n    a: {range: [1, 0]}\n", "s.yaml:8 (document 1, key `Sweep.grid.a`): `range: [1, 0]` is empty"),
        ("Sweep:\n  grid:\n    a: {range: [0, 1, 0]}\n", "the step is 0"),
        ("Sweep:\n  grid:\n    a: 3\n", "write `[3]` for one value"),
        ("Sweep: [1]\n", "`Sweep` must be a mapping"),
        ("Sweep: {}\n", "`Sweep` is empty"),
        ("Sweep:\n  random: {n: 0, space: {a: [1]}}\n", "`n: 0` is an empty axis"),
        ("Sweep:\n  random: {n: 2}\n", "needs a `space`"),
        ("Sweep:\n  random: {n: 2, sead: 1, space: {a: [1]}}\n", "unknown key `Sweep.random.sead`; did you mean `seed`?"),
        ("Sweep:\n  random: {n: 2, space: {a: {unifrom: [0, 1]}}}\n", "unknown distribution `unifrom`; did you mean `uniform`?"),
        ("Sweep:\n  random: {n: 2, space: {a: {uniform: [1, 0]}}}\n", "low < high"),
        ("Sweep:\n  grid:\n    a: ['parse 1 + 1']\n", "cannot be an expression"),
        ("Sweep:\n  grid:\n    Repeat: [1, 2]\n", "`Repeat` cannot be swept"),
        ("Sweep:\n  grid:\n    a..b: [1]\n", "has an empty part"),
        ("Sweep:\n  grid: {a: [1]}\n  zip: {a: [2]}\n", "`a` is swept twice: by `Sweep.grid.a` and by `Sweep.zip.a`"),
        ("Sweep:\n  grid: {model: [1], model.depth: [2]}\n", "`model.depth` is swept twice"),
        ("Sweep:\n  grid: {opt.lr: [1]}\n", "`opt.lr` cannot be set: `opt` is not a mapping in the default config"),
        (
            "Name: a\nSweep:\n  grid:\n    lr: [1, 2]\nlr: 3\n",
            "s.yaml:9 (document 1, key `Sweep.grid.lr`): `lr` is set both by the sweep \
             (`Sweep.grid.lr` (line 9)) and by the experiment itself (`lr` (line 10)); remove one of them",
        ),
    ] {
        let err = error(doc);
        assert!(err.contains(expected), "{doc:?}:\n{err}\nexpected: {expected}");
    }
    // A dotted path into the experiment's own mapping is no conflict,
    // through its scalar it is.
    assert!(plan_with(
        "model: {width: 1}\nSweep: {grid: {model.depth: [1]}}",
        "x: 0",
        &[]
    )
    .is_ok());
    assert!(error("model: 3\nSweep: {grid: {model.depth: [1]}}").contains("set both"));
    let cli = [Override::parse_sweep("lr=1,2").unwrap()];
    let err = plan_with("Name: a\nlr: 3\n", "x: 0", &cli)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "key `lr`): `lr` is set both by `--sweep lr=1,2` and by the experiment itself"
        ),
        "{err}"
    );
}
