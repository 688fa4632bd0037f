//! Hostile input through every command: nesting that overflowed the stack
//! or took minutes, huge documents, byte-order marks, files that are not
//! files. Each command must answer in time, with a status, never a signal.

use std::path::Path;
use std::time::Duration;

use crate::test::{bin, Test};

/// Run the binary in `dir`; a hang fails the test instead of hanging it.
pub(crate) fn run_in(dir: &Path, args: &[&str], secs: u64) -> std::process::Output {
    assert_cmd::Command::new(bin())
        .current_dir(dir)
        .args(args)
        .timeout(Duration::from_secs(secs))
        .output()
        .expect("run cool-runner")
}

/// The exit status; panics on a signal (a timeout kills with one).
#[track_caller]
pub(crate) fn code(output: &std::process::Output) -> i32 {
    output.status.code().unwrap_or_else(|| {
        panic!(
            "ended by a signal ({:?}); stderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn block_nested(levels: usize) -> String {
    let mut text = String::from("Global: {repeat: 1}\n---\n");
    for i in 0..levels {
        text.push_str(&" ".repeat(i));
        text.push_str("a:\n");
    }
    text
}

/// Every command that reads `name` refuses it: `run --dry` and `filter`
/// exit 2, `collect` skips it (exit 0) naming the limit.
#[track_caller]
fn refused_by_every_command(test: &Test, name: &str, secs: u64) {
    let dir = test.path();
    for (args, want) in [
        (vec!["run", "--exp", name, "--dry", "--no-store"], 2),
        (vec!["filter", name], 2),
        (vec!["collect", name, "--dest", "out"], 0),
    ] {
        let output = run_in(dir, &args, secs);
        assert_eq!(code(&output), want, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("nested deeper than 100 levels"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn a_block_mapping_nested_9000_levels_is_refused_not_a_crash() {
    let test = Test::new().write("deep.yaml", &block_nested(9000));
    refused_by_every_command(&test, "deep.yaml", 60);
}

#[test]
fn deep_flow_collections_are_refused_in_seconds() {
    let test = Test::new()
        .write(
            "brackets.yaml",
            &format!("Global: {{repeat: 1}}\n---\na: {}\n", "[".repeat(100_000)),
        )
        .write(
            "braces.yaml",
            &format!(
                "Global: {{repeat: 1}}\n---\na: {}\n",
                "{a: ".repeat(100_000)
            ),
        );
    refused_by_every_command(&test, "brackets.yaml", 10);
    refused_by_every_command(&test, "braces.yaml", 10);
}

#[test]
fn a_document_of_300k_keys_is_collected_in_seconds() {
    use std::fmt::Write;
    let mut wide = String::from("---\n");
    for i in 0..300_000 {
        let _ = writeln!(wide, "k{i}: {i}");
    }
    let test = Test::new().write("wide.yaml", &wide);
    let output = run_in(test.path(), &["collect", "wide.yaml", "--dest", "out"], 30);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stderr(&output).contains("collected 1 document"));
}

#[test]
fn a_byte_order_mark_starts_an_experiment_file() {
    let test = Test::new().write(
        "bom.yaml",
        "\u{feff}Global: {repeat: 1}\n---\nName: a\nModule: echo\n",
    );
    let output = run_in(test.path(), &["run", "--exp", "bom.yaml", "--dry"], 30);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Name: a"));
}

#[test]
fn collect_reads_only_regular_files_of_bounded_size() {
    let test = Test::new().write("logs/a.yaml", "---\nName: a\n").write(
        "logs/big.yaml",
        &format!("---\nName: big\npad: {}\n", "x".repeat(4096)),
    );
    let logs = test.path().join("logs");
    nix::unistd::mkfifo(&logs.join("fifo.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::os::unix::fs::symlink("/dev/zero", logs.join("zero.yaml")).unwrap();
    let output = run_in(
        test.path(),
        &["collect", "logs", "--dest", "out", "--max-size", "2K"],
        20,
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("fifo.yaml`: not a regular file"), "{err}");
    assert!(err.contains("zero.yaml`: not a regular file"), "{err}");
    assert!(
        err.contains("big.yaml`: larger than the size limit"),
        "{err}"
    );
    assert!(err.contains("collected 1 document from 1 file"), "{err}");
    assert!(err.contains("skipped 3 "), "{err}");
    // `filter` does not block on a FIFO either.
    let output = run_in(test.path(), &["filter", "logs/fifo.yaml"], 20);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
}
