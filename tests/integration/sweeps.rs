//! Issue #14: sweeps written in the YAML (`Sweep:` grid, zip and seeded
//! random blocks) and `run --sweep`, through the real binary.

use std::time::{Duration, Instant};

use yaml_serde::Value;

use crate::test::{documents, Ran, Test};

/// The issue's example, with a second global repetition, a document
/// without a sweep after it and a default config that `model.depth` reaches
/// into.
const EXAMPLE: &str = "\
Global: {repeat: 2}
Module: echo
model: {depth: 10, width: 4}
---
Name: ft
Sweep:
  grid:                       # every combination; the last key varies fastest
    lr: [0.1, 0.01, 0.001]
    model.depth: [20, 56]     # a dotted path sets a nested key
  zip:                        # walked together; all lists of equal length
    dataset: [cifar10, cifar100]
    classes: [10, 100]
Repeat: 3
wd: parse lr * 10             # swept values are visible to expressions
at: parse SWEEP_IDX
---
Name: plain
";

fn dry(file: &str, text: &str, extra: &[&str]) -> Ran {
    let mut args = vec!["run", "--exp", file, "--dry", "--no-store"];
    args.extend_from_slice(extra);
    Test::new().write(file, text).args(&args).run()
}

fn keys(doc: &Value) -> Vec<String> {
    doc.as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => yaml_serde::to_string(other).unwrap().trim_end().to_owned(),
    }
}

/// global repetition → document → sweep point (grid × zip, the last key
/// fastest) → that point's `Repeat` copies; `SWEEP_IDX` per document,
/// `RND_IDX` per point and shared by its copies.
#[test]
fn order_and_keys_of_grid_zip_repeat_and_global_repeat() {
    let ran = dry("e.yaml", EXAMPLE, &["--seed", "1"]).status(0);
    assert_eq!(
        ran.stderr().lines().next(),
        Some(
            "ft: grid 3×2 × zip 2 = 12 points × Repeat 3 = 36 experiments × Global.repeat 2 \
             = 72 experiments"
        ),
        "{}",
        ran.stderr()
    );
    let docs = ran.documents();
    assert_eq!(docs.len(), 2 * (36 + 1));
    assert_eq!(
        keys(&docs[0]),
        [
            "Name",
            "lr",
            "model",
            "dataset",
            "classes",
            "Repeat",
            "wd",
            "at",
            "Module",
            "REP",
            "GLOBAL_REP",
            "SWEEP_IDX",
            "RND_IDX",
            "HOST"
        ]
    );
    assert!(!docs.iter().any(|d| d.get("Sweep").is_some()));
    let mut expected = Vec::new();
    for global_rep in 0..2 {
        let mut point = 0;
        for lr in ["0.1", "0.01", "0.001"] {
            for depth in ["20", "56"] {
                for (dataset, classes) in [("cifar10", "10"), ("cifar100", "100")] {
                    for rep in 0..3 {
                        expected.push(format!(
                            "ft {global_rep} {point} {rep} {lr} {depth} {dataset} {classes} {point}"
                        ));
                    }
                    point += 1;
                }
            }
        }
        expected.push(format!("plain {global_rep} - 0 - 10 - - -"));
    }
    let seen: Vec<String> = docs
        .iter()
        .map(|d| {
            let get = |k: &str| d.get(k).map_or_else(|| "-".to_owned(), text);
            format!(
                "{} {} {} {} {} {} {} {} {}",
                get("Name"),
                get("GLOBAL_REP"),
                get("SWEEP_IDX"),
                get("REP"),
                get("lr"),
                text(&d["model"]["depth"]),
                get("dataset"),
                get("classes"),
                get("at"),
            )
        })
        .collect();
    assert_eq!(seen, expected);
    // `wd: parse lr * 10` saw the swept `lr`.
    assert_eq!(docs[0]["wd"], Value::from(1.0));
    assert_eq!(docs[35]["wd"], Value::from(0.01));
    // RND_IDX: one per point, shared by its three copies.
    for point in docs[..36].chunks(3) {
        assert!(point.iter().all(|d| d["RND_IDX"] == point[0]["RND_IDX"]));
    }
    let distinct: std::collections::BTreeSet<String> =
        docs[..36].iter().map(|d| text(&d["RND_IDX"])).collect();
    assert!(distinct.len() > 6, "{distinct:?}");
    // The same seed gives the same file.
    let again = dry("e.yaml", EXAMPLE, &["--seed", "1"]).status(0);
    assert_eq!(again.stdout(), ran.stdout());
}

