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
