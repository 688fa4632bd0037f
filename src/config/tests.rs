//! Expansion as the binary runs it (`expand_text`): the SPEC examples,
//! repeats, history, errors with their places, and queued documents.

use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use yaml_serde::{Mapping, Value};

use super::*;
use crate::expr::Sandbox;
use crate::queue::QueueEntry;

fn options(seed: u64, host: &str) -> ExpandOptions {
    ExpandOptions {
        seed: Some(seed),
        host: host.to_owned(),
        limit: None,
        placeholders: false,
    }
}

fn expand_text(text: &str) -> Result<Vec<Mapping>, ConfigError> {
    let sandbox = Sandbox::new();
    let options = options(7, "testhost");
    let path = Path::new("test.yaml");
    super::expand_text(&sandbox, path, text.to_owned(), &[], &options).map(|e| e.experiments)
}

fn get<'a>(exp: &'a Mapping, path: &str) -> &'a Value {
    let mut value = exp
        .get(path.split('.').next().unwrap())
        .unwrap_or(&Value::Null);
    for part in path.split('.').skip(1) {
        value = value.get(part).unwrap_or(&Value::Null);
    }
    value
}

fn err(text: &str) -> String {
    expand_text(text)
        .expect_err("expected an error")
        .to_string()
}

/// An independent reference for the pipeline: parse the whole file first,
/// then expand document after document with the public `Expander` (what
/// the runner does with queued documents).
fn reference(
    sandbox: &Sandbox,
    text: &str,
    options: &ExpandOptions,
) -> Result<Vec<Mapping>, ConfigError> {
    let file = parse_text(Path::new("test.yaml"), text.to_owned())?;
    let header = prepare::prepare(&file.source, file.defaults.clone(), &[])?;
    let mut expander = Expander::new(sandbox, Some(file.source.clone()), header.defaults, options);
    let mut out = Vec::new();
    for global_rep in 0..header.repeat {
        expander.start_global_rep(global_rep);
        for (i, doc) in file.experiments.iter().enumerate() {
            out.extend(expander.expand_document(i + 1, doc)?);
        }
    }
    Ok(out)
}

/// The pipelined expansion gives exactly what a whole-file parse followed
/// by sequential expansion gives, including `RND_IDX` values and error
/// precedence.
#[test]
fn pipeline_matches_sequential_expansion() {
    let mut text = String::from("Global: {repeat: 2}\nlr: 0.1\nd: parse lr * 2\n");
    for i in 0..50 {
        let _ = write!(
            text,
            "---\nName: e{i}\nRepeat: {}\nv: {i}\nw: parse v + E.len\n",
            1 + i % 3
        );
    }
    let sandbox = Sandbox::new();
    let options = options(9, "h");
    let run = |text: &str| {
        let piped = super::expand_text(
            &sandbox,
            Path::new("test.yaml"),
            text.to_owned(),
            &[],
            &options,
        )
        .map(|e| e.experiments);
        (piped, reference(&sandbox, text, &options))
    };
    let (piped, sequential) = run(&text);
    let piped = piped.unwrap();
    assert_eq!(piped.len(), 2 * (17 + 17 * 2 + 16 * 3));
    assert_eq!(piped, sequential.unwrap());
    // An expression error, then a malformed document: the YAML error wins.
    let broken = format!("{text}---\nName: x\nz: parse nope\n---\na: [1\n");
    let (piped, sequential) = run(&broken);
    let (piped, sequential) = (piped.unwrap_err(), sequential.unwrap_err());
    assert!(matches!(piped, ConfigError::Yaml { .. }), "{piped}");
    assert_eq!(piped.to_string(), sequential.to_string());
    // An expression error, then a document that is not a mapping: that wins.
    let broken = format!("{text}---\nName: x\nz: parse nope\n---\n- 1\n");
    let piped = run(&broken).0.unwrap_err().to_string();
    assert!(piped.contains("must be a mapping"), "{piped}");
    // Only the expression error.
    let broken = format!("{text}---\nName: x\nz: parse nope\n");
    let (piped, sequential) = run(&broken);
    let piped = piped.unwrap_err();
    assert!(matches!(piped, ConfigError::Expr { .. }), "{piped}");
    assert_eq!(piped.to_string(), sequential.unwrap_err().to_string());
}

