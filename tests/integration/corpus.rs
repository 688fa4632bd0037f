//! The hostile-input corpus (`tests/corpus/`, committed) replayed through
//! every command that reads YAML — `run --dry` (the experiment file),
//! `filter` (logs, as YAML, JSON lines, CSV and a table), `collect`, and
//! `run` on a queue file left by an earlier run — plus generated texts. No
//! input may end a command by a signal (a stack overflow, an abort, a
//! timeout) or with exit 101 (a panic), and each answers within its
//! timeout.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::hostile::run_in;
use crate::test::{repo, Test};

/// Every command on `file` (copied into `dir`); panics naming the input
/// and the command on a signal, a 101 or a timeout.
fn replay(dir: &Path, name: &str, text: &[u8]) {
    std::fs::write(dir.join(name), text).unwrap();
    std::fs::write(
        dir.join("queued.yaml"),
        "Global: {repeat: 1, queue: q.yaml}\nModule: \"true\"\n---\nName: a\n",
    )
    .unwrap();
    std::fs::write(dir.join("q.yaml"), text).unwrap();
    let commands: [&[&str]; 7] = [
        &["run", "--exp", name, "--dry", "--no-store"],
        &["filter", name],
        // Whole documents in these formats are parsed once, by their own
        // path (`filter::one_pass`).
        &["filter", name, "--format", "jsonl"],
        &["filter", name, "--format", "csv"],
        &["filter", name, "--format", "table"],
        &["collect", name, "--dest", "out"],
        &["run", "--exp", "queued.yaml", "--no-store"],
    ];
    for args in commands {
        let output = run_in(dir, args, 30);
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            None => panic!(
                "{name}: {args:?} ended by a signal: {:?}\n{stderr}",
                output.status
            ),
            Some(101) => panic!("{name}: {args:?} panicked:\n{stderr}"),
            Some(_) => {}
        }
    }
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn the_corpus_makes_no_command_crash_or_hang() {
    let files = corpus();
    assert!(files.len() >= 30, "the corpus is committed");
    for file in files {
        let test = Test::new();
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        replay(test.path(), &name, &std::fs::read(&file).unwrap());
    }
}

/// Pieces of YAML, valid and not, that generated texts are made of.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "---\n",
            "...\n",
            "Name: a\n",
            "Module: echo\n",
            "Global: {repeat: 2}\n",
            "a:\n",
            "  b: 1\n",
            "- x\n",
            "- - y\n",
            "[",
            "]",
            "{",
            "}",
            "{a: ",
            ", ",
            ": ",
            "\"",
            "'",
            "&x ",
            "*x ",
            "<<: *x\n",
            "!!str ",
            "|\n",
            ">-\n",
            "? ",
            "# c\n",
            "\t",
            "\r\n",
            "\u{feff}",
            "\0",
            "\u{85}",
            "%YAML 1.2\n",
            "Repeat: 3\n",
            "v: parse 1 + 1\n",
        ])
        .prop_map(str::to_owned),
        "[ a-z0-9:]{0,8}\n?",
        (0..120_usize).prop_map(|n| format!("{}z:\n", " ".repeat(n))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Each case runs the binary four times: a bounded campaign.
        cases: 24,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_yaml_makes_no_command_crash_or_hang(
        pieces in prop::collection::vec(fragment(), 0..40)
    ) {
        let test = Test::new();
        replay(test.path(), "gen.yaml", pieces.concat().as_bytes());
    }
}
