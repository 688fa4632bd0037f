//! `Session`: one run of the queue, one experiment at a time.
//!
//! The session owns the scheduling decisions; it waits on a single channel
//! of `Event`s (a module ended, a signal arrived, the queue file changed),
//! so it reacts at once to each without polling. Starting, stopping and
//! where a module runs are the executor's business; the Ctrl-C policy is
//! described in `signals.rs` and implemented in `supervise` and
//! `on_signal` here.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use chrono::Local;
use yaml_serde::{Mapping, Value};

use super::events::{Observer, Started, Summary};
use super::executor::{Executor, Exit, Job, Running, Stop};
use super::job::{create_run_dir, name_of, read_results, tail, JobSpec};
use super::signals::SignalKind;
use crate::config::{merge_over, ConfigError, Expander};
use crate::queue::{Peek, Queue, QueueError};
use crate::yaml_log::{self, Record, Status};

/// Something the session reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The job with this index ended.
    Exited {
        job: usize,
        exit: Exit,
    },
    Signal(SignalKind),
    /// The queue file may have changed.
    QueueChanged,
}

/// How long the queue file must be quiet after a change notification before
/// it is read again (an editor's save is several events).
const DEBOUNCE: Duration = Duration::from_millis(15);

/// After an experiment has run this long, the queue file and the logs are
/// made durable (group commit: see `queue/file.rs`).
const FLUSH_AFTER: Duration = Duration::from_millis(10);

/// Lines of stderr kept in the log of a failed experiment.
const STDERR_TAIL_LINES: usize = 20;

/// Settings of a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Stop at the first failed or timed-out experiment.
    pub fail_fast: bool,
    /// Wait for new experiments when the queue is empty.
    pub follow: bool,
    /// Time between SIGINT and SIGTERM, and between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// After an interrupted experiment ends, how long a second Ctrl-C
    /// stops everything before the next experiment starts.
    pub window: Duration,
    /// Where run directories are created.
    pub runs_dir: PathBuf,
    /// The first part of run directory names (the session's start time).
    pub stamp: String,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            fail_fast: false,
            follow: false,
            grace: Duration::from_secs(5),
            window: Duration::from_secs(2),
            runs_dir: PathBuf::from("runs"),
            stamp: Local::now().format("%Y-%m-%d_%H-%M-%S").to_string(),
        }
    }
}

/// Why a job ended, besides its exit.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    interrupted: bool,
    timed_out: bool,
}

pub struct Session<'a, 's> {
    options: SessionOptions,
    executor: &'a mut dyn Executor,
    queue: &'a mut dyn Queue,
    expander: Expander<'s>,
    defaults: Mapping,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    observers: Vec<Box<dyn Observer + 'a>>,
    summary: Summary,
    next_index: usize,
    /// The person asked to stop everything.
    stop: bool,
    /// When to read the queue file again after a change notification.
    queue_dirty: Option<Instant>,
    global_rep: Option<u64>,
    waiting_announced: bool,
    fatal: Option<QueueError>,
    /// Logs appended to since the last flush.
    unsynced_logs: Vec<PathBuf>,
}

impl<'a, 's> Session<'a, 's> {
    /// `channel` is the session's event channel: hand clones of its sender
    /// to the signal handler and the queue watcher (see `sender`).
    pub fn new(
        options: SessionOptions,
        executor: &'a mut dyn Executor,
        queue: &'a mut dyn Queue,
        expander: Expander<'s>,
        defaults: Mapping,
        channel: (Sender<Event>, Receiver<Event>),
    ) -> Self {
        Self {
            options,
            executor,
            queue,
            expander,
            defaults,
            tx: channel.0,
            rx: channel.1,
            observers: Vec::new(),
            summary: Summary::default(),
            next_index: 0,
            stop: false,
            queue_dirty: None,
            global_rep: None,
            waiting_announced: false,
            fatal: None,
            unsynced_logs: Vec::new(),
        }
    }

    pub fn add_observer(&mut self, observer: Box<dyn Observer + 'a>) {
        self.observers.push(observer);
    }

    pub fn sender(&self) -> Sender<Event> {
        self.tx.clone()
    }