/// Sweeps stream through the pipeline (points made on the parsing thread,
/// `Global.repeat` rounds replayed) exactly as the sequential `Expander`
/// expands them document by document.
#[test]
fn sweeps_in_the_pipeline_match_sequential_expansion() {
    let text = "Global: {repeat: 2}\nmodel: {depth: 1, width: 2}\n---\nName: plain\nv: 1\n\
        ---\nSweep:\n  grid: {lr: {range: [0, 0.3, 0.1]}, model.depth: [20, 56]}\n  \
        zip: {a: [x, y], b: [1, 2]}\nName: parse f\"g-{lr}\"\nRepeat: 2\nwd: parse lr * SWEEP_IDX + E.len\n\
        ---\nSweep:\n  random: {n: 3, space: {p: {uniform: [0, 1]}, q: [a, b, c]}}\nr: parse p * 2\n";
    let sandbox = Sandbox::new();
    let options = options(9, "h");
    let piped = super::expand_text(
        &sandbox,
        Path::new("test.yaml"),
        text.to_owned(),
        &[],
        &options,
    )
    .unwrap()
    .experiments;
    let sequential = reference(&sandbox, text, &options).unwrap();
    assert_eq!(piped.len(), 2 * (1 + 3 * 2 * 2 * 2 + 3));
    assert_eq!(piped, sequential);
    assert_eq!(piped[1]["Name"], Value::from("g-0.0"));
    assert_eq!(
        piped[1]["model"],
        yaml_serde::from_str::<Value>("{depth: 20, width: 2}").unwrap()
    );
    assert_eq!(piped[17]["lr"], Value::from(0.2));
    assert_eq!(piped[17]["SWEEP_IDX"], Value::from(8));
}

#[test]
fn expand_path_reads_the_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.yaml");
    std::fs::write(&path, "Global: {}\n---\na: parse 1 + 1\n").unwrap();
    let sandbox = Sandbox::new();
    let expansion = expand_path(&sandbox, &path, &[], &options(1, "h")).unwrap();
    assert_eq!(expansion.experiments[0]["a"], Value::from(2));
    let missing = expand_path(&sandbox, &dir.path().join("no.yaml"), &[], &options(1, "h"));
    assert!(matches!(missing, Err(ConfigError::Read { .. })));
}

#[test]
fn overrides_apply_before_global_and_defaults_are_split() {
    let sandbox = Sandbox::new();
    let overrides = [
        Override::parse("+Global.repeat=2").unwrap(),
        Override::parse("+lr=0.5").unwrap(),
    ];
    let text = "Global: {}\nlr: 0.1\n---\nx: parse GLOBAL_REP * 2\n".to_owned();
    let e = super::expand_text(
        &sandbox,
        Path::new("t.yaml"),
        text,
        &overrides,
        &options(1, "h"),
    )
    .unwrap();
    assert_eq!(e.experiments.len(), 2);
    assert_eq!(e.experiments[1]["x"], Value::from(2));
    assert_eq!(e.experiments[1]["lr"], Value::from(0.5));
    assert_eq!(e.global["repeat"], Value::from(2));
    assert_eq!(e.defaults["lr"], Value::from(0.5));
    assert!(!e.defaults.contains_key("Global"));
    let bad = [Override::parse("+Global=3").unwrap()];
    let text = "Global: {}\n---\nx: 1\n".to_owned();
    let e = super::expand_text(&sandbox, Path::new("t.yaml"), text, &bad, &options(1, "h"));
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("`Global` must be a mapping"));
}

#[test]
fn spec_deeper_level_wins() {
    let exps = expand_text(
        "Global: {}\n---\nabc: 1\nnested:\n   abc: 2\n   nested2:\n      test: parse abc\n",
    )
    .unwrap();
    assert_eq!(get(&exps[0], "nested.nested2.test"), &Value::from(2));
}

#[test]
fn spec_lists_history_and_nested_access() {
    let text = "Global: {}\n---\nlist: [1, 1, 9]\n---\nlist: [2, 3, 4]\nnumber2: parse list[0]\n\
                number3: parse E[-1].list[2]\nnested: {test: 41}\nincremented: parse nested.test + 1\n";
    let exps = expand_text(text).unwrap();
    assert_eq!(get(&exps[1], "number2"), &Value::from(2));
    assert_eq!(get(&exps[1], "number3"), &Value::from(9));
    assert_eq!(get(&exps[1], "incremented"), &Value::from(42));
}

