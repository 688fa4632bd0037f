//! The fast writers against the slow path (`yaml_serde` value, then
//! `format::mapping_to_json` / `format::flatten` + `format::inline`) on
//! examples and generated documents.

use proptest::prelude::*;
use yaml_serde::{Mapping, Value};

use super::*;
use crate::filter::format::{flatten, inline, mapping_to_json};
use crate::yaml::fast::parse_mapping;

/// What the slow path writes for `map`: its JSON, its columns (unique, in
/// order), its table cells under those columns (the last value of a name
/// wins) and its CSV cells (the last one that is not null).
#[expect(clippy::type_complexity, reason = "a test's tuple")]
fn slow(map: &Mapping) -> (Vec<u8>, Vec<String>, Vec<(Kind, String)>, Vec<String>) {
    let json = serde_json::to_vec(&mapping_to_json(map)).unwrap();
    let mut names = Names::default();
    let flat = flatten(map);
    for (name, _) in &flat {
        names.entry(name.clone()).or_default();
    }
    let columns: Vec<String> = names.into_keys().collect();
    let mut cells = vec![(Kind::Missing, String::new()); columns.len()];
    let mut csv = vec![String::new(); columns.len()];
    for (name, value) in flat {
        let i = columns.iter().position(|c| *c == name).unwrap();
        if !value.is_null() {
            csv[i] = inline(&value);
        }
        let kind = match value {
            Value::Null => Kind::Null,
            Value::Number(_) => Kind::Number,
            _ => Kind::Other,
        };
        cells[i] = (kind, inline(&value));
    }
    (json, columns, cells, csv)
}

/// The fast writers on `text` agree with the slow path; `false` when the
/// fast reader leaves the text to `yaml_serde` (the writers never see it).
fn agree(text: &str) -> bool {
    let Some(map) = parse_mapping(text) else {
        return false;
    };
    let (json, columns, cells, csv) = slow(&map);
    let mut out = b"x".to_vec();
    assert!(super::json(text, &mut out), "{text}");
    assert_eq!(
        String::from_utf8_lossy(&out[1..]),
        String::from_utf8_lossy(&json),
        "{text}"
    );
    let mut names = Names::default();
    super::columns(text, &mut names);
    let scanned: Vec<&String> = names.keys().collect();
    assert_eq!(scanned, columns.iter().collect::<Vec<_>>(), "{text}");
    // A column the document does not have stays missing.
    let mut with_extra = columns.clone();
    with_extra.push("not.there".to_owned());
    let mut row = Row::new(&with_extra, false);
    assert!(row.fill(text), "{text}");
    for (i, (kind, cell)) in cells.iter().enumerate() {
        assert_eq!(row.kinds[i], *kind, "{text}: {}", columns[i]);
        assert_eq!(row.texts[i], *cell, "{text}: {}", columns[i]);
        assert_eq!(row.cell(i).is_some(), *kind != Kind::Missing);
        assert_eq!(row.cell(i).is_some_and(|(_, n)| n), *kind == Kind::Number);
    }
    assert_eq!(row.kinds[columns.len()], Kind::Missing);
    let mut row = Row::new(&with_extra, true);
    assert!(row.fill(text), "{text}");
    for (i, cell) in csv.iter().enumerate() {
        let written = match row.kinds[i] {
            Kind::Missing | Kind::Null => "",
            _ => row.texts[i].as_str(),
        };
        assert_eq!(written, cell, "{text}: {}", columns[i]);
    }
    true
}

#[test]
fn log_documents() {
    for text in [
        "---\nName: exp000\nRepeat: 4\nlr: 0.1\nsparsity: 0.0\nwd: 0.0001\nmodel_args:\n  depth: 20\n  \
         l2: 1.0e-4\noptimizer:\n  name: sgd\n  nesterov: true\nschedule:\n- 30\n- 60\nHOST: node-1\n\
         ACC: 0.9123\nneg: -3\nbig: 12345678901234\nexp: 1e-3\nexp2: 2E+5\nn: null\nt: ~\nF: False\n",
        "a: 'single # not a comment'\nb: \"double\" # comment\nc: plain text # comment\n\
         d: [1, 2.5, x, true, null]\ne: {x: 1, y: text}\nf: []\ng: {}\nh:\ni: yes\nj: on\n",
        "nested:\n  deeper:\n    x: 1\n  list:\n    - a\n    - b\n  after: 2\n  empty:\ntop: 3\n",
        "a:\n  b:\n    c:\n    - [1, 2]\n    - [x]\n  d: {}\nf: 'back slash \"x\"'\n",
        "a.b: 1\na:\n  b:\nc: {d: x}\nc.d: null\n",
        "# a comment\nk: 'a, \"b\"'\nl: 学習率\nm: \"tab-less\" # c\n\nn: {a: 1} # c\n",
    ] {
        assert!(agree(text), "not in the subset: {text}");
    }
}

