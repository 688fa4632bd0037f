//! Property tests. No experiment file, however broken, makes expansion
//! panic or hang (inputs mix valid structure with random expressions and
//! text), through `expand_text`, the path the binary runs.

use std::fmt::Write as _;
use std::path::Path;

use cool_runner::config::{expand_text, ConfigError, ExpandOptions, Expansion};
use cool_runner::expr::{BoundDocument, Sandbox};
use proptest::prelude::*;
use yaml_serde::{Mapping, Value};

fn expression() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("E[-1]".to_owned()),
        Just("E[0].a".to_owned()),
        Just("E[\"x\"]".to_owned()),
        Just("E[-1].ACC".to_owned()),
        Just("E[\"x\"].CKPT".to_owned()),
        Just("E[-1].w".to_owned()),
        Just("a".to_owned()),
        Just("n.b".to_owned()),
        Just("l[2]".to_owned()),
        Just("f\"{a}-{n.b:.2f}\"".to_owned()),
        Just("`${a}`".to_owned()),
        Just("#{k: 1}".to_owned()),
        Just("[1, 2.5, \"s\"]".to_owned()),
        Just("loop {}".to_owned()),
        Just("a = 5".to_owned()),
        Just("n.b = 5".to_owned()),
        "[-+*/%()\\[\\]{}.,;:<>=!&|\"'`$#a-z0-9 ]{0,12}",
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
    ];
    prop::collection::vec(
        (
            atom,
            prop_oneof![
                Just(" + "),
                Just(" * "),
                Just(" / "),
                Just("."),
                Just(" && "),
                Just("")
            ],
        ),
        1..4,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .fold(String::new(), |mut out, (atom, op)| {
                out.push_str(&atom);
                out.push_str(op);
                out
            })
    })
}

fn document() -> impl Strategy<Value = String> {
    (expression(), expression(), 0..4u8, any::<bool>(), 0..4u8).prop_map(
        |(e1, e2, repeat, named, after)| {
            let name = if named { "Name: x\n" } else { "" };
            let after = match after {
                0 => "After: [x]\n",
                1 => "After: nope\n",
                _ => "",
            };
            format!(
                "{name}{after}Repeat: {repeat}\na: 1\nn: {{b: 2}}\nl: [1, 2, 3]\nv: 'parse {}'\nw: 'parse {}'\n",
                e1.replace('\'', "''"),
                e2.replace('\'', "''")
            )
        },
    )
}

/// Pipelines: what an experiment waits for is earlier in `E`, and marked.
fn check_waits(text: &str) {
    let Ok(expansion) = expand(text) else {
        return;
    };
    let marked: Vec<(u64, u64)> = expansion
        .experiments
        .iter()
        .filter_map(|e| Some((e.get("GLOBAL_REP")?.as_u64()?, e.get("E_INDEX")?.as_u64()?)))
        .collect();
    for experiment in &expansion.experiments {
        let Some(Value::Mapping(waits)) = experiment.get("WAITS_FOR") else {
            continue;
        };
        let rep = experiment["GLOBAL_REP"].as_u64().unwrap();
        let at = experiment["E_INDEX"].as_u64().unwrap();
        for parent in waits.keys() {
            let parent = parent.as_u64().unwrap();
            assert!(parent < at, "{parent} is not before {at}:\n{text}");
            assert!(
                marked.contains(&(rep, parent)),
                "{parent} has no E_INDEX:\n{text}"
            );
        }
    }
}

fn expand(text: &str) -> Result<Expansion, ConfigError> {
    let sandbox = Sandbox::new();
    let options = ExpandOptions {
        seed: Some(1),
        host: "h".into(),
        limit: None,
        placeholders: false,
    };
    expand_text(
        &sandbox,
        Path::new("fuzz.yaml"),
        text.to_owned(),
        &[],
        &options,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn structured_files_never_panic(docs in prop::collection::vec(document(), 1..4)) {
        let text = format!("Global: {{repeat: 2}}\ndef: parse a\n---\n{}", docs.join("---\n"));
        let _ = expand(&text);
    }

    #[test]
    fn pipelines_wait_only_for_earlier_marked_experiments(
        docs in prop::collection::vec(document(), 1..5)
    ) {
        let text = format!("Global: {{repeat: 2}}\n---\n{}", docs.join("---\n"));
        check_waits(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[-:{}\\[\\],#&*!|>'\"%@` \\na-zA-Z0-9.]{0,200}") {
        let _ = expand(&format!("Global: {{}}\n---\n{text}"));
        let _ = expand(&text);
    }
}

/// A number as a YAML file may hold one, including the awkward ones.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        (-1000..1000_i32).prop_map(|i| i.to_string()),
        "-?[0-9]{1,3}\\.[0-9]{1,40}",
        Just("0.1".to_owned()),
        Just("-0.0".to_owned()),
        Just(".nan".to_owned()),
        Just("-.inf".to_owned()),
        Just("1e308".to_owned()),
        Just("x".to_owned()),
    ]
}

/// An axis of a `Sweep` block: lists, generators with any arguments, and
/// things that are neither.
fn axis() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\[[-0-9a-z., ]{0,12}\\]",
        (number(), number(), number()).prop_map(|(a, b, c)| format!("{{range: [{a}, {b}, {c}]}}")),
        (number(), number()).prop_map(|(a, b)| format!("{{range: [{a}, {b}]}}")),
        (number(), number(), number())
            .prop_map(|(a, b, n)| format!("{{linspace: [{a}, {b}, {n}]}}")),
        (number(), number(), 0..40_u8)
            .prop_map(|(a, b, n)| format!("{{geomspace: [{a}, {b}, {n}]}}")),
        (number(), number()).prop_map(|(a, b)| format!("{{uniform: [{a}, {b}]}}")),
        (number(), number()).prop_map(|(a, b)| format!("{{randint: [{a}, {b}]}}")),
        Just("{range: []}".to_owned()),
        Just("3".to_owned()),
        Just("{nope: [1]}".to_owned()),
        Just("['parse 1']".to_owned()),
    ]
}

