use std::sync::{mpsc, Arc, Mutex};

use super::*;
use crate::config::ExpandOptions;
use crate::executor::mock::{Behavior, MockExecutor};
use crate::executor::{Exit, SlotConfig, StartError};
use crate::expr::Sandbox;
use crate::queue::MemoryQueue;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Observer for Capture {
    fn experiment_finished(&mut self, record: &Record, _document: &Mapping) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", record.name, record.status));
    }
    fn experiment_skipped(&mut self, name: &str) {
        self.0.lock().unwrap().push(format!("{name} skipped"));
    }
}

fn doc(text: &str) -> Mapping {
    yaml_serde::from_str(text).unwrap()
}

/// An already expanded experiment named `name`.
fn exp(name: &str) -> Mapping {
    doc(&format!("Name: {name}\nModule: m\nREP: 0\nGLOBAL_REP: 0"))
}

struct Outcome {
    summary: Summary,
    finished: Vec<String>,
    mock: MockExecutor,
    left: Vec<String>,
}

/// Run `docs` with the mock; `signals` are sent at (ms after start, kind).
fn run(
    mock: MockExecutor,
    docs: Vec<Mapping>,
    fail_fast: bool,
    signals: &[(u64, SignalKind)],
) -> Outcome {
    run_with(mock, docs, fail_fast, signals, SlotConfig::default())
}

fn run_with(
    mock: MockExecutor,
    docs: Vec<Mapping>,
    fail_fast: bool,
    signals: &[(u64, SignalKind)],
    slots: SlotConfig,
) -> Outcome {
    let sandbox = Sandbox::new();
    let mut executor = mock.clone().with_slots(slots);
    // A document with `REP` stands for one the runner expanded.
    let mut queue = MemoryQueue::with_entries(docs.into_iter().map(|d| {
        if d.contains_key("REP") {
            crate::queue::QueueEntry::Expanded(d)
        } else {
            crate::queue::QueueEntry::Raw(d)
        }
    }));
    let options = SessionOptions {
        fail_fast,
        follow: false,
        grace: Duration::from_millis(60),
        window: Duration::from_millis(80),
        detach: false,
    };
    let expander = Expander::new(&sandbox, None, doc("Module: m"), &ExpandOptions::default());
    let capture = Capture::default();
    let summary = {
        let mut session = Session::new(
            options,
            &mut executor,
            &mut queue,
            expander,
            doc("Module: m"),
            mpsc::channel(),
        );
        session.add_observer(Box::new(capture.clone()));
        let tx = session.sender();
        let signals = signals.to_vec();
        std::thread::spawn(move || {
            let start = Instant::now();
            for (at, kind) in signals {
                std::thread::sleep(Duration::from_millis(at).saturating_sub(start.elapsed()));
                let _ = tx.send(Event::Signal(kind));
            }
        });
        session.run().unwrap()
    };
    let mut left = Vec::new();
    while let Peek::Next(doc) = queue.peek() {
        left.push(name_of(&doc));
        queue.commit(&[], None).unwrap();
    }
    let finished = capture.0.lock().unwrap().clone();
    Outcome {
        summary,
        finished,
        mock,
        left,
    }
}

#[test]
fn runs_in_order_counts_and_skips() {
    let mock = MockExecutor::new()
        .with("b", Behavior::Exit(Exit::Code(3)))
        .with(
            "c",
            Behavior::StartFails(StartError {
                message: "module `m` not found".into(),
                exit_code: 127,
                run_dir: None,
            }),
        )
        .with("d", Behavior::Exit(Exit::Signal(9)));
    let out = run(
        mock,
        vec![
            exp("a"),
            exp("b"),
            exp("skip"),
            exp("c"),
            exp("d"),
            exp("e"),
        ],
        false,
        &[],
    );
    assert_eq!(
        out.finished,
        [
            "a done",
            "b failed",
            "skip skipped",
            "c failed",
            "d failed",
            "e done"
        ]
    );
    assert_eq!(out.mock.snapshot().started, ["a", "b", "d", "e"]);
    assert_eq!(
        (out.summary.done, out.summary.failed, out.summary.skipped),
        (2, 3, 1)
    );
    assert_eq!(out.summary.exit_code(), 1);
    assert!(out.left.is_empty());
}

#[test]
fn fail_fast_leaves_the_rest_pending() {
    let mock = MockExecutor::new().with("a", Behavior::Exit(Exit::Code(1)));
    let out = run(mock, vec![exp("a"), exp("b")], true, &[]);
    assert_eq!(out.finished, ["a failed"]);
    assert!(out.summary.failed_fast);
    assert_eq!(out.left, ["b"]);
    assert_eq!(out.summary.exit_code(), 1);
}