    /// Run until the queue is empty (forever with `follow`), the person
    /// stops it, or `--fail-fast` trips. A queue file that can no longer be
    /// written ends the run with an error, after the running experiment.
    pub fn run(mut self) -> Result<Summary, QueueError> {
        let started = Instant::now();
        loop {
            self.drain_idle_events();
            if self.stop || self.fatal.is_some() || self.summary.failed_fast {
                break;
            }
            self.queue_dirty = None;
            let peek = self.queue.peek();
            self.flush_reports();
            match peek {
                Peek::Next(doc) => {
                    self.waiting_announced = false;
                    self.take(&doc);
                }
                Peek::Empty if !self.options.follow => break,
                Peek::Empty => {
                    if !self.waiting_announced {
                        self.message(
                            "queue: empty; waiting for new experiments (--follow); Ctrl-C to stop",
                        );
                        self.waiting_announced = true;
                    }
                    self.wait_idle();
                }
                Peek::Invalid => self.wait_idle(),
            }
        }
        self.summary.stopped = self.stop;
        self.flush();
        let finish = self.queue.finish(self.options.follow);
        self.flush_reports();
        self.summary.pending = self.queue.pending();
        self.summary.elapsed = started.elapsed();
        let summary = self.summary.clone();
        for observer in &mut self.observers {
            observer.queue_finished(&summary);
        }
        if let Some(err) = self.fatal.take() {
            return Err(err);
        }
        finish?;
        Ok(summary)
    }

    /// Take `doc` from the queue: expand, start, supervise, log.
    fn take(&mut self, doc: &Mapping) {
        if let Some(rep) = doc.get("GLOBAL_REP").and_then(Value::as_u64) {
            if self.global_rep != Some(rep) {
                self.expander.start_global_rep(rep);
                self.global_rep = Some(rep);
            }
        }
        let mut expanded = match self.expander.expand_queued(doc) {
            Ok(expanded) => expanded,
            Err(err) => {
                self.commit(&[]);
                let experiment = merge_over(doc, &self.defaults);
                self.fail_early(experiment, expansion_error(&err), None, None);
                return;
            }
        };
        let rest = expanded.split_off(1.min(expanded.len()));
        let Some(experiment) = expanded.pop() else {
            self.commit(&rest);
            return;
        };
        let spec = match JobSpec::from_experiment(&experiment) {
            Ok(spec) => spec,
            Err(err) => {
                self.commit(&rest);
                self.fail_early(experiment, err, None, None);
                return;
            }
        };
        if spec.skip {
            self.commit(&rest);
            self.summary.skipped += 1;
            for observer in &mut self.observers {
                observer.experiment_skipped(&spec.name);
            }
            return;
        }
        let index = self.next_index;
        self.next_index += 1;
        let run_dir = match create_run_dir(
            &self.options.runs_dir,
            &self.options.stamp,
            index,
            &spec.name,
        ) {
            Ok(dir) => dir,
            Err(err) => {
                self.commit(&rest);
                let message = format!(
                    "failed to create a run directory in `{}`: {err}",
                    self.options.runs_dir.display()
                );
                self.fail_early(experiment, message, None, None);
                return;
            }
        };
        let job = Job {
            index,
            name: spec.name.clone(),
            command: spec.command.clone(),
            timeout: spec.timeout,
            experiment_file: run_dir.join("experiment.json"),
            results_file: run_dir.join("results.yaml"),
            run_dir,
            experiment,
        };
        let written = serde_json::to_vec_pretty(&job.experiment)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(&job.experiment_file, json).map_err(|e| e.to_string()));
        if let Err(err) = written {
            self.commit(&rest);
            let message = format!("failed to write `{}`: {err}", job.experiment_file.display());
            self.fail_early(job.experiment, message, None, Some(job.run_dir));
            return;
        }

        let tx = self.tx.clone();
        let on_exit = Box::new(move |exit| {
            let _ = tx.send(Event::Exited { job: index, exit });
        });
        let started_at = Local::now();
        let clock = Instant::now();
        let running = match self.executor.start(&job, on_exit) {
            Ok(running) => running,
            Err(err) => {
                self.commit(&rest);
                self.fail_early(
                    job.experiment,
                    err.message,
                    Some(err.exit_code),
                    Some(job.run_dir),
                );
                return;
            }
        };
        // Only now does the experiment leave the queue (SPEC §4).
        self.commit(&rest);
        let id = running.id();
        let started = Started {
            index,
            name: &job.name,
            run_dir: &job.run_dir,
            id: &id,
            pending: self.queue.pending(),
        };
        for observer in &mut self.observers {
            observer.experiment_started(&started);
        }

