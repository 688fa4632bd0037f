//! The fast reader against `yaml_serde`: examples, what it leaves to
//! `yaml_serde`, and property tests that run in every build.

use proptest::prelude::*;

use super::*;

fn slow(text: &str) -> Value {
    yaml_serde::from_str(text).unwrap()
}

#[track_caller]
fn same(text: &str) {
    let fast = parse_mapping(text).unwrap_or_else(|| panic!("not in the subset: {text}"));
    assert_eq!(Value::Mapping(fast), slow(text), "{text}");
    assert!(is_plain_mapping(text));
    let keys = ["a".to_owned(), "nested".to_owned()];
    let Value::Mapping(mut slow) = slow(text) else {
        panic!()
    };
    slow.retain(|k, _| k.as_str().is_some_and(|k| keys.iter().any(|x| x == k)));
    assert_eq!(parse_mapping_keys(text, &keys), Some(slow), "{text}");
}

#[test]
fn agrees_with_yaml_serde() {
    same("---\nName: exp000\nRepeat: 4\nYamlLog: data/exp000/id1/rep0.yaml\nModule: /bin/true\n\
          Desc: benchmark logs\nlr: 0.1\nsparsity: 0.0\nwd: 0.0001\nmodel_args:\n  depth: 20\n  \
          l2: 1.0e-4\noptimizer:\n  name: sgd\n  nesterov: true\nschedule:\n- 30\n- 60\nHOST: node-1\n\
          ACC: 0.9123\nneg: -3\nbig: 12345678901234\nexp: 1e-3\nexp2: 2E+5\nn: null\nt: ~\nF: False\n");
    same(
        "a: 'single # not a comment'\nb: \"double\" # comment\nc: plain text # comment\n\
          d: [1, 2.5, x, true, null]\ne: {x: 1, y: text}\nf: []\ng: {}\nh:\ni: yes\nj: on\n",
    );
    same("nested:\n  deeper:\n    x: 1\n  list:\n    - a\n    - b\n  after: 2\ntop: 3\n");
    same("url: http://example.com/x\npath: a/b-c_d.e\nk.with.dots: 1\nempty_list:\n- -1\n- text with spaces\n");
}

#[test]
fn leaves_the_rest_to_yaml_serde() {
    for text in [
        "a: &x 1\nb: *x\n",
        "a: !tag 1\n",
        "a: |\n  block\n",
        "a: 042\n",
        "a: 0x1F\n",
        "a: .inf\n",
        "a: +1\n",
        "a: 1.\n",
        "a: b: c\n",
        "a: 1\na: 2\n",
        "1: x\n",
        "true: x\n",
        "\"q\": x\n",
        "a:\n- x: 1\n",
        "a: multi\n  line\n",
        "a:\tb\n",
        "- 1\n- 2\n",
        "a: \"esc\\n\"\n",
        "a: 'it''s'\n",
        "a: [1, [2]]\n",
        "a: {b: {c: 1}}\n",
        "<<: {a: 1}\n",
        "a: 99999999999999999999\n",
        "a: inf\n",
        "  a: 1\n b: 2\n",
        "a:\n    b: 1\n  c: 2\n",
        "--- {a: 1}\n",
    ] {
        assert!(parse_mapping(text).is_none(), "{text:?}");
        assert!(!is_plain_mapping(text), "{text:?}");
    }
}

/// Flat log-like values: scalars of every kind, with strings that look
/// like other things, one level of nesting, lists of scalars.
fn log_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12..1e12_f64).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9 ._/:#'\"\\-]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "yes",
            "No",
            "~",
            "null",
            "1e3",
            "0x1F",
            "042",
            ".inf",
            "-",
            "- a",
            "a: b",
            "a #b",
            "[x]",
            "{y}",
            "'q'",
            "true",
            "2024-01-02",
            "1_000",
            "+1",
            "",
        ])
        .prop_map(Value::from),
    ];
    prop_oneof![
        4 => scalar.clone(),
        1 => prop::collection::vec(scalar.clone(), 0..4).prop_map(Value::Sequence),
        1 => prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,6}", scalar), 0..4).prop_map(
            |kv| Value::Mapping(kv.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
        ),
    ]
}