#[test]
fn spec_default_expressions_resolve_last() {
    let text = "# DEFAULT CONFIG\nGlobal: {}\ntest1: parse test3 - 1\n---\ntest2: 5\ntest3: parse test2 - 1\n";
    let exps = expand_text(text).unwrap();
    assert_eq!(get(&exps[0], "test3"), &Value::from(4));
    assert_eq!(get(&exps[0], "test1"), &Value::from(3));
    let keys: Vec<&str> = exps[0].keys().filter_map(Value::as_str).collect();
    assert_eq!(
        keys,
        [
            "test2",
            "test3",
            "test1",
            "REP",
            "GLOBAL_REP",
            "RND_IDX",
            "HOST"
        ]
    );
}

#[test]
fn spec_history_by_position_and_name_and_brackets() {
    let text = "Global: {}\n---\nName: first\ncfg: {p: {s: 0.5}}\n---\nName: second\n\
                a: parse E[0].Name\nb: parse E[\"first\"].cfg.p.s\nc: parse E[-1][\"cfg\"][\"p\"][\"s\"] * 2\n";
    let exps = expand_text(text).unwrap();
    assert_eq!(get(&exps[1], "a"), &Value::from("first"));
    assert_eq!(get(&exps[1], "b"), &Value::from(0.5));
    assert_eq!(get(&exps[1], "c"), &Value::from(1.0));
}

#[test]
fn spec_strings_rhai_and_python_forms() {
    let text = "Global: {}\n---\nName: exp4\n---\nName: run7\nmodel: vit\n\
                a: parse `${Name}/${model}`\nb: parse f\"{Name}/{E[-1].Name}/{model}\"\n";
    let exps = expand_text(text).unwrap();
    assert_eq!(get(&exps[1], "a"), &Value::from("run7/vit"));
    assert_eq!(get(&exps[1], "b"), &Value::from("run7/exp4/vit"));
}

#[test]
fn spec_results_keep_their_type() {
    let text =
        "Global: {}\n---\ni: parse 1 + 1\nf: parse 1 + 0.5\nb: parse 1 < 2\ns: parse \"x\"\n\
                l: parse [1, 2]\nm: \"parse #{a: 1}\"\nn: parse ()\n";
    let exps = expand_text(text).unwrap();
    assert_eq!(get(&exps[0], "i"), &Value::from(2));
    assert_eq!(get(&exps[0], "f"), &Value::from(1.5));
    assert_eq!(get(&exps[0], "b"), &Value::Bool(true));
    assert_eq!(get(&exps[0], "s"), &Value::from("x"));
    assert!(get(&exps[0], "l").is_sequence());
    assert_eq!(get(&exps[0], "m.a"), &Value::from(1));
    assert_eq!(get(&exps[0], "n"), &Value::Null);
}

