//! The expression sandbox against hostile `parse` values, `--filter` and
//! `--sort` expressions (issue 11, "Hangs, crashes and memory"): refused
//! functions by name, format specs, nesting and slow size checks. Every
//! run has a timeout, so a hang fails the test instead of hanging CI; the
//! bound on the time is loose (a debug binary on a busy machine), the
//! release figures are in the README.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::test::{bin, Test};

/// A hang fails the test after this long.
const TIMEOUT: Duration = Duration::from_secs(20);
/// A refusal takes under a second in release; this allows a debug binary
/// on a loaded machine.
const LOOSE: Duration = Duration::from_secs(8);

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Run the binary in `test`'s directory with a timeout.
fn run(test: &Test, args: &[&str]) -> Outcome {
    let start = Instant::now();
    let output = assert_cmd::Command::new(bin())
        .current_dir(test.path())
        .args(args)
        .timeout(TIMEOUT)
        .output()
        .expect("run cool-runner");
    let outcome = Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let took = start.elapsed();
    assert!(
        took < LOOSE,
        "{args:?} took {took:?}; stderr:\n{}",
        outcome.stderr
    );
    outcome
}

/// Expand an experiment whose key `v` is `parse {expr}`.
fn parse(expr: &str) -> Outcome {
    let file = format!(
        "Global: {{repeat: 1}}\nModule: echo\n---\nName: a\nv: {}\n",
        yaml_quote(&format!("parse {expr}"))
    );
    let test = Test::new().write("exp.yaml", &file);
    run(&test, &["run", "--exp", "exp.yaml", "--dry"])
}

fn yaml_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `filter` over nine documents with one `--filter` (or `--sort`).
fn filter(flag: &str, expr: &str) -> Outcome {
    let log = (0..9).fold(String::new(), |mut log, i| {
        let _ = write!(log, "---\nName: e{i}\nACC: 0.{i}\n");
        log
    });
    let test = Test::new().write("log.yaml", &log);
    run(&test, &["filter", "log.yaml", flag, expr])
}

/// Exit status 2 (bad input) with every word of `words` on stderr.
fn refused(outcome: &Outcome, what: &str, words: &[&str]) {
    assert_eq!(
        outcome.code,
        Some(2),
        "{what}: exit status; stderr:\n{}",
        outcome.stderr
    );
    for word in words {
        assert!(
            outcome.stderr.contains(word),
            "{what}: `{word}` not in stderr:\n{}",
            outcome.stderr
        );
    }
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
}

/// Both engines refuse the same expression in the same words.
fn refused_everywhere(expr: &str, words: &[&str]) {
    refused(&parse(expr), &format!("parse {expr}"), words);
    refused(
        &filter("--filter", expr),
        &format!("--filter {expr}"),
        words,
    );
    refused(&filter("--sort", expr), &format!("--sort {expr}"), words);
}

#[test]
fn refused_functions_are_named() {
    for (expr, name) in [
        ("sleep(1000000000)", "`sleep`"),
        ("sleep(10)", "`sleep`"),
        ("sleep(0.5)", "`sleep`"),
        ("10.sleep()", "`sleep`"),
        ("Fn(\"sleep\").call(1000)", "`sleep`"),
        ("call(Fn(\"sleep\"), 1000)", "`sleep`"),
        ("timestamp()", "`timestamp`"),
        ("Fn(\"timestamp\").call()", "`timestamp`"),
        ("eval(\"1\")", "`eval`"),
        ("exit(3)", "`exit`"),
    ] {
        refused_everywhere(expr, &[name, "not available"]);
    }
}

#[test]
fn refused_in_a_filter_is_bad_input_not_false() {
    // In an f-string the call is only found when it runs.
    let out = filter("--filter", "f\"{sleep(10)}\" == \"\"");
    refused(&out, "sleep in an f-string", &["`sleep`", "not available"]);
    // A missing key is still a document that does not match.
    let out = filter("--filter", "exp.LOSS > 1");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn no_module_access_and_no_output() {
    refused(&parse("import \"os\" as os; 1"), "import", &["import"]);
    let out = parse("print(\"LEAK-P\"); debug(\"LEAK-D\"); 1");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stdout.contains("LEAK") && !out.stderr.contains("LEAK"));
    let out = filter("--filter", "print(\"LEAK-P\"); debug(\"LEAK-D\"); true");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stdout.contains("LEAK") && !out.stderr.contains("LEAK"));
}

#[test]
fn format_width_and_precision_are_bounded() {
    for expr in [
        "f\"{1:999999999}\"",
        "f\"{\"x\":999999999}\"",
        "f\"{1.5:.65536f}\"",
        "f\"{1.5:.65536e}\"",
        "f\"{1.5:.70000%}\"",
        "f\"{1.5:099999999999999999999999.2f}\"",
    ] {
        refused_everywhere(expr, &["over the limit of 1000"]);
    }
    let out = parse("f\"{1.5:1000.2f}\".len()");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("v: 1000"), "{}", out.stdout);
}

#[test]
fn deep_values_are_refused_not_a_stack_overflow() {
    // The reproductions: refused (by the nesting limit or the time
    // limit, whichever comes first), never a signal.
    let deep = "let m = []; for i in 0..2000 { m = [m]; } m == m";
    refused(&filter("--filter", deep), deep, &["refused by the sandbox"]);
    let deep = "let m = []; for i in 0..10000 { m = [m]; } m";
    refused(&parse(deep), deep, &["refused by the sandbox"]);
    // Just over the limit, each way a deep value is walked.
    for expr in [
        "let m = []; for i in 0..150 { m = [m]; } m",
        "let m = #{}; for i in 0..150 { m = #{a: m}; } m",
        "let m = []; for i in 0..150 { m = [m]; } m == m",
        "let m = []; for i in 0..150 { m = [m]; } m != m",
        "let m = #{}; for i in 0..150 { m = #{a: m}; } m == m",
        "let m = []; for i in 0..150 { m = [m]; } [m].contains(m)",
        "let m = []; for i in 0..150 { m = [m]; } str(m)",
        "let m = []; for i in 0..150 { m = [m]; } m.to_string()",
    ] {
        refused(&parse(expr), expr, &["nested more than 100 levels"]);
    }
    let out = filter("--sort", "let m = []; for i in 0..150 { m = [m]; } m");
    refused(&out, "deep sort key", &["nested more than 100 levels"]);
    // Within the limit all of these work.
    let out = parse("let m = []; for i in 0..50 { m = [m]; } m == m && str(m).len() == 102");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("v: true"), "{}", out.stdout);
}

#[test]
fn slow_size_checks_are_cut_short() {
    for expr in [
        "let a = []; loop { a.push(1); }",
        "let a = []; for i in 0..100000 { a.push(\"ab\"); } a.len()",
        "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
        "let s = \"xx\"; loop { s += s; }",
        "let a = []; a.pad(99999, 0); loop { a[0] = 1; }",
    ] {
        refused_everywhere(expr, &["refused by the sandbox"]);
    }
}

#[test]
fn documented_tricks_still_work() {
    let out = parse(
        "[sqrt(16.0), floor(2.5), \"a-b\".split(\"-\").len(), #{a: 1}.keys().len(), \
         [3, 1, 2].contains(2), int(\"4\") + float(1), str(1), \"Ab\".to_lower(), \
         [1, 2].map(|x| x * 2)]",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("v:\n- 4.0\n- 2.0\n- 2\n- 1\n- true\n- 5.0\n- '1'\n- ab\n- - 2\n  - 4\n"),
        "{}",
        out.stdout
    );
}
