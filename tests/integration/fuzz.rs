//! Property tests. No experiment file, however broken, makes expansion
//! panic or hang (inputs mix valid structure with random expressions and
//! text), through `expand_text`, the path the binary runs.

use std::path::Path;

use cool_runner::config::{expand_text, ExpandOptions};
use cool_runner::expr::Sandbox;
use proptest::prelude::*;

fn expression() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("E[-1]".to_owned()),
        Just("E[0].a".to_owned()),
        Just("E[\"x\"]".to_owned()),
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
    (expression(), expression(), 0..4u8, any::<bool>()).prop_map(|(e1, e2, repeat, named)| {
        let name = if named { "Name: x\n" } else { "" };
        format!(
            "{name}Repeat: {repeat}\na: 1\nn: {{b: 2}}\nl: [1, 2, 3]\nv: 'parse {}'\nw: 'parse {}'\n",
            e1.replace('\'', "''"),
            e2.replace('\'', "''")
        )
    })
}

fn expand(text: &str) {
    let sandbox = Sandbox::new();
    let options = ExpandOptions {
        seed: Some(1),
        host: "h".into(),
    };
    let _ = expand_text(
        &sandbox,
        Path::new("fuzz.yaml"),
        text.to_owned(),
        &[],
        &options,
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn structured_files_never_panic(docs in prop::collection::vec(document(), 1..4)) {
        let text = format!("Global: {{repeat: 2}}\ndef: parse a\n---\n{}", docs.join("---\n"));
        expand(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[-:{}\\[\\],#&*!|>'\"%@` \\na-zA-Z0-9.]{0,200}") {
        expand(&format!("Global: {{}}\n---\n{text}"));
        expand(&text);
    }
}