#[test]
fn first_ctrl_c_interrupts_only_the_running_experiment() {
    let mock = MockExecutor::new().with("a", Behavior::UntilStopped(vec![Stop::Interrupt]));
    let out = run(
        mock,
        vec![exp("a"), exp("b")],
        false,
        &[(30, SignalKind::Interrupt)],
    );
    assert_eq!(out.finished, ["a interrupted", "b done"]);
    assert_eq!(
        out.mock.snapshot().stops,
        [("a".to_owned(), Stop::Interrupt)]
    );
    assert!(!out.summary.stopped);
    assert_eq!(out.summary.exit_code(), 130);
}

#[test]
fn second_ctrl_c_stops_everything_and_requeues() {
    let mock = MockExecutor::new().with("a", Behavior::UntilStopped(vec![Stop::Terminate]));
    let out = run(
        mock,
        vec![exp("a"), exp("b")],
        false,
        &[(30, SignalKind::Interrupt), (45, SignalKind::Interrupt)],
    );
    assert_eq!(out.finished, ["a interrupted"]);
    let log = out.mock.snapshot();
    assert_eq!(log.started, ["a"]);
    assert_eq!(
        log.stops,
        [
            ("a".to_owned(), Stop::Interrupt),
            ("a".to_owned(), Stop::Terminate)
        ]
    );
    assert!(out.summary.stopped);
    assert_eq!(out.left, ["a", "b"]);
    assert_eq!(out.summary.exit_code(), 130);
}

#[test]
fn ctrl_c_in_the_window_after_an_interrupted_experiment_stops_and_requeues_it() {
    let mock = MockExecutor::new().with("a", Behavior::UntilStopped(vec![Stop::Interrupt]));
    let out = run(
        mock,
        vec![exp("a"), exp("b")],
        false,
        &[(30, SignalKind::Interrupt), (60, SignalKind::Interrupt)],
    );
    assert_eq!(out.finished, ["a interrupted"]);
    // The second Ctrl-C made it a stop: the interrupted experiment goes
    // back to the head (issue #10), as when the module was still running.
    assert_eq!(out.left, ["a", "b"]);
    assert!(out.summary.stopped);
}

#[test]
fn a_module_ignoring_sigint_gets_sigterm_then_sigkill() {
    let mock = MockExecutor::new().with("a", Behavior::UntilStopped(vec![]));
    let out = run(mock, vec![exp("a")], false, &[(20, SignalKind::Interrupt)]);
    let stops: Vec<Stop> = out.mock.snapshot().stops.into_iter().map(|s| s.1).collect();
    assert_eq!(stops, [Stop::Interrupt, Stop::Terminate, Stop::Kill]);
    assert_eq!(out.finished, ["a interrupted"]);
}

#[test]
fn sigterm_to_the_runner_stops_at_once() {
    let mock = MockExecutor::new().with("a", Behavior::UntilStopped(vec![Stop::Terminate]));
    let out = run(
        mock,
        vec![exp("a"), exp("b")],
        false,
        &[(20, SignalKind::Terminate)],
    );
    assert_eq!(
        out.mock.snapshot().stops,
        [("a".to_owned(), Stop::Terminate)]
    );
    assert_eq!(out.left, ["a", "b"]);
    assert_eq!(out.summary.exit_code(), 130);
}

#[test]
fn timeouts_terminate_and_are_logged_as_such() {
    let mock = MockExecutor::new().with("a", Behavior::UntilStopped(vec![Stop::Terminate]));
    let mut a = exp("a");
    a.insert("Timeout".into(), Value::from(0.03));
    let out = run(mock, vec![a, exp("b")], false, &[]);
    assert_eq!(out.finished, ["a timeout", "b done"]);
    assert_eq!(out.summary.exit_code(), 1);
}

#[test]
fn new_documents_are_expanded_when_taken() {
    let mock = MockExecutor::new();
    let out = run(
        mock,
        vec![exp("a"), doc("Name: new\nRepeat: 3\nx: parse E[-1].Name")],
        false,
        &[],
    );
    assert_eq!(out.finished, ["a done", "new done", "new done", "new done"]);
}

#[test]
fn bad_documents_fail_and_the_run_goes_on() {
    let mock = MockExecutor::new();
    let out = run(
        mock,
        vec![
            doc("Name: bad\nx: parse nope + 1"),
            doc("Name: t\nModule: [1]"),
            exp("ok"),
        ],
        false,
        &[],
    );
    assert_eq!(out.finished, ["bad failed", "t failed", "ok done"]);
    let err = crate::config::ConfigError::Expr {
        location: crate::config::Location {
            key: Some("x".into()),
            ..Default::default()
        },
        expr: "parse nope + 1".into(),
        source: crate::expr::ExprError {
            message: "unknown variable `nope`".into(),
            line: None,
            column: None,
        },
    };
    assert!(
        super::super::admission::expansion_error(&err)
            .starts_with("failed to expand: key `x`: failed to evaluate `parse nope + 1`: unknown"),
        "{}",
        super::super::admission::expansion_error(&err)
    );
}