/// `model.depth` makes `model` the experiment's own key at the place of
/// `Sweep`, merged deeply with the default; with the experiment's own
/// `model`, it lands inside it.
#[test]
fn dotted_paths_merge_deeply_with_the_default_config() {
    let file = "\
Global: {}
Module: echo
model: {depth: 10, width: 4, opt: {lr: 1, m: 0.9}}
---
a: 1
Sweep:
  grid:
    model.opt.lr: [0.5]
    model.depth: [20]
b: parse model.depth + model.width
---
model: {width: 8}
Sweep: {grid: {model.depth: [30]}}
";
    let docs = dry("e.yaml", file, &[]).status(0).documents();
    assert_eq!(keys(&docs[0])[..4], ["a", "model", "b", "Module"]);
    let model: Value =
        yaml_serde::from_str("{opt: {lr: 0.5, m: 0.9}, depth: 20, width: 4}").unwrap();
    assert_eq!(docs[0]["model"], model);
    assert_eq!(docs[0]["b"], Value::from(24));
    let model: Value = yaml_serde::from_str("{width: 8, depth: 30, opt: {lr: 1, m: 0.9}}").unwrap();
    assert_eq!(docs[1]["model"], model);
}

/// `range`, `linspace` and `geomspace` give the decimals written, as the
/// YAML on stdout shows them.
#[test]
fn generators_give_exact_decimals() {
    let file = "\
Global: {}
Module: echo
---
Sweep:
  grid:
    lr: {range: [0, 1, 0.1]}
---
Sweep: {zip: {a: {linspace: [0, 1, 11]}, g: {geomspace: [1.0e-4, 1, 11]}, i: {range: [11, 0, -1]}}}
---
Sweep: {zip: {a: {range: [0, 14]}, b: {range: [0.5, 2.2, 0.125]}}}
";
    let ran = dry("e.yaml", file, &[]).status(0);
    let docs = ran.documents();
    let column = |from: usize, to: usize, key: &str| -> Vec<String> {
        docs[from..to].iter().map(|d| text(&d[key])).collect()
    };
    assert_eq!(
        column(0, 10, "lr"),
        ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
    );
    assert!(ran.stdout().contains("lr: 0.3\n"), "{}", ran.stdout());
    assert!(!ran.stdout().contains("0000000"), "{}", ran.stdout());
    assert_eq!(docs.len(), 10 + 11 + 14);
    assert_eq!(column(10, 13, "i"), ["11", "10", "9"]);
    let a: Vec<String> = (0..=10)
        .map(|k| format!("{:?}", f64::from(k) / 10.0))
        .collect();
    assert_eq!(column(10, 21, "a"), a);
    let g = column(10, 21, "g");
    assert_eq!([&g[0], &g[5], &g[10]], ["0.0001", "0.01", "1.0"]);
    for (k, g) in g.iter().enumerate() {
        let exact = 10_f64.powf(-4.0 + 0.4 * k as f64);
        assert!(
            (g.parse::<f64>().unwrap() / exact - 1.0).abs() < 1e-14,
            "{g}"
        );
    }
    assert_eq!(
        column(21, 35, "b"),
        [
            "0.5", "0.625", "0.75", "0.875", "1.0", "1.125", "1.25", "1.375", "1.5", "1.625",
            "1.75", "1.875", "2.0", "2.125"
        ]
    );
    assert_eq!(
        ran.stderr().lines().take(3).collect::<Vec<_>>(),
        [
            "document 1: grid 10 = 10 points × Repeat 1 = 10 experiments",
            "document 2: zip 11 = 11 points × Repeat 1 = 11 experiments",
            "document 3: zip 14 = 14 points × Repeat 1 = 14 experiments",
        ],
        "{}",
        ran.stderr()
    );
}

