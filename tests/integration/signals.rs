//! Ctrl-C and SIGTERM, with real signals sent to the real runner.

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::test::{column, documents, read, repo, Bg, Test, NAP_MODULE};

/// Counts SIGINTs in `signals.txt`, keeps running until SIGTERM.
const TRAP_MODULE: &str = "#!/bin/sh
trap 'echo int >> signals.txt' INT
echo started >> order.txt
while :; do sleep 0.05; done
";

/// Ignores SIGINT and SIGTERM: only SIGKILL stops it.
const STUBBORN_MODULE: &str = "#!/bin/sh
trap '' INT TERM
echo started >> order.txt
while :; do sleep 0.05; done
";

fn spawn(test: Test) -> Bg {
    test.args(&["run", "--exp", "e.yaml"]).spawn()
}

fn started(bg: &Bg) {
    bg.wait_for(5, "the module to start", |b| {
        read(&b.path().join("order.txt")).contains("started")
    });
}

#[test]
fn one_ctrl_c_interrupts_the_python_module_then_the_run_goes_on() {
    let test = Test::new();
    std::fs::create_dir_all(test.path().join("modules")).unwrap();
    for file in ["train.py", "cool_runner.py"] {
        std::fs::copy(
            repo().join("modules").join(file),
            test.path().join("modules").join(file),
        )
        .unwrap();
    }
    let mut bg = spawn(test.write_exe("m.sh", NAP_MODULE).write(
        "e.yaml",
        "Global: {}\nYamlLog: log.yaml\n\
             ---\nName: a\nModule: python3 modules/train.py\nepochs: 1000\nstep_time: 0.02\n\
             ---\nName: b\nModule: ./m.sh\n",
    ));
    bg.wait_for(10, "the first epoch", |b| {
        read(&b.path().join("runner.out")).contains("a: epoch 2")
    });
    let sent = Instant::now();
    bg.signal(Signal::SIGINT);
    assert_eq!(bg.wait(15), 130);
    assert!(
        sent.elapsed() >= Duration::from_secs(2),
        "the 2 s window was kept"
    );
    let log = documents(&bg.path().join("log.yaml"));
    assert_eq!(column(&log, "Name"), ["a", "b"]);
    assert_eq!(column(&log, "STATUS"), ["interrupted", "done"]);
    assert_eq!(log[0]["EXIT_CODE"].as_i64(), Some(130));
    assert!(
        log[0]["EPOCHS_DONE"].as_i64().is_some(),
        "the module saved results: {:?}",
        log[0]
    );
    assert!(
        bg.stderr().contains("interrupted: sent SIGINT to `a`"),
        "{}",
        bg.stderr()
    );
}

#[test]
fn a_terminal_ctrl_c_reaches_the_module_only_through_the_runner() {
    let test = Test::new().write_exe("m.sh", TRAP_MODULE).write(
        "e.yaml",
        "Global: {queue: q.yaml, grace: 5}\nModule: ./m.sh\nYamlLog: log.yaml\n---\nName: a\n---\nName: b\n",
    );
    // Like a terminal: the runner leads a foreground group, Ctrl-C goes to
    // the whole group.
    let stderr = std::fs::File::create(test.path().join("runner.err")).unwrap();
    let test = test.args(&["run", "--exp", "e.yaml"]);
    let mut command = test.command();
    command
        .process_group(0)
        .stderr(stderr)
        .stdout(std::process::Stdio::null());
    let child = command.spawn().unwrap();
    let mut bg = Bg {
        child,
        dir: test.dir,
    };
    started(&bg);
    let group = Pid::from_raw(bg.pid());
    killpg(group, Signal::SIGINT).unwrap();
    bg.wait_for(5, "the module to get SIGINT", |b| {
        read(&b.path().join("signals.txt")).contains("int")
    });
    std::thread::sleep(Duration::from_millis(200));
    // The module traps SIGINT and keeps going: a second Ctrl-C stops all.
    killpg(group, Signal::SIGINT).unwrap();
    assert_eq!(bg.wait(10), 130);
    assert_eq!(
        read(&bg.path().join("signals.txt")),
        "int\n",
        "exactly one SIGINT"
    );
    let log = documents(&bg.path().join("log.yaml"));
    assert_eq!(column(&log, "STATUS"), ["interrupted"]);
    assert_eq!(log[0]["SIGNAL"].as_str(), Some("SIGTERM"));
    // The interrupted experiment and the pending one stay in the queue.
    assert_eq!(
        column(&documents(&bg.path().join("q.yaml")), "Name"),
        ["a", "b"]
    );
}

#[test]
fn a_module_ignoring_sigint_and_sigterm_is_killed() {
    let mut bg = spawn(Test::new().write_exe("m.sh", STUBBORN_MODULE).write(
        "e.yaml",
        "Global: {grace: 0.3}\nModule: ./m.sh\nYamlLog: log.yaml\n---\nName: a\n",
    ));
    started(&bg);
    let sent = Instant::now();
    bg.signal(Signal::SIGINT);
    assert_eq!(bg.wait(10), 130);
    assert!(sent.elapsed() < Duration::from_secs(8));
    let log = documents(&bg.path().join("log.yaml"));
    assert_eq!(column(&log, "STATUS"), ["interrupted"]);
    assert_eq!(log[0]["SIGNAL"].as_str(), Some("SIGKILL"));
    assert_eq!(log[0]["EXIT_CODE"].as_i64(), Some(137));
    let stderr = bg.stderr();
    assert!(
        stderr.contains("`a` is still running: sent SIGTERM"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`a` is still running: sent SIGKILL"),
        "{stderr}"
    );
}

#[test]
fn sigterm_to_the_runner_stops_everything_at_once() {
    let mut bg = spawn(Test::new().write_exe("m.sh", NAP_MODULE).write(
        "e.yaml",
        "Global: {queue: q.yaml}\nModule: ./m.sh\nYamlLog: log.yaml\n\
         ---\nName: a\nnap: 30\n---\nName: b\n",
    ));
    bg.wait_for(5, "`a` to start", |b| {
        read(&b.path().join("order.txt")).contains('a')
    });
    let sent = Instant::now();
    bg.signal(Signal::SIGTERM);
    assert_eq!(bg.wait(10), 130);
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "no window after SIGTERM"
    );
    assert_eq!(
        column(&documents(&bg.path().join("log.yaml")), "STATUS"),
        ["interrupted"]
    );
    assert_eq!(
        column(&documents(&bg.path().join("q.yaml")), "Name"),
        ["a", "b"]
    );
    assert!(
        bg.stderr().contains("pending experiments are not started"),
        "{}",
        bg.stderr()
    );
}