        let (exit, outcome) = self.supervise(&job, running);

        let elapsed = clock.elapsed();
        let (exit_code, signal) = match exit {
            Exit::Code(code) => (Some(code), None),
            Exit::Signal(signal) => (Some(128 + signal), Some(signal)),
        };
        let (results, results_error) = match read_results(&job.results_file) {
            Ok(results) => (results, None),
            Err(err) => (Mapping::new(), Some(err)),
        };
        let status = if outcome.interrupted {
            Status::Interrupted
        } else if outcome.timed_out {
            Status::Timeout
        } else if exit == Exit::Code(0) && results_error.is_none() {
            Status::Done
        } else {
            Status::Failed
        };
        let error = match (status, exit) {
            (Status::Timeout, _) => Some(format!(
                "ran longer than its `Timeout` of {} s",
                spec.timeout.map_or(0.0, |t| t.as_secs_f64())
            )),
            (Status::Failed, Exit::Signal(s)) => {
                Some(format!("killed by {}", yaml_log::signal_name(s)))
            }
            _ => results_error,
        };
        let stderr_tail = (status != Status::Done)
            .then(|| tail(&job.run_dir.join("stderr.log"), STDERR_TAIL_LINES))
            .flatten();
        let record = Record {
            index,
            name: job.name.clone(),
            experiment: job.experiment.clone(),
            results,
            status,
            exit_code,
            signal,
            started_at,
            finished_at: Local::now(),
            elapsed,
            run_dir: Some(job.run_dir.clone()),
            error,
            stderr_tail,
            log: spec.log.clone(),
        };
        self.finish(&record);
        if self.stop {
            // Stopped, not skipped: it runs again when the queue is resumed.
            if let Err(err) = self.queue.push_front(std::slice::from_ref(&job.experiment)) {
                self.message(&format!("warning: {err}"));
            }
        } else if outcome.interrupted {
            self.wait_window();
        }
    }

    /// Remove the peeked document from the queue, putting `rest` in its place.
    fn commit(&mut self, rest: &[Mapping]) {
        if let Err(err) = self.queue.commit(rest) {
            // Reported once, as the run's error, when the run ends.
            self.message(
                "warning: the queue file cannot be updated: stopping after this experiment",
            );
            self.fatal = Some(err);
        }
    }

    /// Log and announce an experiment that could not be started.
    fn fail_early(
        &mut self,
        experiment: Mapping,
        error: String,
        exit_code: Option<i32>,
        run_dir: Option<PathBuf>,
    ) {
        let now = Local::now();
        let log = match experiment.get("YamlLog") {
            Some(Value::String(path)) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => None,
        };
        let record = Record {
            index: self.next_index,
            name: name_of(&experiment),
            experiment,
            results: Mapping::new(),
            status: Status::Failed,
            exit_code,
            signal: None,
            started_at: now,
            finished_at: now,
            elapsed: Duration::ZERO,
            run_dir,
            error: Some(error),
            stderr_tail: None,
            log,
        };
        self.finish(&record);
    }

    /// Log a finished experiment and tell the observers.
    fn finish(&mut self, record: &Record) {
        if let Some(path) = &record.log {
            match yaml_log::append(path, &record.document()) {
                Ok(()) if !self.unsynced_logs.contains(path) => {
                    self.unsynced_logs.push(path.clone());
                }
                Ok(()) => {}
                Err(err) => self.message(&format!("warning: {err}")),
            }
        }
        self.summary.count(record.status);
        for observer in &mut self.observers {
            observer.experiment_finished(record);
        }
        if record.status.is_failure() && self.options.fail_fast {
            self.summary.failed_fast = true;
            self.message("stopping: an experiment failed and `--fail-fast` is set");
        }
    }

    /// Wait for `job` to end, forwarding Ctrl-C, enforcing its timeout and
    /// reporting queue edits meanwhile.
    fn supervise(&mut self, job: &Job, mut running: Box<dyn Running>) -> (Exit, Outcome) {
        let grace = self.options.grace;
        let timeout_at = job.timeout.map(|t| Instant::now() + t);
        let mut outcome = Outcome::default();
        let mut escalate: Option<(Instant, Stop)> = None;
        let mut flush_at = Some(Instant::now() + FLUSH_AFTER);
        loop {
            let now = Instant::now();
            if flush_at.is_some_and(|at| now >= at) {
                flush_at = None;
                self.flush();
            }
            if let Some((at, how)) = escalate {
                if now >= at {
                    running.stop(how);
                    self.message(&format!(
                        "`{}` is still running: sent {}",
                        job.name,
                        signal_of(how)
                    ));
                    escalate = next_step(how).map(|next| (now + grace, next));
                }
            }
            if let Some(at) = timeout_at {
                if now >= at && !outcome.timed_out && !outcome.interrupted {
                    outcome.timed_out = true;
                    running.stop(Stop::Terminate);
                    self.message(&format!(
                        "`{}` ran longer than its `Timeout`: sent SIGTERM",
                        job.name
                    ));
                    escalate = Some((now + grace, Stop::Kill));
                }
            }
            if self.queue_dirty.is_some_and(|at| now >= at) {
                self.refresh_queue();
            }
            let timer = [
                flush_at,
                escalate.map(|e| e.0),
                timeout_at.filter(|_| !outcome.timed_out && !outcome.interrupted),
                self.queue_dirty,
            ]
            .into_iter()
            .flatten()
            .min();
            let event = match timer {
                Some(at) => match self
                    .rx
                    .recv_timeout(at.saturating_duration_since(Instant::now()))
                {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => {
                        unreachable!("the session holds a sender")
                    }
                },
                None => match self.rx.recv() {
                    Ok(event) => event,
                    Err(_) => unreachable!("the session holds a sender"),
                },
            };
            match event {
                Event::Exited { job: index, exit } if index == job.index => return (exit, outcome),
                Event::Exited { .. } => {}
                Event::QueueChanged => self.mark_dirty(),
                Event::Signal(kind) => {
                    self.on_signal(kind, job, running.as_mut(), &mut outcome, &mut escalate);
                }
            }
        }
    }

    /// The Ctrl-C policy while a module runs (see `signals.rs`).
    fn on_signal(
        &mut self,
        kind: SignalKind,
        job: &Job,
        running: &mut dyn Running,
        outcome: &mut Outcome,
        escalate: &mut Option<(Instant, Stop)>,
    ) {
        let now = Instant::now();
        let grace = self.options.grace;
        if kind == SignalKind::Interrupt && !outcome.interrupted && !self.stop {
            outcome.interrupted = true;
            running.stop(Stop::Interrupt);
            *escalate = Some((now + grace, Stop::Terminate));
            self.message(&format!(
                "interrupted: sent SIGINT to `{}`; Ctrl-C again within {} s of its end stops everything",
                job.name,
                self.options.window.as_secs_f64()
            ));
        } else if !self.stop {
            self.stop = true;
            outcome.interrupted = true;
            running.stop(Stop::Terminate);
            *escalate = Some((now + grace, Stop::Kill));
            self.message(&format!(
                "stopping: sent SIGTERM to `{}`; pending experiments stay in the queue \
                 (Ctrl-C again to kill it now)",
                job.name
            ));
        } else {
            running.stop(Stop::Kill);
            *escalate = None;
            self.message(&format!("stopping: sent SIGKILL to `{}`", job.name));
        }
    }

    /// After an interrupted experiment: a second Ctrl-C within the window
    /// stops everything, otherwise the next experiment starts.
    fn wait_window(&mut self) {
        self.flush();
        let until = Instant::now() + self.options.window;
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            if self.queue_dirty.is_some_and(|at| now >= at) {
                self.refresh_queue();
            }
            let at = self.queue_dirty.map_or(until, |d| d.min(until));
            match self.rx.recv_timeout(at.saturating_duration_since(now)) {
                Ok(Event::Signal(_)) => {
                    self.stop = true;
                    self.message("stopping: pending experiments stay in the queue");
                    return;
                }
                Ok(Event::QueueChanged) => self.mark_dirty(),
                Ok(Event::Exited { .. }) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => unreachable!("the session holds a sender"),
            }
        }
    }

    /// Nothing to run: wait for a queue edit or a signal.
    fn wait_idle(&mut self) {
        self.flush();
        loop {
            let event = match self.queue_dirty {
                Some(at) => match self
                    .rx
                    .recv_timeout(at.saturating_duration_since(Instant::now()))
                {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) => return,
                    Err(RecvTimeoutError::Disconnected) => {
                        unreachable!("the session holds a sender")
                    }
                },
                None => match self.rx.recv() {
                    Ok(event) => event,
                    Err(_) => unreachable!("the session holds a sender"),
                },
            };
            match event {
                Event::Signal(_) => {
                    self.stop = true;
                    return;
                }
                Event::QueueChanged => self.mark_dirty(),
                Event::Exited { .. } => {}
            }
        }
    }

    /// Between experiments: a signal that arrived stops the run (no module
    /// is running to interrupt); change notifications are folded into the
    /// next `peek`.
    fn drain_idle_events(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            if let Event::Signal(_) = event {
                if !self.stop {
                    self.message("stopping: pending experiments stay in the queue");
                }
                self.stop = true;
            }
        }
    }

    /// Make the queue file and the logs durable (see `FLUSH_AFTER`).
    fn flush(&mut self) {
        if let Err(err) = self.queue.flush() {
            self.message(
                "warning: the queue file cannot be updated: stopping after this experiment",
            );
            self.fatal = Some(err);
        }
        for path in std::mem::take(&mut self.unsynced_logs) {
            if let Err(err) = yaml_log::sync(&path) {
                self.message(&format!("warning: {err}"));
            }
        }
        self.flush_reports();
    }

    fn mark_dirty(&mut self) {
        if self.queue_dirty.is_none() {
            self.queue_dirty = Some(Instant::now() + DEBOUNCE);
        }
    }

    fn refresh_queue(&mut self) {
        self.queue_dirty = None;
        self.queue.refresh();
        self.flush_reports();
    }

    fn flush_reports(&mut self) {
        for report in self.queue.take_reports() {
            for observer in &mut self.observers {
                observer.queue_changed(&report);
            }
        }
    }

    fn message(&mut self, text: &str) {
        for observer in &mut self.observers {
            observer.message(text);
        }
    }
}