const RANDOM: &str = "\
Global: {}
Module: echo
---
Name: search
Sweep:
  grid: {depth: [1, 2]}
  random:
    n: COUNT
    space:
      wd: {loguniform: [1.0e-6, 1.0e-2]}
      opt: {choice: [adam, sgd]}
      drop: {uniform: [0, 0.5]}
      layers: {randint: [2, 8]}
";

fn random_points(n: usize, extra: &[&str]) -> Vec<String> {
    let file = RANDOM.replace("COUNT", &n.to_string());
    let docs = dry("r.yaml", &file, extra).status(0).documents();
    assert_eq!(docs.len(), 2 * n);
    docs.iter()
        .map(|d| {
            ["depth", "wd", "opt", "drop", "layers"]
                .map(|k| text(&d[k]))
                .join(" ")
        })
        .collect()
}

/// Point *i* depends on the seed, the document and *i* only: the same seed
/// gives the same points, and a larger `n` keeps the first ones.
#[test]
fn seeded_random_points_are_reproducible_and_prefix_stable() {
    let small = random_points(5, &["--seed", "3"]);
    assert_eq!(small, random_points(5, &["--seed", "3"]));
    let large = random_points(40, &["--seed", "3"]);
    // The grid is outermost: depth 1 has points 0..n, then depth 2.
    assert_eq!(small[..5], large[..5]);
    assert_eq!(small[5..], large[40..45]);
    assert_ne!(small, random_points(5, &["--seed", "4"]));
    for point in &large {
        let parts: Vec<&str> = point.split(' ').collect();
        let wd: f64 = parts[1].parse().unwrap();
        let drop: f64 = parts[3].parse().unwrap();
        let layers: i64 = parts[4].parse().unwrap();
        assert!((1.0e-6..=1.0e-2).contains(&wd), "{point}");
        assert!(["adam", "sgd"].contains(&parts[2]), "{point}");
        assert!((0.0..0.5).contains(&drop), "{point}");
        assert!((2..=8).contains(&layers), "{point}");
    }
    let layers: std::collections::BTreeSet<&str> = large
        .iter()
        .map(|p| p.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(layers.len(), 7, "randint includes both ends: {layers:?}");
    // A `seed` in the block wins over `--seed`; the summary names it.
    let pinned = RANDOM.replace("n: COUNT", "n: 5\n    seed: 11");
    let a = dry("r.yaml", &pinned, &["--seed", "1"]).status(0);
    let b = dry("r.yaml", &pinned, &["--seed", "2"]).status(0);
    assert!(
        a.stderr().starts_with(
            "search: grid 2 × random 5 (seed 11) = 10 points × Repeat 1 = 10 experiments\n"
        ),
        "{}",
        a.stderr()
    );
    let strip = |ran: &Ran| -> Vec<String> {
        ran.documents()
            .iter()
            .map(|d| {
                ["wd", "opt", "drop", "layers"]
                    .map(|k| text(&d[k]))
                    .join(" ")
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
}

/// `--sweep` adds grid axes, varying fastest, to every experiment: at the
/// place of `Sweep`, or first in a document without one.
#[test]
fn cli_sweeps_add_the_fastest_grid_axes_to_every_experiment() {
    let file = "\
Global: {}
Module: echo
---
Name: a
Sweep: {grid: {lr: [1, 2]}}
x: parse seed * 10
---
Name: b
y: parse seed * 2
";
    let ran = dry(
        "e.yaml",
        file,
        &[
            "--sweep",
            "lr=0.1,0.01",
            "--sweep=seed=0,1,2",
            "--seed",
            "1",
        ],
    );
    // `lr` is swept by the file and by `--sweep` in document 1.
    let ran = ran.status(2);
    assert!(
        ran.stderr().contains(
            "e.yaml:5 (document 1, key `Sweep`): `lr` is swept twice: by `Sweep.grid.lr` and by \
             `--sweep lr=0.1,0.01`"
        ),
        "{}",
        ran.stderr()
    );
    let ran = dry(
        "e.yaml",
        file,
        &["--sweep", "seed=0,1,2", "--sweep", "wd=0.5,x"],
    )
    .status(0);
    let docs = ran.documents();
    assert_eq!(docs.len(), 2 * 3 * 2 + 3 * 2);
    let a: Vec<String> = docs[..12]
        .iter()
        .map(|d| {
            format!(
                "{} {} {} {}",
                text(&d["lr"]),
                text(&d["seed"]),
                text(&d["x"]),
                text(&d["SWEEP_IDX"])
            )
        })
        .collect();
    assert_eq!(a[..4], ["1 0 0 0", "1 0 0 1", "1 1 10 2", "1 1 10 3"]);
    assert_eq!(keys(&docs[0])[..5], ["Name", "lr", "seed", "wd", "x"]);
    assert_eq!(keys(&docs[12])[..4], ["seed", "wd", "Name", "y"]);
    assert_eq!(docs[14]["y"], Value::from(2));
    assert_eq!(docs[13]["wd"], Value::from("x"));
    assert!(
        ran.stderr()
            .contains("b: --sweep 3×2 = 6 points × Repeat 1 = 6 experiments"),
        "{}",
        ran.stderr()
    );
}

/// `--sweep` on a key the experiment sets itself, or without values.
#[test]
fn cli_sweeps_refuse_conflicts_and_empty_axes() {
    // The experiment's own key and `--sweep`: an error naming both.
    let ran = dry(
        "e.yaml",
        "Global: {}\nModule: echo\n---\nName: a\nlr: 3\n",
        &["--sweep", "lr=1,2"],
    )
    .status(2);
    assert!(
        ran.stderr().contains(
            "e.yaml:5 (document 1, key `lr`): `lr` is set both by `--sweep lr=1,2` and by the \
             experiment itself (`lr` (line 5)); remove one of them"
        ),
        "{}",
        ran.stderr()
    );
    let ran = dry("e.yaml", "Global: {}\n---\na: 1\n", &["--sweep", "lr="]).status(2);
    assert!(
        ran.stderr().contains("`--sweep lr=`: an empty axis"),
        "{}",
        ran.stderr()
    );
}

/// Every error of the issue: exit 2, the file, the line and the key, and
/// nothing on stdout.
#[test]
fn errors_name_the_file_line_and_key() {
    let head = "Global: {}\nModule: echo\n---\nName: a\n";
    for (body, expected) in [
        (
            "Sweep:\n  zip:\n    dataset: [cifar10, cifar100]\n    classes: [10, 100, 1000]\n",
            "e.yaml:8 (document 1, key `Sweep.zip.classes`): the lists of `zip` are walked \
             together and must have equal lengths: `dataset` has 2 values, `classes` has 3",
        ),
        (
            "Sweep:\n  grid:\n    lr: []\n",
            "e.yaml:7 (document 1, key `Sweep.grid.lr`): an empty axis: give at least one value",
        ),
        (
            "Sweep:\n  gird:\n    lr: [1]\n",
            "e.yaml:6 (document 1, key `Sweep.gird`): unknown block `Sweep.gird`; did you mean \
             `grid`?",
        ),
        (
            "Sweep:\n  grid:\n    lr: {logspace: [0, 1, 3]}\n",
            "e.yaml:7 (document 1, key `Sweep.grid.lr`): unknown generator `logspace`; did you \
             mean `geomspace`? (it takes the values, not their exponents: `{geomspace: [1.0e-4, \
             1.0, 5]}`)",
        ),
        (
            "Sweep:\n  grid:\n    lr: {range: [1, 0, 0.1]}\n",
            "e.yaml:7 (document 1, key `Sweep.grid.lr`): `range: [1, 0, 0.1]` is empty: a \
             positive step needs stop above start",
        ),
        (
            "Sweep:\n  grid:\n    lr: {range: [0, 1, 0]}\n",
            "e.yaml:7 (document 1, key `Sweep.grid.lr`): `range`: the step is 0",
        ),
        (
            "Sweep:\n  random: {n: 3, space: {wd: {loguniform: [0, 1]}}}\n",
            "e.yaml:6 (document 1, key `Sweep.random.space.wd`): `loguniform` takes `[low, high]`",
        ),
        (
            "Sweep:\n  grid:\n    lr: [1, 2]\nlr: 3\n",
            "e.yaml:7 (document 1, key `Sweep.grid.lr`): `lr` is set both by the sweep \
             (`Sweep.grid.lr` (line 7)) and by the experiment itself (`lr` (line 8)); remove \
             one of them",
        ),
    ] {
        let ran = dry("e.yaml", &format!("{head}{body}"), &[]).status(2);
        assert!(ran.stderr().contains(expected), "{body}:\n{}", ran.stderr());
        assert_eq!(ran.stdout(), "", "{body}");
    }
    let ran = dry(
        "e.yaml",
        "Global: {}\nSweep: {grid: {a: [1]}}\n---\nName: a\n",
        &[],
    )
    .status(2);
    assert!(
        ran.stderr().contains("e.yaml:2 (document 0 (default config), key `Sweep`): `Sweep` belongs in an experiment document"),
        "{}",
        ran.stderr()
    );
}

/// A sweep over the limit is refused before any point is made, naming the
/// limit: the default 1,000,000 (10,000,000 points here) and a lower
/// `Global.max_experiments`, which counts `Repeat` and `Global.repeat`.
#[test]
fn oversized_sweeps_are_refused_at_once_naming_the_limit() {
    let huge = "Global: {}\nModule: echo\n---\nName: huge\nSweep:\n  grid:\n    a: {range: [0, 10000]}\n    b: {range: [0, 1000]}\n";
    let start = Instant::now();
    let ran = Test::new()
        .write("e.yaml", huge)
        .args(&["run", "--exp", "e.yaml"])
        .run()
        .status(2);
    // Generous: only a hang or an expansion of the points would take long.
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(
        ran.stderr().trim_end(),
        "error: e.yaml:5 (document 1, experiment 0 `huge`, key `Sweep`): the sweep (grid \
         10000×1000) would expand to 10000000 points × `Repeat: 1`: 10000000 experiments, over \
         the limit of 1000000 (`Global.max_experiments`)"
    );
    assert!(!ran.dir.join("logs").exists());
    let small = "Global: {repeat: 2, max_experiments: 40}\nModule: echo\n---\nName: a\n---\nSweep: {zip: {a: [1, 2, 3, 4, 5, 6, 7]}}\nRepeat: 3\n";
    let ran = dry("e.yaml", small, &[]).status(2);
    assert!(
        ran.stderr().contains(
            "e.yaml:6 (document 2, experiment 1, key `Sweep`): the sweep (zip 7) would expand to \
             7 points × `Repeat: 3` × `Global.repeat: 2` (with the 1 experiments before it): 44 \
             experiments, over the limit of 40 (`Global.max_experiments`)"
        ),
        "{}",
        ran.stderr()
    );
    let fits = small.replace("max_experiments: 40", "max_experiments: 44");
    assert_eq!(dry("e.yaml", &fits, &[]).status(0).documents().len(), 44);
    let overflow = "Global: {}\n---\nSweep:\n  grid:\n    a: {range: [0, 10000000000]}\n    b: {range: [0, 10000000000]}\n";
    let ran = dry("e.yaml", overflow, &[]).status(2);
    assert!(
        ran.stderr()
            .contains("has more than 18446744073709551615 points"),
        "{}",
        ran.stderr()
    );
}

/// A module that reports `ACC = lr × 10 + REP / 10`, so each point's mean
/// and count are known.
const MODULE: &str = r#"import json, os
exp = json.load(open(os.environ["COOL_RUNNER_EXPERIMENT"]))
with open(os.environ["COOL_RUNNER_RESULTS"], "w") as f:
    json.dump({"ACC": exp["lr"] * 10 + exp["REP"] / 10}, f)
"#;

/// After a real run, `filter --group-by lr` gives one row per point, with
/// n equal to `Repeat` (the copies of a point are its seeds).
#[test]
fn filter_group_by_lr_gives_one_row_per_point_after_a_run() {
    let file = "\
Global: {}
Module: python3 acc.py
YamlLog: logs/sweep.yaml
---
Name: ft
Sweep:
  grid:
    lr: [0.1, 0.2, 0.3]
Repeat: 4
";
    let ran = Test::new()
        .write("e.yaml", file)
        .write("acc.py", MODULE)
        .args(&["run", "--exp", "e.yaml", "--no-store", "-j", "2"])
        .run()
        .status(0);
    let logged = documents(&ran.dir.join("logs/sweep.yaml"));
    assert_eq!(logged.len(), 12);
    assert!(logged.iter().all(|d| d["STATUS"] == "done"));
    let output = std::process::Command::new(crate::test::bin())
        .current_dir(&ran.dir)
        .args([
            "filter",
            "logs/sweep.yaml",
            "--group-by",
            "lr",
            "--agg",
            "ACC",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let csv = String::from_utf8(output.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("lr,n,ACC_mean,ACC_std,ACC_n"));
    let rows: Vec<(String, String, f64)> = lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            (
                cells[0].to_owned(),
                cells[1].to_owned(),
                cells[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 3, "{csv}");
    for ((lr, n, mean), expected) in rows
        .iter()
        .zip([("0.1", 1.15), ("0.2", 2.15), ("0.3", 3.15)])
    {
        assert_eq!((lr.as_str(), n.as_str()), (expected.0, "4"), "{csv}");
        assert!((mean - expected.1).abs() < 1e-9, "{csv}");
    }
}

/// `experiments/sweep.yaml` expands as its comments say.
#[test]
fn the_example_expands() {
    let ran = Test::new()
        .with_repo_dirs(&["experiments", "modules"])
        .args(&[
            "run",
            "--exp",
            "experiments/sweep.yaml",
            "--dry",
            "--seed",
            "1",
            "--no-store",
        ])
        .run()
        .status(0);
    let stderr = ran.stderr();
    assert!(
        stderr.contains("ft: grid 3×2 × zip 2 = 12 points × Repeat 3 = 36 experiments\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("document 2: random 8 (seed 0) = 8 points × Repeat 1 = 8 experiments\n"),
        "{stderr}"
    );
    assert_eq!(ran.documents().len(), 44);
}

/// `Name: parse f"ft-{lr}"` after `Sweep` gives each point its own name,
/// which `E["ft-0.1"]` finds; before `Sweep` it cannot see `lr`.
#[test]
fn points_named_from_their_values_are_found_in_e() {
    let file = "\
Global: {}
Module: echo
---
Sweep: {grid: {lr: [0.1, 0.2]}}
Name: parse f\"ft-{lr}\"
acc: parse lr * 10
---
Name: best
from: parse E[\"ft-0.1\"].acc + E[\"ft-0.2\"].SWEEP_IDX
";
    let docs = dry("e.yaml", file, &[]).status(0).documents();
    let names: Vec<String> = docs.iter().map(|d| text(&d["Name"])).collect();
    assert_eq!(names, ["ft-0.1", "ft-0.2", "best"]);
    assert_eq!(docs[2]["from"], Value::from(2.0));
    let before = file.replace(
        "Sweep: {grid: {lr: [0.1, 0.2]}}\nName: parse f\"ft-{lr}\"",
        "Name: parse f\"ft-{lr}\"\nSweep: {grid: {lr: [0.1, 0.2]}}",
    );
    let ran = dry("e.yaml", &before, &[]).status(2);
    assert!(
        ran.stderr().contains("e.yaml:4 (document 1, experiment 0 ")
            && ran.stderr().contains("key `Name`): failed to evaluate")
            && ran.stderr().contains("unknown variable `lr`"),
        "{}",
        ran.stderr()
    );
}