/// Log-like values with nesting: scalars that look like other things,
/// lists, and mappings of them two levels deep.
fn value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12..1e12_f64).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9 ,._/:#'\"\\\\-]{0,12}".prop_map(Value::from),
        "[a-zé学 ]{0,6}".prop_map(Value::from),
        prop::sample::select(vec![
            "yes", "~", "null", "1e3", "- a", "a: b", "{y}", "", "'q'"
        ])
        .prop_map(Value::from),
    ];
    let key = "[a-zA-Z_][a-zA-Z0-9_.]{0,6}";
    scalar.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec((key, inner), 0..4).prop_map(|kv| Value::Mapping(
                kv.into_iter().map(|(k, v)| (Value::from(k), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Documents as the runner's log writer and as `yaml_serde` (a
    /// module's `yaml.dump`) write them: whatever the fast reader takes,
    /// the fast writers write as the slow path does.
    #[test]
    fn fast_writers_agree_with_the_values(
        entries in prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", value()), 1..10)
    ) {
        let doc: Mapping = entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect();
        let ours = String::from_utf8(crate::yaml::write::document_bytes(&doc).unwrap()).unwrap();
        agree(&ours);
        agree(&yaml_serde::to_string(&doc).unwrap());
    }

    /// Nested log documents of words and numbers are in the subset, so
    /// the property above is not vacuous.
    #[test]
    fn nested_plain_documents_take_the_fast_path(
        entries in prop::collection::vec(("K_[a-z0-9_]{0,6}", prop_oneof![
            any::<i32>().prop_map(Value::from),
            "v[a-z0-9_/.]{3,10}".prop_map(Value::from),
            prop::collection::vec(("k[a-z]{0,4}", any::<i16>()), 1..4).prop_map(|kv| {
                Value::Mapping(kv.into_iter().map(|(k, v)| (Value::from(k), Value::from(v))).collect())
            }),
            prop::collection::vec(any::<i16>().prop_map(Value::from), 0..4).prop_map(Value::Sequence),
        ]), 1..10)
    ) {
        let doc: Mapping = entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect();
        let ours = String::from_utf8(crate::yaml::write::document_bytes(&doc).unwrap()).unwrap();
        prop_assert!(agree(&ours), "not in the subset: {}", ours);
    }
}

#[test]
fn floats_written_as_ryu_writes_them_are_kept_as_written() {
    for text in [
        "0.6126",
        "2353.963",
        "0.0",
        "-0.0",
        "30.0",
        "-1.5",
        "0.00001",
        "0.1",
        "123456789012345.0",
        "1234567890123456.0",
        "0.000123456789012345",
    ] {
        let f: f64 = text.parse().unwrap();
        let shortest = super::is_shortest(text);
        assert!(
            !shortest || ryu::Buffer::new().format_finite(f) == text,
            "{text}"
        );
    }
    for (text, kept) in [
        ("0.6126", true),
        ("0.0", true),
        ("30.0", true),
        ("0.00001", true),
        ("0.10", false),
        ("0.000001", false),
        ("1e-3", false),
        ("1.5e3", false),
        ("0.1234567890123456", false),
        ("12345678901234567.5", false),
    ] {
        assert_eq!(super::is_shortest(text), kept, "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Whenever a float's text is kept as written, `ryu` writes the same
    /// text for the float read from it.
    #[test]
    fn kept_float_texts_are_what_ryu_writes(
        minus in any::<bool>(),
        int in prop_oneof!["0", "[1-9][0-9]{0,17}"],
        fraction in "[0-9]{1,18}",
        exponent in prop::option::of("[eE][-+]?[0-9]{1,3}"),
    ) {
        let text = format!(
            "{}{int}.{fraction}{}",
            if minus { "-" } else { "" },
            exponent.unwrap_or_default()
        );
        let f: f64 = text.parse().unwrap();
        if f.is_finite() && super::is_shortest(&text) {
            let mut buffer = ryu::Buffer::new();
            prop_assert_eq!(buffer.format_finite(f), text);
        }
    }

    /// And most floats as `ryu` writes them are kept (the shortcut is
    /// taken).
    #[test]
    fn ryu_texts_of_few_digits_are_kept(digits in 1_u64..1_000_000, scale in 0_i32..8) {
        let f = digits as f64 / 10_f64.powi(scale);
        let text = ryu::Buffer::new().format_finite(f).to_owned();
        if f >= 0.0001 {
            prop_assert!(super::is_shortest(&text), "{}", text);
        }
    }
}
