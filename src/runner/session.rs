//! `Session`: one run of the queue, up to `jobs` experiments at a time.
//!
//! The session owns the scheduling decisions; it waits on a single channel
//! of `Event`s (a module ended, a signal arrived, the queue file changed),
//! so it reacts at once to each without polling. Starting, stopping and
//! where a module runs are the executor's business; slots and GPUs are
//! handed out by `slots.rs`; cached results come from a `RunStore`. The
//! Ctrl-C policy is described in `signals.rs` and implemented in
//! `on_signal` here: with several modules running, each Ctrl-C acts on all
//! of them at once.
//!
//! Experiments are taken from the queue, expanded and started in queue
//! order (so `E` is the same as with one slot); the head of the queue waits
//! for a free slot and enough free GPUs, and nothing overtakes it.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use yaml_serde::{Mapping, Value};

use super::events::{Observer, Started, Summary};
use super::signals::SignalKind;
use super::store_hook::{Lookup, RunStore};
use crate::config::{merge_over, ConfigError, Expander};
use crate::executor::{create_run_dir, name_of, read_results, tail, JobSpec};
use crate::executor::{Executor, Exit, Job, Running, Stop};
use crate::executor::{Lease, SlotConfig, Slots};
use crate::queue::{Peek, Queue, QueueError};
use crate::yaml_log::{self, Record, Status};

/// Something the session reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
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
pub(crate) struct SessionOptions {
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
    /// Parallel slots and GPUs.
    pub slots: SlotConfig,
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
            slots: SlotConfig::default(),
        }
    }
}

/// Why a job ended, besides its exit.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    interrupted: bool,
    timed_out: bool,
}

/// A started module.
struct Active {
    job: Job,
    spec: JobSpec,
    running: Box<dyn Running>,
    lease: Lease,
    started_at: DateTime<Local>,
    clock: Instant,
    timeout_at: Option<Instant>,
    escalate: Option<(Instant, Stop)>,
    outcome: Outcome,
    identity: Option<String>,
    row: Option<i64>,
}

/// What the head of the queue did when the session tried to start it.
enum Head {
    /// Taken (started, cached, skipped or failed early): try the next one.
    Taken,
    /// It waits for a slot or GPUs.
    Wait,
    Empty,
    Invalid,
}

pub(crate) struct Session<'a, 's> {
    options: SessionOptions,
    executor: &'a mut dyn Executor,
    queue: &'a mut dyn Queue,
    expander: Expander<'s>,
    defaults: Mapping,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    observers: Vec<Box<dyn Observer + 'a>>,
    store: Option<Box<dyn RunStore + 'a>>,
    slots: Slots,
    active: Vec<Active>,
    summary: Summary,
    next_index: usize,
    /// The person asked to stop everything.
    stop: bool,
    /// A first Ctrl-C interrupted the running modules: start nothing until
    /// they have ended and the window has passed.
    interrupting: bool,
    /// When to read the queue file again after a change notification.
    queue_dirty: Option<Instant>,
    /// When to make the queue file and logs durable (group commit).
    flush_at: Option<Instant>,
    global_rep: Option<u64>,
    waiting_announced: bool,
    fatal: Option<QueueError>,
    /// Logs appended to since the last flush.
    unsynced_logs: Vec<PathBuf>,
    /// Experiments stopped by the person, put back at the head of the queue
    /// (in queue order) when the run ends.
    requeue: Vec<(usize, Mapping)>,
}

impl<'a, 's> Session<'a, 's> {
    /// `channel` is the session's event channel: hand clones of its sender
    /// to the signal handler and the queue watcher (see `sender`).
    pub(crate) fn new(
        options: SessionOptions,
        executor: &'a mut dyn Executor,
        queue: &'a mut dyn Queue,
        expander: Expander<'s>,
        defaults: Mapping,
        channel: (Sender<Event>, Receiver<Event>),
    ) -> Self {
        Self {
            slots: Slots::new(options.slots.clone()),
            options,
            executor,
            queue,
            expander,
            defaults,
            tx: channel.0,
            rx: channel.1,
            observers: Vec::new(),
            store: None,
            active: Vec::new(),
            summary: Summary::default(),
            next_index: 0,
            stop: false,
            interrupting: false,
            queue_dirty: None,
            flush_at: None,
            global_rep: None,
            waiting_announced: false,
            fatal: None,
            unsynced_logs: Vec::new(),
            requeue: Vec::new(),
        }
    }

    pub(crate) fn add_observer(&mut self, observer: Box<dyn Observer + 'a>) {
        self.observers.push(observer);
    }

    /// Record runs in `store` and skip experiments it has a `done` run of.
    pub(crate) fn set_store(&mut self, store: Box<dyn RunStore + 'a>) {
        self.store = Some(store);
    }