fn env_of(log: &crate::executor::mock::MockLog, name: &str, key: &str) -> String {
    log.env
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, env)| env.iter().find(|(k, _)| k == key))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn after(ms: u64) -> Behavior {
    Behavior::After(Duration::from_millis(ms), Exit::Code(0))
}

#[test]
fn two_slots_run_two_at_once_in_queue_order() {
    let mock = MockExecutor::new()
        .with("a", after(150))
        .with("b", after(50))
        .with("c", after(50));
    let clock = Instant::now();
    let out = run_with(
        mock,
        vec![exp("a"), exp("b"), exp("c")],
        false,
        &[],
        SlotConfig::new(Some(2), Vec::new()),
    );
    assert!(
        clock.elapsed() < Duration::from_millis(290),
        "ran in parallel"
    );
    assert_eq!(out.finished, ["b done", "c done", "a done"]);
    let log = out.mock.snapshot();
    assert_eq!(log.started, ["a", "b", "c"]);
    assert_eq!(env_of(&log, "a", "COOL_RUNNER_SLOT"), "0");
    assert_eq!(env_of(&log, "b", "COOL_RUNNER_SLOT"), "1");
    assert_eq!(
        env_of(&log, "c", "COOL_RUNNER_SLOT"),
        "1",
        "b's slot was freed"
    );
    assert!(
        log.env.iter().all(|(_, env)| env.len() == 1),
        "no GPUs: no CUDA_VISIBLE_DEVICES"
    );
}

#[test]
fn gpus_are_given_out_exclusively_and_the_head_waits() {
    let mock = MockExecutor::new()
        .with("a", after(60))
        .with("big", after(30))
        .with("c", after(10));
    let mut big = exp("big");
    big.insert("GPUs".into(), Value::from(2));
    let out = run_with(
        mock,
        vec![exp("a"), big, exp("c")],
        false,
        &[],
        SlotConfig::new(None, vec!["0".into(), "1".into()]),
    );
    // `big` needs both GPUs: it waits for `a`, and `c` does not overtake it.
    assert_eq!(out.finished, ["a done", "big done", "c done"]);
    let log = out.mock.snapshot();
    assert_eq!(log.started, ["a", "big", "c"]);
    assert_eq!(env_of(&log, "a", "CUDA_VISIBLE_DEVICES"), "0");
    assert_eq!(env_of(&log, "big", "CUDA_VISIBLE_DEVICES"), "0,1");
    assert_eq!(env_of(&log, "c", "CUDA_VISIBLE_DEVICES"), "0");
}

#[test]
fn too_many_gpus_fail_that_experiment_only() {
    let mut big = exp("big");
    big.insert("GPUs".into(), Value::from(3));
    let out = run_with(
        MockExecutor::new(),
        vec![big, exp("b")],
        false,
        &[],
        SlotConfig::new(None, vec!["0".into()]),
    );
    assert_eq!(out.finished, ["big failed", "b done"]);
}

#[test]
fn first_ctrl_c_interrupts_every_running_experiment() {
    let mock = MockExecutor::new()
        .with("a", Behavior::UntilStopped(vec![Stop::Interrupt]))
        .with("b", Behavior::UntilStopped(vec![Stop::Interrupt]));
    let out = run_with(
        mock,
        vec![exp("a"), exp("b"), exp("c")],
        false,
        &[(30, SignalKind::Interrupt)],
        SlotConfig::new(Some(2), Vec::new()),
    );
    let mut finished = out.finished.clone();
    finished[..2].sort();
    assert_eq!(finished, ["a interrupted", "b interrupted", "c done"]);
    assert_eq!(out.mock.snapshot().stops.len(), 2);
    assert!(!out.summary.stopped);
}

#[test]
fn second_ctrl_c_stops_all_and_requeues_in_queue_order() {
    let mock = MockExecutor::new()
        .with("a", Behavior::UntilStopped(vec![Stop::Terminate]))
        .with("b", Behavior::UntilStopped(vec![Stop::Terminate]));
    let out = run_with(
        mock,
        vec![exp("a"), exp("b"), exp("c")],
        false,
        &[(30, SignalKind::Interrupt), (45, SignalKind::Interrupt)],
        SlotConfig::new(Some(2), Vec::new()),
    );
    assert_eq!(out.finished.len(), 2);
    assert!(out.summary.stopped);
    assert_eq!(out.left, ["a", "b", "c"]);
    assert_eq!(out.summary.exit_code(), 130);
}