#[test]
fn repeat_and_global_repeat_order_and_keys() {
    let text = "Global: {repeat: 2}\n---\nName: a\nRepeat: 2\n---\nName: b\n";
    let exps = expand_text(text).unwrap();
    let order: Vec<(String, u64, u64)> = exps
        .iter()
        .map(|e| {
            (
                e["Name"].as_str().unwrap().to_owned(),
                e["REP"].as_u64().unwrap(),
                e["GLOBAL_REP"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("a", 0, 0),
        ("a", 1, 0),
        ("b", 0, 0),
        ("a", 0, 1),
        ("a", 1, 1),
        ("b", 0, 1),
    ];
    let expected: Vec<(String, u64, u64)> = expected
        .iter()
        .map(|(n, r, g)| ((*n).to_owned(), *r, *g))
        .collect();
    assert_eq!(order, expected);
    // RND_IDX: shared by the copies within one global repetition, six digits.
    assert_eq!(exps[0]["RND_IDX"], exps[1]["RND_IDX"]);
    assert_ne!(exps[0]["RND_IDX"], exps[3]["RND_IDX"]);
    for e in &exps {
        let id = e["RND_IDX"].as_i64().unwrap();
        assert!((100_000..=999_999).contains(&id));
        assert_eq!(e["HOST"], Value::from("testhost"));
    }
}

#[test]
fn history_restarts_at_each_global_repetition() {
    let text = "Global: {repeat: 2}\n---\nName: a\nn: parse E.len\n---\nName: b\nn: parse E.len\n";
    let exps = expand_text(text).unwrap();
    let lens: Vec<i64> = exps.iter().map(|e| e["n"].as_i64().unwrap()).collect();
    assert_eq!(lens, [0, 1, 0, 1]);
}

#[test]
fn written_rnd_idx_is_kept_and_seed_is_reproducible() {
    let text = "Global: {}\n---\nRND_IDX: 42\n---\nx: 1\n";
    let a = expand_text(text).unwrap();
    let b = expand_text(text).unwrap();
    assert_eq!(a[0]["RND_IDX"], Value::from(42));
    assert_eq!(a[1]["RND_IDX"], b[1]["RND_IDX"], "same seed, same RND_IDX");
}

#[test]
fn skip_is_expanded_and_visible() {
    let text = "Global: {}\n---\nName: skip\nv: 3\n---\nw: parse E[-1].v\n";
    let exps = expand_text(text).unwrap();
    assert_eq!(exps.len(), 2);
    assert_eq!(get(&exps[1], "w"), &Value::from(3));
}

#[test]
fn later_keys_and_default_keys_are_unknown() {
    let e = err("Global: {}\n---\na: parse b\nb: 1\n");
    assert!(e.contains("unknown variable `b`"), "{e}");
    assert!(e.contains("test.yaml:3"), "{e}");
    assert!(e.contains("key `a`"), "{e}");
    assert!(e.contains("experiment 0"), "{e}");
    let e = err("Global: {}\nlr: 0.1\n---\nName: x\nlr2: parse lr * 2\n");
    assert!(e.contains("unknown variable `lr`"), "{e}");
    assert!(e.contains("experiment 0 `x`"), "{e}");
    assert!(e.contains("key `lr2`"), "{e}");
}

#[test]
fn bad_input_is_reported_with_place() {
    let cases: &[(&str, &[&str])] = &[
        (
            "Global: {}\n---\na: [1, 2\n",
            &["invalid YAML", "test.yaml:"],
        ),
        ("Global: {}\n---\n- 1\n", &["must be a mapping"]),
        ("Global: {}\n---\n42\n", &["must be a mapping"]),
        ("a: 1\n---\nb: 2\n", &["no `Global`"]),
        (
            "Global: {}\n---\nRepeat: 0\n",
            &["`Repeat` must be an integer", "key `Repeat`", ":3"],
        ),
        (
            "Global: {}\n---\nRepeat: two\n",
            &["`Repeat` must be an integer"],
        ),
        (
            "Global: {}\n---\nRepeat: 1.5\n",
            &["`Repeat` must be an integer"],
        ),
        ("Global: {}\n---\nRepeat: parse 2\n", &["cannot be `parse`"]),
        (
            "Global: {repeat: 0}\n---\na: 1\n",
            &["`Global.repeat` must be", "test.yaml:1"],
        ),
        (
            "Global: {repeat: -1}\n---\na: 1\n",
            &["`Global.repeat` must be"],
        ),
    ];
    check_errors(cases);
}

#[test]
fn bad_expressions_are_reported_with_place_and_quickly() {
    let cases: &[(&str, &[&str])] = &[
        (
            "Global: {}\n---\na: parse 1 +\n",
            &["syntax error", "key `a`", "parse 1 +"],
        ),
        (
            "Global: {}\n---\na: parse E[-1]\n",
            &["history `E` is empty"],
        ),
        (
            "Global: {}\n---\nName: x\n---\na: parse E[\"y\"]\n",
            &["no earlier experiment is named `y`"],
        ),
        (
            "Global: {}\n---\nName: x\n---\na: parse E[-5]\n",
            &["out of range"],
        ),
        ("Global: {}\n---\nm: {a: 1}\nb: parse m.zz\n", &["zz"]),
        (
            "Global: {}\n---\na: parse loop {}\n",
            &["more than", "operations"],
        ),
        (
            "Global: {}\n---\na: parse [].pad(1000000000, 0)\n",
            &["exceeds the sandbox limit"],
        ),
        (
            "Global: {}\n---\na: parse let s = \"xx\"; loop { s += s; }\n",
            &["exceeds the sandbox limit"],
        ),
        (
            "Global: {}\n---\na: parse fn f(x) { f(x + 1) } f(0)\n",
            &["failed to evaluate"],
        ),
        (
            "Global: {}\n---\na: parse import \"os\" as os; 1\n",
            &["failed to evaluate", "import"],
        ),
        ("Global: {}\n---\na: parse eval(\"1\")\n", &["eval"]),
        (
            "Global: {}\n---\na: parse open(\"/etc/passwd\")\n",
            &["open"],
        ),
        ("Global: {}\n---\na: parse E\n", &["cannot be stored"]),
        (
            "Global: {}\n---\nx: {y: 1}\na: parse x.y = 5\n",
            &["failed to evaluate"],
        ),
        (
            "Global: {}\n---\na: parse Name = 5; 1\n",
            &["failed to evaluate"],
        ),
    ];
    check_errors(cases);
}

/// Each text fails, within a second, with a message holding the needles.
fn check_errors(cases: &[(&str, &[&str])]) {
    for (text, needles) in cases {
        let started = Instant::now();
        let e = err(text);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "slow error for {text:?}"
        );
        for needle in *needles {
            assert!(
                e.contains(needle),
                "{text:?}\n  expected `{needle}` in: {e}"
            );
        }
    }
}

#[test]
fn error_in_default_key_points_at_default_config_line() {
    let e = err("Global: {}\nlr: parse missing * 2\n---\nName: x\n");
    assert!(e.contains("test.yaml:2"), "{e}");
    assert!(e.contains("document 0"), "{e}");
    assert!(e.contains("key `lr`"), "{e}");
}

#[test]
fn expressions_in_lists_and_nested_scopes() {
    let text = "Global: {}\n---\nk: 2\nl: [parse k * 2, {z: parse k + 1}]\nn:\n  k: 10\n  m: {v: parse k}\nafter: parse k\n";
    let exps = expand_text(text).unwrap();
    assert_eq!(exps[0]["l"][0], Value::from(4));
    assert_eq!(exps[0]["l"][1]["z"], Value::from(3));
    assert_eq!(exps[0]["n"]["m"]["v"], Value::from(10));
    assert_eq!(
        exps[0]["after"],
        Value::from(2),
        "the nested k is out of scope again"
    );
}

#[test]
fn queued_documents_see_history_as_it_is_then() {
    let sandbox = Sandbox::new();
    let defaults: Mapping = yaml_serde::from_str("lr: 0.1\n").unwrap();
    let mut expander = Expander::new(&sandbox, None, defaults, &options(1, "h"));
    let first: Mapping = yaml_serde::from_str("Name: a\nREP: 0\nv: 1\n").unwrap();
    expander
        .expand_queued(&QueueEntry::Expanded(first))
        .unwrap();
    let added: Mapping =
        yaml_serde::from_str("Name: b\nRepeat: 2\nv: parse E[-1].v + 1\n").unwrap();
    let out = expander.expand_queued(&QueueEntry::Raw(added)).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["v"], Value::from(2));
    assert_eq!(
        out[1]["v"],
        Value::from(3),
        "the second copy sees the first"
    );
    assert_eq!(out[0]["lr"], Value::from(0.1), "defaults are merged");
}

#[test]
fn queued_raw_documents_are_expanded_fully_even_with_runner_keys() {
    let sandbox = Sandbox::new();
    let defaults: Mapping = yaml_serde::from_str("lr: 0.1\n").unwrap();
    let mut expander = Expander::new(&sandbox, None, defaults, &options(1, "h"));
    // A person's document that writes `REP` is still a new document.
    let raw: Mapping = yaml_serde::from_str("Name: p\nREP: 5\nRepeat: 2\n").unwrap();
    let out = expander.expand_queued(&QueueEntry::Raw(raw)).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1]["REP"], Value::from(1));
    assert_eq!(out[0]["lr"], Value::from(0.1));
    assert_eq!(out[0]["HOST"], Value::from("h"));
    assert_eq!(out[0]["RND_IDX"], out[1]["RND_IDX"]);
    // An expanded one is only evaluated: no copies, no new runner keys.
    let done: Mapping =
        yaml_serde::from_str("Name: q\nREP: 5\nRepeat: 2\nv: parse REP + E.len\n").unwrap();
    let out = expander.expand_queued(&QueueEntry::Expanded(done)).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["v"], Value::from(7));
    assert!(!out[0].contains_key("HOST"));
    assert_eq!(out[0]["lr"], Value::from(0.1), "defaults are merged");
}
