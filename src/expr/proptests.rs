//! Property tests over both engines (expansion's and `filter`'s), format
//! specs included: no input panics, and every evaluation ends within a
//! bound. Bounded in time by the number of cases; failing seeds are kept in
//! `proptest-regressions/expr.txt` (committed).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use super::{BoundDocument, Sandbox, Scope};

/// One evaluation, refusals included, ends within this (debug build, busy
/// machine; the sandbox's own budget is 500 ms).
const BOUND: Duration = Duration::from_secs(3);

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/expr.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// A Python-style format spec: `[[fill]align][sign][#][0][width][,][.precision][type]`,
/// with widths and precisions from small to absurd.
fn spec() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        Just(String::new()),
        (0u64..20).prop_map(|n| n.to_string()),
        (990u64..1010).prop_map(|n| n.to_string()),
        (65_530u64..65_540).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9]{20,30}",
    ];
    (
        prop::option::of("[ *0x<>^=]?[<>^=]"),
        prop::option::of("[-+ ]"),
        prop::option::of("[#0,_]"),
        number.clone(),
        prop::option::of(number.prop_map(|n| format!(".{n}"))),
        "[fedsx%gGbEn]?",
    )
        .prop_map(|(align, sign, flag, width, precision, kind)| {
            [
                align.unwrap_or_default(),
                sign.unwrap_or_default(),
                flag.unwrap_or_default(),
                width,
                precision.unwrap_or_default(),
                kind,
            ]
            .concat()
        })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| format!("({i})")),
        any::<f64>().prop_map(|f| format!("({f:?})")),
        Just("\"text\"".to_owned()),
        Just("exp.ACC".to_owned()),
        Just("[1, 2]".to_owned()),
        Just("#{a: 1}".to_owned()),
        Just("()".to_owned()),
        Just("true".to_owned()),
    ]
}

/// Expressions: f-strings with random specs, refused functions, nesting,
/// loops and random text.
fn expression() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        (value(), spec()).prop_map(|(v, s)| format!("f\"{{{v}:{s}}}\"")),
        (value(), spec()).prop_map(|(v, s)| format!("fmt({v}, \"{s}\")")),
        value(),
        (0u32..300).prop_map(|n| format!("{{ let m = []; for i in 0..{n} {{ m = [m]; }} m }}")),
        (0u32..300)
            .prop_map(|n| format!("{{ let m = #{{}}; for i in 0..{n} {{ m = #{{a: m}}; }} m }}")),
        Just("sleep(1000)".to_owned()),
        Just("timestamp()".to_owned()),
        Just("Fn(\"sleep\").call(5)".to_owned()),
        Just("{ let a = []; loop { a.push(\"ab\"); } }".to_owned()),
        "[-+*/%()\\[\\]{}.,;:<>=!&|\"'`$#a-z0-9 ]{0,16}",
    ];
    prop::collection::vec(
        (
            atom,
            prop_oneof![
                Just(" == "),
                Just(" + "),
                Just(" != "),
                Just(", "),
                Just("")
            ],
        ),
        1..4,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .flat_map(|(atom, op)| [atom, op.to_owned()])
            .collect::<String>()
    })
}

fn assert_sane(src: &str, message: Option<&str>, took: Duration) {
    assert!(took < BOUND, "`{src}` took {took:?}");
    if let Some(message) = message {
        assert!(!message.contains("internal error"), "`{src}`: {message}");
    }
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn expansion_engine_never_panics_or_hangs(src in expression()) {
        let sandbox = Sandbox::new();
        let start = Instant::now();
        let message = match sandbox.compile(&src) {
            Ok(expr) => {
                let mut scope = Scope::new();
                scope.push_constant("exp", rhai::Dynamic::from_map(rhai::Map::new()));
                let result = sandbox.eval(&expr, &mut scope);
                let converted = result.as_ref().ok().map(super::dynamic_to_yaml);
                result.err().map(|e| e.message).or(converted.and_then(Result::err))
            }
            Err(err) => Some(err.message),
        };
        assert_sane(&src, message.as_deref(), start.elapsed());
    }

    #[test]
    fn filter_engine_never_panics_or_hangs(src in expression()) {
        let sandbox = Sandbox::new();
        let start = Instant::now();
        let message = match sandbox.compile_document_expr(&src) {
            Ok(expr) => {
                let doc: yaml_serde::Mapping = yaml_serde::from_str("ACC: 0.5\nName: a\n").unwrap();
                let mut bound = BoundDocument::from_mapping(&doc, &[]);
                let value = expr.eval_value(&sandbox, &mut bound).err();
                let mut bound = BoundDocument::from_mapping(&doc, &[]);
                let test = expr.eval_bool(&sandbox, &mut bound).err();
                value.or(test).map(|e| e.message)
            }
            Err(err) => Some(err.message),
        };
        assert_sane(&src, message.as_deref(), start.elapsed());
    }

    #[test]
    fn format_specs_never_panic(v in value(), s in spec()) {
        let sandbox = Sandbox::new();
        let src = format!("f\"{{{v}:{s}}}\"");
        let start = Instant::now();
        let expr = sandbox.compile(&src);
        let mut scope = Scope::new();
        scope.push_constant("exp", rhai::Dynamic::from_map(rhai::Map::new()));
        let message = match expr {
            Ok(expr) => sandbox.eval(&expr, &mut scope).err().map(|e| e.message),
            Err(err) => Some(err.message),
        };
        assert_sane(&src, message.as_deref(), start.elapsed());
    }
}