/// An expansion error of a document taken from the queue, without the
/// experiment-file location (the queue's documents have none).
fn expansion_error(err: &ConfigError) -> String {
    match err {
        ConfigError::Expr {
            location,
            expr,
            source,
        } => format!(
            "failed to expand: key `{}`: failed to evaluate `{expr}`: {source}",
            location.key.as_deref().unwrap_or("?")
        ),
        ConfigError::Invalid { location, message } => match &location.key {
            Some(key) => format!("failed to expand: key `{key}`: {message}"),
            None => format!("failed to expand: {message}"),
        },
        other => format!("failed to expand: {other}"),
    }
}

fn signal_of(how: Stop) -> &'static str {
    match how {
        Stop::Interrupt => "SIGINT",
        Stop::Terminate => "SIGTERM",
        Stop::Kill => "SIGKILL",
    }
}

/// The escalation after `how`: SIGINT → SIGTERM → SIGKILL → nothing.
fn next_step(how: Stop) -> Option<Stop> {
    match how {
        Stop::Interrupt => Some(Stop::Terminate),
        Stop::Terminate => Some(Stop::Kill),
        Stop::Kill => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{mpsc, Arc, Mutex};

    use super::*;
    use crate::config::ExpandOptions;
    use crate::expr::Sandbox;
    use crate::queue::MemoryQueue;
    use crate::runner::mock::{Behavior, MockExecutor};
    use crate::runner::StartError;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<String>>>);

    impl Observer for Capture {
        fn experiment_finished(&mut self, record: &Record) {
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
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new();
        let mut executor = mock.clone();
        let mut queue = MemoryQueue::new(docs);
        let options = SessionOptions {
            fail_fast,
            follow: false,
            grace: Duration::from_millis(60),
            window: Duration::from_millis(80),
            runs_dir: dir.path().join("runs"),
            stamp: "test".to_owned(),
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
            queue.commit(&[]).unwrap();
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
    fn ctrl_c_in_the_window_after_an_interrupted_experiment_stops() {
        let mock = MockExecutor::new().with("a", Behavior::UntilStopped(vec![Stop::Interrupt]));
        let out = run(
            mock,
            vec![exp("a"), exp("b")],
            false,
            &[(30, SignalKind::Interrupt), (60, SignalKind::Interrupt)],
        );
        assert_eq!(out.finished, ["a interrupted"]);
        assert_eq!(out.left, ["b"]);
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
        let err = ConfigError::Expr {
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
            expansion_error(&err).starts_with(
                "failed to expand: key `x`: failed to evaluate `parse nope + 1`: unknown"
            ),
            "{}",
            expansion_error(&err)
        );
    }
}