fn check(text: &str) {
    let fast = parse_mapping(text);
    if fast.is_some() {
        // Declining (`None`) is always allowed.
        assert_agrees(text, fast.as_ref());
    }
    assert_eq!(is_plain_mapping(text), fast.is_some(), "{text}");
    let keys = ["STATUS".to_owned(), "lr".to_owned()];
    let mut only = fast.clone();
    if let Some(map) = &mut only {
        map.retain(|k, _| k.as_str().is_some_and(|k| keys.iter().any(|x| x == k)));
    }
    assert_eq!(parse_mapping_keys(text, &keys), only, "{text}");
}

proptest! {
    /// The debug-only cross-check, in every build: log documents as
    /// the runner writes them and as `yaml_serde` (a module) writes
    /// them read the same with both readers.
    #[test]
    fn fast_reader_agrees_on_log_documents(
        entries in prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", log_value()), 0..10)
    ) {
        let doc: Mapping = entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect();
        let ours = String::from_utf8(crate::yaml::write::document_bytes(&doc).unwrap()).unwrap();
        check(&ours);
        check(&yaml_serde::to_string(&doc).unwrap());
        // `stream.rs` reads pieces of a log with the fast reader first.
        let pieces = crate::yaml::stream::split(&ours);
        let piece = pieces.iter().find(|p| !p.is_blank()).unwrap();
        let read = crate::yaml::stream::parse_piece(piece).ok().flatten();
        prop_assert_eq!(read, yaml_serde::from_str::<Value>(&ours).ok());
    }

    /// Documents of words and numbers are in the subset: the fast path
    /// is taken, so the property above is not vacuous.
    #[test]
    fn plain_log_documents_take_the_fast_path(
        entries in prop::collection::vec(
            // `K_` first: never a YAML keyword such as `ON` (written quoted).
            ("K_[a-zA-Z0-9_]{0,8}", prop_oneof![
                any::<i32>().prop_map(Value::from),
                "v[a-z0-9_/.]{3,10}".prop_map(Value::from),
            ]),
            1..10,
        )
    ) {
        let doc: Mapping = entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect();
        let ours = String::from_utf8(crate::yaml::write::document_bytes(&doc).unwrap()).unwrap();
        prop_assert_eq!(parse_mapping(&ours), Some(doc));
    }
}

/// What libyaml refuses, the fast reader must not accept either.
#[test]
fn refuses_what_yaml_serde_refuses() {
    let long_key = format!("{}: 1\n", "k".repeat(1100));
    for text in [
        "a: x\0y\n",
        "a: \u{1}\n",
        "a: x\u{7f}\n",
        "a: \u{9f}\n",
        "a: [1, \0]\n",
        long_key.as_str(),
    ] {
        assert!(yaml_serde::from_str::<Value>(text).is_err(), "{text:?}");
        assert!(parse_mapping(text).is_none(), "{text:?}");
        assert!(!is_plain_mapping(text), "{text:?}");
    }
    let mut deep = String::new();
    for i in 0..200 {
        deep.push_str(&" ".repeat(i));
        deep.push_str("a:\n");
    }
    assert!(parse_mapping(&deep).is_none());
}

/// Keys around libyaml's 1,024-character limit and any character at all
/// in values: raw texts, not documents the writer made.
fn hostile_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        "[a-z][a-z0-9_]{0,6}",
        (1000..1100_usize).prop_map(|n| "k".repeat(n)),
    ];
    let value = prop_oneof![
        "[a-z0-9 ._]{0,8}",
        any::<char>().prop_map(|c| format!("x{c}y")),
        prop::sample::select(vec![
            "\0", "\u{1b}", "\u{7f}", "\u{85}", "\u{2028}", "\u{feff}", "\u{fffe}"
        ])
        .prop_map(|c| format!("v{c}")),
    ];
    (key, value).prop_map(|(k, v)| format!("{k}: {v}\n"))
}

proptest! {
    /// The differential property on hostile texts: whatever the fast
    /// reader accepts, `yaml_serde` reads the same.
    #[test]
    fn fast_reader_agrees_on_hostile_texts(lines in prop::collection::vec(hostile_line(), 1..6)) {
        check(&lines.concat());
    }
}
