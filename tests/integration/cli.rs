//! The command-line surface: help texts are snapshots, so that a change to
//! them shows up in review.

use crate::test::Test;

fn help(args: &[&str]) -> String {
    // A fixed width, whatever the terminal running the tests.
    let ran = Test::new().args(args).env("COLUMNS", "100").run().status(0);
    ran.stdout()
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!(help(&["--help"]));
}

#[test]
fn run_help() {
    insta::assert_snapshot!(help(&["run", "--help"]));
}

#[test]
fn unknown_subcommand_is_bad_input() {
    let ran = Test::new().args(&["frobnicate"]).run().status(2);
    assert!(ran.stderr().contains("frobnicate"), "{}", ran.stderr());
}

#[test]
fn shell_completions_for_bash_zsh_and_fish() {
    for (shell, check) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let script = Test::new()
            .args(&["completions", shell])
            .run()
            .status(0)
            .stdout();
        for word in ["run", "filter", "dry", "gpus", "color", "completions"] {
            assert!(script.contains(word), "{shell}: `{word}` missing");
        }
        // The script parses in its shell, where that shell is installed.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("completion");
        std::fs::write(&file, &script).unwrap();
        let flag = if check == "fish" {
            "--no-execute"
        } else {
            "-n"
        };
        if let Ok(status) = std::process::Command::new(check)
            .arg(flag)
            .arg(&file)
            .status()
        {
            assert!(status.success(), "{shell}: the script does not parse");
        }
    }
    Test::new().args(&["completions", "tcsh"]).run().status(2);
}

#[test]
fn man_pages() {
    let page = Test::new().args(&["man"]).run().status(0).stdout();
    assert!(page.contains(".TH cool-runner 1"), "{page}");
    assert!(page.contains("completions") && page.contains("explain"));
    let ran = Test::new().args(&["man", "--dir", "man1"]).run().status(0);
    let run_page = std::fs::read_to_string(ran.dir.join("man1/cool-runner-run.1")).unwrap();
    assert!(run_page.contains("\\-\\-gpus"), "{run_page}");
}