    #[cfg(test)]
    pub(crate) fn sender(&self) -> Sender<Event> {
        self.tx.clone()
    }

    fn halted(&self) -> bool {
        self.stop || self.fatal.is_some() || self.summary.failed_fast
    }

    /// Run until the queue is empty (forever with `follow`), the person
    /// stops it, or `--fail-fast` trips. A queue file that can no longer be
    /// written ends the run with an error, after the running experiments.
    pub(crate) fn run(mut self) -> Result<Summary, QueueError> {
        let started = Instant::now();
        loop {
            let head = if self.halted() || self.interrupting {
                Head::Wait
            } else {
                self.fill()
            };
            if !self.active.is_empty() {
                self.step();
                continue;
            }
            if self.interrupting {
                self.interrupting = false;
                self.wait_window();
                continue;
            }
            if self.halted() {
                break;
            }
            match head {
                Head::Taken | Head::Wait => {}
                Head::Empty if !self.options.follow => break,
                Head::Empty => {
                    if !self.waiting_announced {
                        self.message(
                            "queue: empty; waiting for new experiments (--follow); Ctrl-C to stop",
                        );
                        self.waiting_announced = true;
                    }
                    self.wait_idle();
                }
                Head::Invalid => self.wait_idle(),
            }
        }
        self.summary.stopped = self.stop;
        if !self.requeue.is_empty() {
            // Stopped, not skipped: they run again when the queue is resumed.
            let mut requeue = std::mem::take(&mut self.requeue);
            requeue.sort_by_key(|r| r.0);
            let docs: Vec<Mapping> = requeue.into_iter().map(|r| r.1).collect();
            if let Err(err) = self.queue.push_front(&docs) {
                self.message(&format!("warning: {err}"));
            }
        }
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

    /// Start experiments from the head of the queue while slots are free.
    fn fill(&mut self) -> Head {
        loop {
            if self.active.is_empty() {
                self.drain_idle_events();
            }
            if self.halted() || self.interrupting {
                return Head::Wait;
            }
            if !self.slots.has_free_slot() {
                return Head::Wait;
            }
            self.queue_dirty = None;
            let peek = self.queue.peek();
            self.flush_reports();
            match peek {
                Peek::Next(doc) => {
                    self.waiting_announced = false;
                    if let Head::Wait = self.take(&doc) {
                        return Head::Wait;
                    }
                }
                Peek::Empty => return Head::Empty,
                Peek::Invalid => return Head::Invalid,
            }
        }
    }

    /// Take `doc` from the queue: expand, look up the cache, start.
    fn take(&mut self, doc: &crate::queue::QueueEntry) -> Head {
        // `GPUs` is read before expansion (it decides whether the head can
        // start now), so it is a plain integer, not a `parse` expression.
        let wanted = self.slots.wanted(&merge_over(doc, &self.defaults));
        let lease = match &wanted {
            Ok(gpus) => match self.slots.try_acquire(*gpus) {
                Some(lease) => Some(lease),
                None => return Head::Wait,
            },
            Err(_) => None,
        };
        if let Some(rep) = doc.get("GLOBAL_REP").and_then(Value::as_u64) {
            if self.global_rep != Some(rep) {
                self.expander.start_global_rep(rep);
                self.global_rep = Some(rep);
            }
        }
        let release = |slots: &mut Slots, lease: &Option<Lease>| {
            if let Some(lease) = lease {
                slots.release(lease);
            }
        };
        let mut expanded = match self.expander.expand_queued(doc) {
            Ok(expanded) => expanded,
            Err(err) => {
                release(&mut self.slots, &lease);
                self.commit(&[]);
                let experiment = merge_over(doc, &self.defaults);
                self.fail_early(experiment, expansion_error(&err), None, None);
                return Head::Taken;
            }
        };
        let rest = expanded.split_off(1.min(expanded.len()));
        let Some(experiment) = expanded.pop() else {
            release(&mut self.slots, &lease);
            self.commit(&rest);
            return Head::Taken;
        };
        let spec = match JobSpec::from_experiment(&experiment) {
            Ok(spec) => spec,
            Err(err) => {
                release(&mut self.slots, &lease);
                self.commit(&rest);
                self.fail_early(experiment, err, None, None);
                return Head::Taken;
            }
        };
        if spec.skip {
            release(&mut self.slots, &lease);
            self.commit(&rest);
            self.summary.skipped += 1;
            for observer in &mut self.observers {
                observer.experiment_skipped(&spec.name);
            }
            return Head::Taken;
        }
        let lease = match (wanted, lease) {
            (Ok(_), Some(lease)) => lease,
            (Err(err), _) => {
                self.commit(&rest);
                self.fail_early(experiment, err.to_string(), None, None);
                return Head::Taken;
            }
            (Ok(_), None) => unreachable!("a lease is acquired when `GPUs` is valid"),
        };
        let identity = match self.store.as_mut().map(|store| store.lookup(&experiment)) {
            Some(Lookup::Cached(document)) => {
                self.slots.release(&lease);
                self.commit(&rest);
                self.cached(&spec, document);
                return Head::Taken;
            }
            Some(Lookup::Run(identity)) => Some(identity),
            Some(Lookup::Unknown(warning)) => {
                self.message(&format!("warning: {warning}"));
                None
            }
            None => None,
        };
        self.start(experiment, spec, lease, identity, &rest);
        Head::Taken
    }

    /// Create the run directory and start the module.
    fn start(
        &mut self,
        experiment: Mapping,
        spec: JobSpec,
        lease: Lease,
        identity: Option<String>,
        rest: &[Mapping],
    ) {
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
                self.slots.release(&lease);
                self.commit(rest);
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
            env: lease.env(self.slots.uses_gpus()),
        };
        let written = serde_json::to_vec_pretty(&job.experiment)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(&job.experiment_file, json).map_err(|e| e.to_string()));
        if let Err(err) = written {
            self.slots.release(&lease);
            self.commit(rest);
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
                self.slots.release(&lease);
                self.commit(rest);
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
        self.commit(rest);
        let id = running.id();
        let row = match (&mut self.store, &identity) {
            (Some(store), Some(identity)) => match store.started(identity, &job, &id, lease.slot) {
                Ok(row) => row,
                Err(err) => {
                    self.message(&format!("warning: {err}"));
                    None
                }
            },
            _ => None,
        };
        let started = Started {
            index,
            name: &job.name,
            run_dir: &job.run_dir,
            id: &id,
            pending: self.queue.pending(),
            slot: lease.slot,
            running: self.active.len() + 1,
        };
        for observer in &mut self.observers {
            observer.experiment_started(&started);
        }
        if self.flush_at.is_none() {
            self.flush_at = Some(clock + FLUSH_AFTER);
        }
        self.active.push(Active {
            timeout_at: job.timeout.map(|t| clock + t),
            job,
            spec,
            running,
            lease,
            started_at,
            clock,
            escalate: None,
            outcome: Outcome::default(),
            identity,
            row,
        });
    }