/// A document with a `Sweep` of random blocks and keys (some dotted, some
/// clashing with the document's own keys or the defaults).
fn sweep_document() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("a"),
        Just("lr"),
        Just("n.b"),
        Just("n.b.c"),
        Just("l.x"),
        Just("Repeat"),
        Just("a..b")
    ];
    let block = prop_oneof![Just("grid"), Just("zip"), Just("random"), Just("gird")];
    let entry = (
        block,
        prop::collection::vec((key, axis()), 0..3),
        0..30_u16,
        any::<bool>(),
    );
    (prop::collection::vec(entry, 0..3), 0..3_u8, any::<bool>()).prop_map(
        |(blocks, repeat, own_lr)| {
            let mut out = String::from("Sweep:\n");
            for (block, axes, n, seeded) in blocks {
                let axes: Vec<String> = axes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                let axes = format!("{{{}}}", axes.join(", "));
                if block == "random" {
                    let seed = if seeded { ", seed: 3" } else { "" };
                    let _ = writeln!(out, "  random: {{n: {n}{seed}, space: {axes}}}");
                } else {
                    let _ = writeln!(out, "  {block}: {axes}");
                }
            }
            let lr = if own_lr { "lr: 1\n" } else { "" };
            format!("{out}Repeat: {repeat}\n{lr}v: 'parse a + SWEEP_IDX'\n")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Sweeps with any blocks, axes and generator arguments: never a panic
    /// or a hang (the limit refuses large ones before any point is made).
    #[test]
    fn sweeps_never_panic(docs in prop::collection::vec(sweep_document(), 1..3)) {
        let text = format!(
            "Global: {{repeat: 2, max_experiments: 2000}}\na: 1\nn: {{b: 2}}\nl: 3\n---\n{}",
            docs.join("---\n")
        );
        let _ = expand(&text);
    }
}

/// One line of a flat log document: a key and a scalar written in one of
/// the forms logs use (and some they do not).
fn log_line() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        (-1e9..1e9_f64).prop_map(|f| f.to_string()),
        Just("1.0e-4".to_owned()),
        Just("null".to_owned()),
        Just("~".to_owned()),
        Just("true".to_owned()),
        Just("False".to_owned()),
        "[a-zA-Z0-9 ._/:#'\"\\[\\]{},-]{0,12}",
        "'[a-z #:]{0,6}'",
        "\\[[0-9a-z, ]{0,8}\\]",
        "\\{[a-z]: [0-9a-z]{1,3}\\}",
    ];
    ("[a-zA-Z_][a-zA-Z0-9_]{0,6}", scalar).prop_map(|(key, value)| format!("{key}: {value}\n"))
}

/// Bind `text` the fast way (straight from the text) and the slow way
/// (`yaml_serde`, then converted), and read `exp` back from both.
fn bound_both_ways(text: &str, only: Option<&[String]>) -> Option<(Value, Value)> {
    let sandbox = Sandbox::new();
    let expr = sandbox.compile_document_expr("exp").unwrap();
    let mut fast = BoundDocument::from_plain_yaml(text, only, &[])?;
    let mut slow: Mapping = yaml_serde::from_str(text).expect("the fast reader accepted it");
    if let Some(only) = only {
        slow.retain(|k, _| k.as_str().is_some_and(|k| only.iter().any(|o| o == k)));
    }
    let mut slow = BoundDocument::from_mapping(&slow, &[]);
    Some((
        expr.eval_value(&sandbox, &mut fast).unwrap(),
        expr.eval_value(&sandbox, &mut slow).unwrap(),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// The debug-only cross-check of `expr::convert` (documents bound for
    /// `filter` straight from their text), in every build: what the fast
    /// reader binds is what `yaml_serde` reads.
    #[test]
    fn documents_bound_from_text_agree_with_yaml_serde(
        lines in prop::collection::vec(log_line(), 1..8),
        nested in any::<bool>(),
    ) {
        let mut text = lines.concat();
        if nested {
            text.push_str("nested:\n  lr: 0.1\n  list:\n  - a\n  - 2\n");
        }
        let only = ["lr".to_owned(), "nested".to_owned()];
        for only in [None, Some(&only[..])] {
            if let Some((fast, slow)) = bound_both_ways(&text, only) {
                prop_assert_eq!(fast, slow, "{}", text);
            }
        }
    }
}

#[test]
fn plain_documents_are_bound_from_their_text() {
    let (fast, slow) = bound_both_ways("a: 1\nb: x\nc: [1, 2]\n", None).expect("in the subset");
    assert_eq!(fast, slow);
}
