//! The queue file across crashes, stops, writers in progress and several
//! runners (issue #10). Each test reproduces a defect of the queue file
//! before its journal; `COOL_RUNNER_BIN=/path/to/old/cool-runner` runs them
//! against another binary to see them fail there.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::test::{bin, column, documents, read, Test, NAP_MODULE};

/// The binary under test (`COOL_RUNNER_BIN` overrides it).
fn binary() -> String {
    std::env::var("COOL_RUNNER_BIN").unwrap_or_else(|_| bin().to_owned())
}

/// Like `NAP_MODULE`, and exits 1 when its `Name` is `bad`.
const FAILING_MODULE: &str = r#"#!/bin/sh
get() { sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$COOL_RUNNER_EXPERIMENT" | head -n 1; }
name=$(get Name)
echo "$name" >> order.txt
[ "$name" = bad ] && exit 1
sleep "$(get nap)"
"#;

/// A directory with `e.yaml` (queue file `q.yaml`, log `log.yaml`) and
/// the modules.
fn setup(experiments: &str) -> Test {
    Test::new()
        .write_exe("m.sh", NAP_MODULE)
        .write_exe("f.sh", FAILING_MODULE)
        .write(
            "e.yaml",
            &format!(
                "Global: {{queue: q.yaml}}\nModule: ./m.sh\nYamlLog: log.yaml\nnap: 0\n{experiments}"
            ),
        )
}

/// Start a runner in `dir` (stderr to `name`).
fn spawn(dir: &Path, args: &[&str], name: &str) -> Child {
    let stderr = std::fs::File::create(dir.join(name)).unwrap();
    Command::new(binary())
        .args(["run", "--exp", "e.yaml", "--no-store"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn wait_until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn exit_code(child: &mut Child, secs: u64) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    wait_until(secs, "the runner to exit", || {
        child.try_wait().unwrap().is_some()
    });
    let status = child.wait().unwrap();
    status.code().unwrap_or(128 + status.signal().unwrap_or(0))
}

fn lines(path: &Path) -> Vec<String> {
    read(path).lines().map(str::to_owned).collect()
}

/// `n` documents named `{prefix}0`, `{prefix}1`, ..., each with `more`.
fn documents_named(prefix: &str, n: usize, more: &str) -> String {
    (0..n).fold(String::new(), |mut out, i| {
        let _ = write!(out, "---\nName: {prefix}{i}\n{more}");
        out
    })
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// Kill the runner once the module(s) `running` have started, let the
/// orphans end, and run the queue again to its end.
fn kill_then_resume(dir: &Path, args: &[&str], running: &[&str]) {
    let mut child = spawn(dir, args, "first.err");
    wait_until(10, "the modules to start", || {
        let ran = lines(&dir.join("order.txt"));
        running.iter().all(|n| ran.iter().any(|r| r == n))
    });
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let mut again = spawn(dir, args, "second.err");
    assert_eq!(
        exit_code(&mut again, 20),
        0,
        "{}",
        read(&dir.join("second.err"))
    );
}

/// kill -9 during the last experiment: the next start runs it again, once,
/// and nothing else (it used to find a bare header and rerun the batch).
#[test]
fn a_kill_during_the_last_experiment_reruns_only_it() {
    let test = setup("---\nName: a\n---\nName: b\n---\nName: c\nnap: 1\n");
    kill_then_resume(test.path(), &[], &["c"]);
    assert_eq!(lines(&test.path().join("order.txt")), ["a", "b", "c", "c"]);
    let log = documents(&test.path().join("log.yaml"));
    assert_eq!(column(&log, "Name"), ["a", "b", "c"]);
    assert!(!test.path().join("q.yaml").exists());
}

/// kill -9 with two running (`-j 2`): both run again, exactly once.
#[test]
fn a_kill_with_two_running_reruns_both_once() {
    let test = setup("---\nName: a\nnap: 1\n---\nName: b\nnap: 1\n---\nName: c\n---\nName: d\n");
    kill_then_resume(test.path(), &["-j", "2"], &["a", "b"]);
    let ran = lines(&test.path().join("order.txt"));
    assert_eq!(sorted(ran), ["a", "a", "b", "b", "c", "d"]);
    let log = documents(&test.path().join("log.yaml"));
    assert_eq!(sorted(column(&log, "Name")), ["a", "b", "c", "d"]);
}

/// Ctrl-C, then Ctrl-C in the 2 s window after the interrupted module
/// ended: a stop, so the interrupted experiment is back at the head.
#[test]
fn double_ctrl_c_puts_the_interrupted_experiment_back() {
    let test = setup("---\nName: a\nnap: 5\n---\nName: b\n");
    let dir = test.path();
    let mut child = spawn(dir, &[], "runner.err");
    wait_until(5, "`a` to start", || read(&dir.join("order.txt")) == "a\n");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGINT).unwrap();
    wait_until(5, "`a` to be logged", || {
        read(&dir.join("log.yaml")).contains("interrupted")
    });
    nix::sys::signal::kill(pid, Signal::SIGINT).unwrap();
    assert_eq!(exit_code(&mut child, 10), 130);
    assert_eq!(column(&documents(&dir.join("q.yaml")), "Name"), ["a", "b"]);
}

/// `--fail-fast` with `-j 2`: the failure stops the run; an experiment the
/// person then interrupts goes back to the head, the pending one stays.
#[test]
fn fail_fast_keeps_the_interrupted_and_the_pending() {
    let test = setup("---\nName: slow\nnap: 5\n---\nName: bad\nModule: ./f.sh\n---\nName: c\n");
    let dir = test.path();
    let mut child = spawn(dir, &["-j", "2", "--fail-fast"], "runner.err");
    wait_until(5, "the failure", || {
        read(&dir.join("runner.err")).contains("fail-fast")
    });
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGINT).unwrap();
    assert_eq!(exit_code(&mut child, 15), 130);
    let log = documents(&dir.join("log.yaml"));
    assert_eq!(sorted(column(&log, "STATUS")), ["failed", "interrupted"]);
    assert_eq!(
        column(&documents(&dir.join("q.yaml")), "Name"),
        ["slow", "c"]
    );
}

/// `(sleep 1; cat new.yaml) > q.yaml`: the file is empty while the writer
/// works; the runner waits for it instead of reading "all removed".
#[test]
fn a_slow_writer_is_waited_for() {
    let test = setup("---\nName: a\nnap: 0.5\n---\nName: b\n");
    let dir = test.path();
    let new = documents_named("n", 8, "");
    std::fs::write(dir.join("new.yaml"), new).unwrap();
    let mut child = spawn(dir, &[], "runner.err");
    wait_until(5, "`a` to start", || read(&dir.join("order.txt")) == "a\n");
    let status = Command::new("sh")
        .args(["-c", "(sleep 1; cat new.yaml) > q.yaml"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        exit_code(&mut child, 20),
        0,
        "{}",
        read(&dir.join("runner.err"))
    );
    let expected: Vec<String> = std::iter::once("a".to_owned())
        .chain((0..8).map(|i| format!("n{i}")))
        .collect();
    assert_eq!(lines(&dir.join("order.txt")), expected);
}

/// Appends while fast experiments are being taken: every experiment,
/// appended or not, runs exactly once.
#[test]
fn appends_racing_takes_run_each_experiment_once() {
    let first = documents_named("e", 30, "nap: 0.01\n");
    let test = setup(&first);
    let dir = test.path();
    let mut child = spawn(dir, &["--follow"], "runner.err");
    wait_until(5, "the queue file", || dir.join("q.yaml").exists());
    for i in 0..20 {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("q.yaml"))
            .unwrap();
        std::io::Write::write_all(&mut file, format!("---\nName: x{i}\n").as_bytes()).unwrap();
        drop(file);
        std::thread::sleep(Duration::from_millis(15));
    }
    wait_until(20, "everything to run", || {
        lines(&dir.join("order.txt")).len() >= 50
    });
    std::thread::sleep(Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGINT).unwrap();
    exit_code(&mut child, 10);
    let mut expected: Vec<String> = (0..30).map(|i| format!("e{i}")).collect();
    expected.extend((0..20).map(|i| format!("x{i}")));
    assert_eq!(sorted(lines(&dir.join("order.txt"))), sorted(expected));
}

/// Four runners on one queue file: one runs it, each experiment once; the
/// others refuse with exit 2, naming the holder.
#[test]
fn four_runners_on_one_queue_file() {
    let experiments = documents_named("e", 12, "nap: 0.05\n");
    let test = setup(&experiments);
    let dir = test.path();
    let mut runners: Vec<Child> = (0..4)
        .map(|i| spawn(dir, &[], &format!("runner{i}.err")))
        .collect();
    let codes: Vec<i32> = runners.iter_mut().map(|c| exit_code(c, 20)).collect();
    let mut sorted_codes = codes.clone();
    sorted_codes.sort_unstable();
    assert_eq!(sorted_codes, [0, 2, 2, 2], "{codes:?}");
    for (i, code) in codes.iter().enumerate() {
        if *code == 2 {
            let err = read(&dir.join(format!("runner{i}.err")));
            assert!(err.contains("in use by another cool-runner (pid "), "{err}");
        }
    }
    let expected: Vec<String> = (0..12).map(|i| format!("e{i}")).collect();
    assert_eq!(sorted(lines(&dir.join("order.txt"))), sorted(expected));
}

/// A queue file left by a stop is resumed even though the experiment file
/// was fixed meanwhile: the runner says so.
#[test]
fn resuming_after_the_experiment_file_changed_says_so() {
    let test = setup("---\nName: a\nnap: 5\n---\nName: b\n");
    let dir = test.path();
    let mut child = spawn(dir, &[], "first.err");
    wait_until(5, "`a` to start", || read(&dir.join("order.txt")) == "a\n");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    assert_eq!(exit_code(&mut child, 10), 130);
    let fixed = read(&dir.join("e.yaml")).replace("Name: b", "Name: b_fixed");
    std::fs::write(dir.join("e.yaml"), fixed).unwrap();
    // Without a decision nothing runs: exit 2 and both ways out named.
    let mut again = spawn(dir, &[], "second.err");
    assert_eq!(exit_code(&mut again, 20), 2);
    let err = read(&dir.join("second.err"));
    assert!(
        err.contains("changed since the queue file `q.yaml` was written"),
        "{err}"
    );
    assert!(
        err.contains("`--resume`") && err.contains("`--restart`"),
        "{err}"
    );
    assert_eq!(lines(&dir.join("order.txt")), ["a"]);
    // `--resume` runs the queue as it is.
    let mut resumed = spawn(dir, &["--resume"], "third.err");
    assert_eq!(exit_code(&mut resumed, 20), 0);
    assert_eq!(lines(&dir.join("order.txt")), ["a", "a", "b"]);
}

/// `--restart` discards a leftover queue file and expands the (fixed)
/// experiment file again.
#[test]
fn restart_expands_the_fixed_experiment_file_again() {
    let test = setup("---\nName: a\nnap: 5\n---\nName: b\n");
    let dir = test.path();
    let mut child = spawn(dir, &[], "first.err");
    wait_until(5, "`a` to start", || read(&dir.join("order.txt")) == "a\n");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    assert_eq!(exit_code(&mut child, 10), 130);
    let fixed = read(&dir.join("e.yaml"))
        .replace("Name: b", "Name: b_fixed")
        .replace("nap: 5", "nap: 0");
    std::fs::write(dir.join("e.yaml"), fixed).unwrap();
    let mut again = spawn(dir, &["--restart"], "second.err");
    assert_eq!(exit_code(&mut again, 20), 0);
    assert_eq!(lines(&dir.join("order.txt")), ["a", "a", "b_fixed"]);
    assert!(!dir.join("q.yaml").exists());
}