    /// A module ended: read its results, log it, free its slot.
    fn ended(&mut self, active: Active, exit: Exit) {
        let Active {
            job,
            spec,
            lease,
            started_at,
            clock,
            outcome,
            identity,
            row,
            ..
        } = active;
        self.slots.release(&lease);
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
            index: job.index,
            name: job.name.clone(),
            experiment: job.experiment,
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
        if let (Some(store), Some(identity)) = (&mut self.store, &identity) {
            if let Err(err) = store.finished(row, identity, &record) {
                self.message(&format!("warning: {err}"));
            }
        }
        self.finish(&record);
        if self.stop {
            self.requeue.push((record.index, record.experiment));
        }
    }

    /// Log an experiment whose result is cached instead of running it.
    fn cached(&mut self, spec: &JobSpec, mut document: Mapping) {
        document.insert(Value::from("CACHED"), Value::Bool(true));
        if let Some(path) = &spec.log {
            self.append_log(path, &document);
        }
        self.summary.cached += 1;
        for observer in &mut self.observers {
            observer.experiment_cached(&spec.name, &document);
        }
    }

    fn append_log(&mut self, path: &PathBuf, document: &Mapping) {
        match yaml_log::append(path, document) {
            Ok(()) if !self.unsynced_logs.contains(path) => {
                self.unsynced_logs.push(path.clone());
            }
            Ok(()) => {}
            Err(err) => self.message(&format!("warning: {err}")),
        }
    }

