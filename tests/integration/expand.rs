//! `run --dry`: expansion through the real binary (issue #2).

use yaml_serde::Value;

use crate::test::{repo, Test};

fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, part| v.get(part))
}

/// Every experiment of `experiments/tricks.yaml` declares in `_expect` the
/// value of each computed key; all must hold.
#[test]
fn tricks_file_holds() {
    let exp = repo().join("experiments/tricks.yaml");
    let ran = Test::new()
        .args(&[
            "run",
            "--exp",
            exp.to_str().unwrap(),
            "--dry",
            "--seed",
            "3",
        ])
        .run()
        .status(0);
    let docs = ran.documents();
    assert_eq!(docs.len(), 11, "{}", ran.stdout());
    let mut checked = 0;
    for doc in &docs {
        let Some(Value::Mapping(expect)) = doc.get("_expect") else {
            panic!("no _expect in {doc:?}")
        };
        for (path, want) in expect {
            let path = path.as_str().unwrap();
            let got = lookup(doc, path);
            assert_eq!(
                got,
                Some(want),
                "{} `{path}`",
                doc["Name"].as_str().unwrap()
            );
            checked += 1;
        }
    }
    assert!(checked >= 35, "only {checked} expectations checked");
    // Repeat copies share RND_IDX; the skip experiment is kept.
    let repeated: Vec<&Value> = docs.iter().filter(|d| d["Name"] == "repeated").collect();
    assert_eq!(repeated[0]["same_id"], repeated[1]["RND_IDX"]);
    assert_eq!(docs.last().unwrap()["Name"], "skip");
    assert!(
        ran.stderr().contains("11 experiment(s) expanded"),
        "{}",
        ran.stderr()
    );
}

const SWEEP: &str = "\
Global:
  repeat: 1
Module: /bin/true
lr: 0.1
---
Name: a
depth: 2
---
Name: b
depth: parse E[-1].depth * 2
Repeat: 2
";

#[test]
fn dry_prints_yaml_on_stdout_in_key_order() {
    let ran = Test::new()
        .write("experiment.yaml", SWEEP)
        .args(&["run", "--dry", "--seed", "1"])
        .run()
        .status(0);
    let out = ran.stdout();
    assert!(
        out.starts_with("---\nName: a\ndepth: 2\nModule: /bin/true\nlr: 0.1\nREP: 0\n"),
        "{out}"
    );
    let docs = ran.documents();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[1]["depth"], Value::from(4));
    assert_eq!(docs[2]["depth"], Value::from(8));
    assert!(!ran.stderr().contains("---"), "no YAML on stderr");
}

#[test]
fn seed_makes_rnd_idx_reproducible() {
    let run = |seed: &str| {
        Test::new()
            .write("experiment.yaml", SWEEP)
            .args(&["run", "--dry", "--seed", seed])
            .run()
            .status(0)
            .stdout()
    };
    assert_eq!(run("5"), run("5"));
    assert_ne!(run("5"), run("6"));
}

#[test]
fn overrides_pick_and_module_arguments() {
    let ran = Test::new()
        .write("experiment.yaml", SWEEP)
        .args(&[
            "run",
            "--dry",
            "+Global.repeat=2",
            "--gpu-mem",
            "8",
            "+lr=1e-3",
            "--pick",
            "0,3-5",
            "extra",
        ])
        .run()
        .status(0);
    let docs = ran.documents();
    let names: Vec<(&str, u64)> = docs
        .iter()
        .map(|d| {
            (
                d["Name"].as_str().unwrap(),
                d["GLOBAL_REP"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("a", 0), ("a", 1), ("b", 1), ("b", 1)]);
    assert!(docs.iter().all(|d| d["lr"] == 0.001));
}

#[test]
fn pick_out_of_range_is_bad_input() {
    let ran = Test::new()
        .write("experiment.yaml", SWEEP)
        .args(&["run", "--dry", "--pick", "7"])
        .run()
        .status(2);
    assert!(ran.stderr().contains("out of range"), "{}", ran.stderr());
    assert!(ran.stdout().is_empty());
}

#[test]
fn bad_input_exits_2_and_names_the_place() {
    let cases: &[(&str, &[&str])] = &[
        (
            "Global: {}\n---\nName: x\na: [1\n",
            &["invalid YAML at bad.yaml:"],
        ),
        (
            "Global: {}\n---\n- 1\n",
            &["bad.yaml:3", "document 1", "must be a mapping"],
        ),
        ("lr: 1\n---\na: 1\n", &["no `Global`"]),
        (
            "Global: {}\n---\nName: x\nRepeat: 0\n",
            &["bad.yaml:4", "`Repeat` must be"],
        ),
        ("Global: {repeat: x}\n", &["`Global.repeat` must be"]),
        (
            "Global: {}\n---\nName: first\n---\nName: second\nnested:\n  v: parse E[-1].nope + 1\n",
            &[
                "bad.yaml:7",
                "document 2",
                "experiment 1 `second`",
                "key `nested.v`",
                "nope",
            ],
        ),
        (
            "Global: {}\n---\na: parse (1 +\n",
            &["syntax error", "key `a`"],
        ),
        ("Global: {}\n---\na: parse loop {}\n", &["operations"]),
        (
            "Global: {}\n---\na: parse E[\"missing\"]\n",
            &["no earlier experiment is named `missing`"],
        ),
    ];
    for (text, needles) in cases {
        let ran = Test::new()
            .write("bad.yaml", text)
            .args(&["run", "--exp", "bad.yaml", "--dry"])
            .run();
        assert_eq!(ran.code(), 2, "{text:?}: {}", ran.stderr());
        let err = ran.stderr();
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.lines().count() <= 3, "one screen: {err}");
        assert!(ran.stdout().is_empty(), "nothing on stdout for {text:?}");
        for needle in *needles {
            assert!(
                err.contains(needle),
                "{text:?}: expected `{needle}` in {err}"
            );
        }
    }
}

#[test]
fn missing_file_and_bad_override() {
    let ran = Test::new()
        .args(&["run", "--exp", "nope.yaml", "--dry"])
        .run()
        .status(2);
    assert!(
        ran.stderr().contains("failed to read `nope.yaml`"),
        "{}",
        ran.stderr()
    );
    let ran = Test::new()
        .write("experiment.yaml", "Global: {}\nlr: 1\n---\na: 1\n")
        .args(&["run", "--dry", "+lr.x=1"])
        .run()
        .status(2);
    assert!(
        ran.stderr().contains("invalid override `+lr.x=1`"),
        "{}",
        ran.stderr()
    );
}