    /// Remove the peeked document from the queue, putting `rest` in its place.
    fn commit(&mut self, rest: &[Mapping]) {
        if let Err(err) = self.queue.commit(rest) {
            // Reported once, as the run's error, when the run ends.
            self.message(
                "warning: the queue file cannot be updated: stopping after the running experiments",
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
            self.append_log(path, &record.document());
        }
        self.summary.count(record.status);
        for observer in &mut self.observers {
            observer.experiment_finished(record);
        }
        if record.status.is_failure() && self.options.fail_fast && !self.summary.failed_fast {
            self.summary.failed_fast = true;
            self.message("stopping: an experiment failed and `--fail-fast` is set");
        }
    }

    /// With modules running: act on due timers (escalation, timeouts, group
    /// commit, queue edits), then wait for one event and handle it.
    fn step(&mut self) {
        let now = Instant::now();
        let grace = self.options.grace;
        if self.flush_at.is_some_and(|at| now >= at) {
            self.flush_at = None;
            self.flush();
        }
        let mut messages = Vec::new();
        for active in &mut self.active {
            if let Some((at, how)) = active.escalate {
                if now >= at {
                    active.running.stop(how);
                    messages.push(format!(
                        "`{}` is still running: sent {}",
                        active.job.name,
                        signal_of(how)
                    ));
                    active.escalate = next_step(how).map(|next| (now + grace, next));
                }
            }
            if let Some(at) = active.timeout_at {
                if now >= at && !active.outcome.timed_out && !active.outcome.interrupted {
                    active.outcome.timed_out = true;
                    active.running.stop(Stop::Terminate);
                    messages.push(format!(
                        "`{}` ran longer than its `Timeout`: sent SIGTERM",
                        active.job.name
                    ));
                    active.escalate = Some((now + grace, Stop::Kill));
                }
            }
        }
        for message in messages {
            self.message(&message);
        }
        if self.queue_dirty.is_some_and(|at| now >= at) {
            self.refresh_queue();
        }
        let timer = self
            .active
            .iter()
            .flat_map(|a| {
                [
                    a.escalate.map(|e| e.0),
                    a.timeout_at
                        .filter(|_| !a.outcome.timed_out && !a.outcome.interrupted),
                ]
            })
            .chain([self.flush_at, self.queue_dirty])
            .flatten()
            .min();
        let Some(event) = self.next_event(timer) else {
            return;
        };
        match event {
            Event::Exited { job, exit } => {
                if let Some(at) = self.active.iter().position(|a| a.job.index == job) {
                    let active = self.active.remove(at);
                    self.ended(active, exit);
                }
            }
            Event::QueueChanged => self.mark_dirty(),
            Event::Signal(kind) => self.on_signal(kind),
        }
    }

    /// The Ctrl-C policy while modules run (see `signals.rs`): each signal
    /// acts on every running module at once.
    fn on_signal(&mut self, kind: SignalKind) {
        let now = Instant::now();
        let grace = self.options.grace;
        let names = self
            .active
            .iter()
            .map(|a| format!("`{}`", a.job.name))
            .collect::<Vec<_>>()
            .join(", ");
        if kind == SignalKind::Interrupt && !self.interrupting && !self.stop {
            self.interrupting = true;
            for active in &mut self.active {
                active.outcome.interrupted = true;
                active.running.stop(Stop::Interrupt);
                active.escalate = Some((now + grace, Stop::Terminate));
            }
            self.message(&format!(
                "interrupted: sent SIGINT to {names}; Ctrl-C again within {} s of their end                  stops everything",
                self.options.window.as_secs_f64()
            ));
        } else if !self.stop {
            self.stop = true;
            for active in &mut self.active {
                active.outcome.interrupted = true;
                active.running.stop(Stop::Terminate);
                active.escalate = Some((now + grace, Stop::Kill));
            }
            self.message(&format!(
                "stopping: sent SIGTERM to {names}; pending experiments stay in the queue                  (Ctrl-C again to kill now)"
            ));
        } else {
            for active in &mut self.active {
                active.running.stop(Stop::Kill);
                active.escalate = None;
            }
            self.message(&format!("stopping: sent SIGKILL to {names}"));
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
            match self.next_event(Some(at)) {
                Some(Event::Signal(_)) => {
                    self.stop = true;
                    self.message("stopping: pending experiments stay in the queue");
                    return;
                }
                Some(Event::QueueChanged) => self.mark_dirty(),
                Some(Event::Exited { .. }) | None => {}
            }
        }
    }

    /// The next event, or `None` once `deadline` has passed.
    fn next_event(&self, deadline: Option<Instant>) -> Option<Event> {
        match deadline {
            Some(at) => match self
                .rx
                .recv_timeout(at.saturating_duration_since(Instant::now()))
            {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    unreachable!("the session holds a sender")
                }
            },
            None => match self.rx.recv() {
                Ok(event) => Some(event),
                Err(_) => unreachable!("the session holds a sender"),
            },
        }
    }

    /// Nothing to run: wait for a queue edit or a signal.
    fn wait_idle(&mut self) {
        self.flush();
        loop {
            let Some(event) = self.next_event(self.queue_dirty) else {
                return;
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
    use crate::executor::mock::{Behavior, MockExecutor};
    use crate::executor::StartError;
    use crate::expr::Sandbox;
    use crate::queue::MemoryQueue;

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
        run_with(mock, docs, fail_fast, signals, SlotConfig::default())
    }

    fn run_with(
        mock: MockExecutor,
        docs: Vec<Mapping>,
        fail_fast: bool,
        signals: &[(u64, SignalKind)],
        slots: SlotConfig,
    ) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new();
        let mut executor = mock.clone();
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
            runs_dir: dir.path().join("runs"),
            stamp: "test".to_owned(),
            slots,
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
}
