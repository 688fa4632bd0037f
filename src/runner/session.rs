//! `Session`: one run of the queue, up to the executor's capacity at a time.
//!
//! A state machine (`state.rs`) driven by one loop: admit experiments from
//! the head of the queue while the state and the executor allow
//! (`admission.rs`), then wait for one `Event` (a job's note or end, a
//! signal, a queue edit) or a timer (group commit, queue debounce, the
//! Ctrl-C window) and handle it in `handle`. Where and how jobs run is the
//! executor's business; what happens is told to the observers (log writer,
//! store, notifier, progress), each experiment's record built once.

use std::path::PathBuf;

use rustc_hash::FxHashMap as HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Local;
use yaml_serde::{Mapping, Value};

use super::admission::{Admission, Admitter, Ready};
use super::events::{Cached, Observer, Observers, Started, Summary};
use super::outcome;
use super::signals::SignalKind;
use super::state::{Action, Reason, State};
use super::store_hook::RunStore;
use crate::config::Expander;
use crate::executor::{Executor, ExitReport, Job, JobEvent, JobEvents, Lease, Running, Stop};
use crate::model::{keys, name_of, JobSpec};
use crate::queue::{Launch, ParkId, Peek, Queue, QueueError, Ticket};
use crate::yaml_log::{Record, Status};

#[path = "retry.rs"]
pub(crate) mod retry;

/// Something the session reacts to.
#[derive(Debug)]
pub(crate) enum Event {
    /// News of the job with this index.
    Job {
        index: usize,
        event: JobEvent,
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

/// Settings of a session.
#[derive(Debug, Clone)]
pub(crate) struct SessionOptions {
    /// Stop at the first failed or timed-out experiment.
    pub fail_fast: bool,
    /// Wait for new experiments when the queue is empty.
    pub follow: bool,
    /// Time between the steps of the stop ladder (SIGINT, SIGTERM, SIGKILL).
    pub grace: Duration,
    /// After an interrupted experiment ends, how long a second Ctrl-C
    /// stops everything before the next experiment starts.
    pub window: Duration,
    /// `run --detach`: end once every experiment is handed to the
    /// executor (a cluster's queue), without waiting for them.
    pub detach: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            fail_fast: false,
            follow: false,
            grace: Duration::from_secs(5),
            window: Duration::from_secs(2),
            detach: false,
        }
    }
}

/// A started job.
struct Active {
    index: usize,
    name: String,
    experiment: Mapping,
    spec: JobSpec,
    handle: Box<dyn Running>,
    lease: Lease,
    run_dir: PathBuf,
    identity: Option<String>,
    /// The queue holds it as running (a queue file, in its journal) until
    /// it is finished or requeued.
    ticket: Option<Ticket>,
    /// The runner sent it a stop (Ctrl-C, SIGTERM).
    stopped: bool,
}

/// What the head of the queue is, when nothing more can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// It waits (for a slot, GPUs, or the state).
    Busy,
    Empty,
    /// The queue file cannot be read: wait for an edit.
    Invalid,
}

/// The session's timers besides the state's own.
#[derive(Debug, Default)]
struct Timers {
    /// When to read the queue file again after a change notification.
    queue_dirty: Option<Instant>,
    /// When to make the queue file and logs durable (group commit).
    flush_at: Option<Instant>,
}

pub(crate) struct Session<'a, 's> {
    options: SessionOptions,
    executor: &'a mut dyn Executor,
    queue: &'a mut dyn Queue,
    admitter: Admitter<'s>,
    store: Option<Box<dyn RunStore + 'a>>,
    observers: Observers<'a>,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    state: State,
    active: Vec<Active>,
    summary: Summary,
    next_index: usize,
    timers: Timers,
    waiting_announced: bool,
    fatal: Option<QueueError>,
    /// Experiments the runner stopped (by index): put back at the head of
    /// the queue, in queue order, if the run ends stopped; finished when
    /// the Ctrl-C window closes and the run goes on.
    interrupted: Vec<(usize, Ticket)>,
    /// Pipelines: queued experiments left in the queue until these end.
    parked: HashMap<super::awaits::Node, Vec<ParkId>>,
}

impl<'a, 's> Session<'a, 's> {
    /// `channel` is the session's event channel: hand clones of its sender
    /// to the signal handler and the queue watcher.
    pub(crate) fn new(
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
            admitter: Admitter::new(expander, defaults),
            store: None,
            observers: Observers::default(),
            tx: channel.0,
            rx: channel.1,
            state: State::Running,
            active: Vec::new(),
            summary: Summary::default(),
            next_index: 0,
            timers: Timers::default(),
            waiting_announced: false,
            fatal: None,
            interrupted: Vec::new(),
            parked: HashMap::default(),
        }
    }

    /// Pipelines: `E` of the expansion, one history per global repetition,
    /// in which the experiments that wait are evaluated.
    pub(crate) fn set_histories(&mut self, histories: Vec<crate::expr::History>) {
        self.admitter.dependencies = super::awaits::Dependencies::new(histories);
    }

    pub(crate) fn add_observer(&mut self, observer: Box<dyn Observer + 'a>) {
        self.observers.add(observer);
    }

    /// Skip experiments `store` has a `done` run of.
    pub(crate) fn set_store(&mut self, store: Box<dyn RunStore + 'a>) {
        self.store = Some(store);
    }

    #[cfg(test)]
    pub(crate) fn sender(&self) -> Sender<Event> {
        self.tx.clone()
    }

    /// Run until the queue is empty (forever with `follow`), the person
    /// stops it, or `--fail-fast` trips. A queue file that can no longer be
    /// written ends the run with an error, after the running experiments.
    pub(crate) fn run(mut self) -> Result<Summary, QueueError> {
        let started = Instant::now();
        loop {
            let head = self.admit();
            self.admitter.dependencies.no_orphans();
            // A batching executor (Slurm) submits what was admitted.
            self.executor.admitted();
            if self.options.detach && head == Head::Empty && self.state == State::Running {
                break;
            }
            if self.active.is_empty() && head == Head::Empty && self.orphans() {
                continue;
            }
            if self.active.is_empty() {
                match (self.state, head) {
                    (State::Stopping(_), _) => break,
                    (State::Running, Head::Empty) if !self.options.follow => break,
                    (State::Running, Head::Empty) if !self.waiting_announced => {
                        self.waiting_announced = true;
                        self.observers.message(
                            "queue: empty; waiting for new experiments (--follow); Ctrl-C to stop",
                        );
                    }
                    _ => {}
                }
                // Nothing runs: make everything durable before waiting.
                self.flush();
            }
            let deadline = [
                self.timers.flush_at,
                self.timers.queue_dirty,
                self.state.deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            if let Some(event) = self.next_event(deadline) {
                self.handle(event);
            }
            self.on_timers(Instant::now());
        }
        self.finish_run(started)
    }

    /// Start experiments from the head of the queue while the state and the
    /// executor allow; events that arrived already are handled first (a
    /// Ctrl-C between two experiments stops the run before the next).
    fn admit(&mut self) -> Head {
        loop {
            while let Ok(event) = self.rx.try_recv() {
                self.handle(event);
            }
            self.wake();
            if !self.state.admits() || !self.executor.has_room() {
                return Head::Busy;
            }
            self.timers.queue_dirty = None;
            let peek = self.queue.peek();
            self.report_queue();
            let doc = match peek {
                Peek::Next(doc) => doc,
                Peek::Empty => return Head::Empty,
                Peek::Invalid => return Head::Invalid,
            };
            self.waiting_announced = false;
            let decision =
                self.admitter
                    .admit(&doc, &mut *self.executor, self.store.as_deref_mut());
            if let Some(warning) = decision.warning {
                self.observers.message(&format!("warning: {warning}"));
            }
            let rest = decision.rest;
            match decision.admission {
                Admission::Wait => return Head::Busy,
                Admission::Park(nodes) => {
                    let Some(id) = self.queue.park() else {
                        return Head::Busy;
                    };
                    for node in nodes {
                        self.parked.entry(node).or_default().push(id);
                    }
                }
                Admission::Skipped { experiment, error } => {
                    self.commit(&rest, None);
                    self.log_unrun(experiment, error, Status::Skipped, (None, None));
                }
                Admission::Start(ready) => self.start(*ready, Some(&rest), None),
                Admission::Cached { spec, document } => {
                    if self.cached(&spec, document) {
                        self.commit(&rest, None);
                    }
                }
                Admission::Skip { name } => {
                    self.commit(&rest, None);
                    self.summary.skipped += 1;
                    self.observers.each(|o| o.experiment_skipped(&name));
                }
                Admission::Fail { experiment, error } => {
                    self.commit(&rest, None);
                    self.fail_early(experiment, error, None, None);
                }
            }
        }
    }

    /// Pipelines: what waited for experiments that ended since is peeked
    /// at again, in queue order.
    fn wake(&mut self) {
        for node in self.admitter.dependencies.take_ended() {
            if let Some(ids) = self.parked.remove(&node) {
                self.queue.unpark(&ids);
            }
        }
    }

    /// Nothing runs and only parked experiments are left: what they wait
    /// for will never end (removed from the queue, or never queued), so
    /// they are peeked at once more and fail. Whether there were any.
    fn orphans(&mut self) -> bool {
        if self.parked.is_empty() || !self.state.admits() {
            return false;
        }
        self.parked.clear();
        self.admitter.dependencies.orphans();
        self.queue.unpark_all();
        true
    }

    /// Hand a ready experiment to the executor.
    fn start(&mut self, ready: Ready, rest: Option<&[Mapping]>, carried: Option<Ticket>) {
        let Ready {
            experiment,
            spec,
            lease,
            identity,
        } = ready;
        let index = self.next_index;
        self.next_index += 1;
        let job = Job {
            index,
            name: spec.name.clone(),
            experiment: experiment.clone(),
            command: spec.command.clone(),
            timeout: spec.timeout,
            identity: identity.clone(),
        };
        let tx = self.tx.clone();
        let events: JobEvents = Arc::new(move |index, event| {
            let _ = tx.send(Event::Job { index, event });
        });
        let slot = lease.slot;
        let launched = self.executor.start(job, lease.clone(), events);
        // Only now does the experiment leave the queue (SPEC §4); a queue
        // file keeps it as running until it ends. A retry carries the
        // ticket of its first attempt.
        let ticket = match rest {
            Some(rest) => {
                let launch = launched.as_ref().ok().map(|l| Launch {
                    experiment: &experiment,
                    run_dir: &l.run_dir,
                });
                self.commit(rest, launch)
            }
            None => carried,
        };
        let launched = match launched {
            Ok(launched) => launched,
            Err(err) => {
                if let (None, Some(ticket)) = (rest, ticket) {
                    self.finished(ticket);
                }
                let exit_code = Some(err.exit_code);
                self.fail_early(experiment, err.message, exit_code, err.run_dir);
                return;
            }
        };
        let started = Started {
            index,
            name: &spec.name,
            run_dir: &launched.run_dir,
            id: &launched.id,
            pending: self.queue.pending(),
            slot,
            running: self.active.len() + 1,
            experiment: &experiment,
            identity: identity.as_deref(),
            log: spec.log.as_deref(),
        };
        self.observers.each(|o| o.experiment_started(&started));
        if self.timers.flush_at.is_none() {
            self.timers.flush_at = Some(Instant::now() + FLUSH_AFTER);
        }
        self.active.push(Active {
            index,
            name: spec.name.clone(),
            experiment,
            spec,
            handle: launched.handle,
            lease,
            run_dir: launched.run_dir,
            identity,
            ticket,
            stopped: false,
        });
    }

    /// The one place where events are handled.
    fn handle(&mut self, event: Event) {
        match event {
            Event::Job {
                event: JobEvent::Note(text),
                ..
            } => self.observers.message(&text),
            Event::Job {
                index,
                event: JobEvent::Ended(report),
            } => {
                if let Some(at) = self.active.iter().position(|a| a.index == index) {
                    let active = self.active.remove(at);
                    self.ended(active, &report);
                }
                if self.active.is_empty() {
                    self.state.idle(Instant::now(), self.options.window);
                }
            }
            Event::QueueChanged => {
                if self.timers.queue_dirty.is_none() {
                    self.timers.queue_dirty = Some(Instant::now() + DEBOUNCE);
                }
            }
            Event::Signal(kind) => self.on_signal(kind),
        }
    }

    fn on_timers(&mut self, now: Instant) {
        if self.timers.flush_at.is_some_and(|at| now >= at) {
            self.flush();
        }
        if self.timers.queue_dirty.is_some_and(|at| now >= at) {
            self.timers.queue_dirty = None;
            self.queue.refresh();
            self.report_queue();
        }
        self.state.tick(now);
        if self.state.admits() {
            // The Ctrl-C window closed and the run goes on: the
            // experiments it interrupted stay interrupted.
            for (_, ticket) in std::mem::take(&mut self.interrupted) {
                self.finished(ticket);
            }
        }
    }

    /// The Ctrl-C policy (`state.rs`): each signal acts on every running
    /// module at once.
    fn on_signal(&mut self, kind: SignalKind) {
        let was_stopped = self.state.reason() == Some(Reason::Stopped);
        let names = self
            .active
            .iter()
            .map(|a| format!("`{}`", a.name))
            .collect::<Vec<_>>()
            .join(", ");
        let how = match self.state.signal(kind, !self.active.is_empty()) {
            Action::Stop if was_stopped => return,
            Action::Stop => {
                self.observers
                    .message("stopping: pending experiments are not started; rerun to do them");
                return;
            }
            Action::StopAll(how) => how,
        };
        for active in &mut self.active {
            active.handle.stop(how, self.options.grace);
            active.stopped = true;
        }
        let text = match how {
            Stop::Interrupt => format!(
                "interrupted: sent SIGINT to {names}; Ctrl-C again within {} s of their end \
                 stops everything",
                self.options.window.as_secs_f64()
            ),
            Stop::Terminate => format!(
                "stopping: sent SIGTERM to {names}; pending experiments are not started, \
                 rerun to do them (Ctrl-C again to kill now)"
            ),
            Stop::Kill => format!("stopping: sent SIGKILL to {names}"),
        };
        self.observers.message(&text);
    }

    /// A job ended: free its capacity and record it.
    fn ended(&mut self, active: Active, report: &ExitReport) {
        self.executor.release(&active.lease);
        let next = retry::next_attempt(&active.experiment);
        let record = outcome::record(
            active.index,
            active.experiment,
            &active.spec,
            report,
            active.run_dir,
        );
        if self.retry(
            next,
            active.spec,
            active.identity.clone(),
            active.ticket,
            &record,
        ) {
            return;
        }
        let (record, recorded) = self.finish_as(record, active.identity.as_deref());
        match active.ticket {
            // Ended by the runner's stop (not done before it took effect),
            // or not logged (a full disk): back in the queue at the end.
            Some(ticket)
                if !recorded || (active.stopped && record.status == Status::Interrupted) =>
            {
                self.interrupted.push((record.index, ticket));
            }
            Some(ticket) => self.finished(ticket),
            None => {}
        }
    }

    /// Tell the queue an experiment ended for good.
    fn finished(&mut self, ticket: Ticket) {
        if let Err(err) = self.queue.finished(ticket) {
            self.queue_broken(err, "after the running experiments");
        }
    }

    /// Log an experiment whose result is cached instead of running it;
    /// false if its log document could not be written (it stays queued).
    fn cached(&mut self, spec: &JobSpec, mut document: Mapping) -> bool {
        document.insert(Value::from(keys::CACHED), Value::Bool(true));
        self.summary.cached += 1;
        let cached = Cached {
            name: &spec.name,
            document: &document,
            log: spec.log.as_deref(),
        };
        self.observers.each(|o| o.experiment_cached(&cached));
        let failure = self.observers.take_failure();
        failure.map(|f| self.unrecorded(&spec.name, &f)).is_none()
    }

    /// Log and announce an experiment that could not be started.
    fn fail_early(
        &mut self,
        experiment: Mapping,
        error: String,
        exit_code: Option<i32>,
        run_dir: Option<PathBuf>,
    ) {
        self.log_unrun(experiment, error, Status::Failed, (exit_code, run_dir));
    }

    /// Log and announce an experiment that is not run, with `status`:
    /// failed (it could not be started), skipped (what it waited for did
    /// not end `done`).
    fn log_unrun(
        &mut self,
        experiment: Mapping,
        error: String,
        status: Status,
        (exit_code, run_dir): (Option<i32>, Option<PathBuf>),
    ) {
        let now = Local::now();
        let log = match experiment.get(keys::YAML_LOG) {
            Some(Value::String(path)) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => None,
        };
        self.finish(Record {
            index: self.next_index,
            name: name_of(&experiment),
            experiment,
            results: Mapping::new(),
            status,
            exit_code,
            signal: None,
            started_at: now,
            finished_at: now,
            elapsed: Duration::ZERO,
            run_dir,
            error: Some(error),
            stderr_tail: None,
            log,
            scheduler: Mapping::new(),
        });
    }

    /// Tell the observers about a finished experiment (its log document is
    /// built here, once) and count it.
    /// Also says whether every observer recorded it (a log on a full disk
    /// does not: the run then stops, see `unrecorded`).
    fn finish(&mut self, record: Record) -> (Record, bool) {
        self.finish_as(record, None)
    }

    /// [`Session::finish`] of a run recorded under `identity` in the store.
    fn finish_as(&mut self, record: Record, identity: Option<&str>) -> (Record, bool) {
        let document = record.document();
        self.observers
            .each(|o| o.experiment_finished(&record, &document));
        self.admitter.dependencies.ended(
            &record.experiment,
            Some(record.status),
            &document,
            identity,
        );
        let failure = self.observers.take_failure();
        if let Some(failure) = &failure {
            self.unrecorded(&record.name, failure);
        }
        self.summary.count(record.status);
        if record.status.is_failure() && self.options.fail_fast && !self.summary.failed_fast {
            self.summary.failed_fast = true;
            self.state.stop(Reason::FailedFast);
            self.observers
                .message("stopping: an experiment failed and `--fail-fast` is set");
        }
        (record, failure.is_none())
    }

    /// An observer could not record `name` (its log is on a full disk):
    /// nothing new starts, and the run exits with status 1.
    fn unrecorded(&mut self, name: &str, failure: &str) {
        self.summary.unrecorded += 1;
        self.state.stop(Reason::LogBroken);
        self.observers.message(&format!(
            "error: {failure}; stopping: `{name}` stays in the queue, nothing new starts"
        ));
    }

    /// Remove the peeked document from the queue, putting `rest` in its
    /// place; `started` is the experiment started from it.
    fn commit(&mut self, rest: &[Mapping], started: Option<Launch<'_>>) -> Option<Ticket> {
        match self.queue.commit(rest, started) {
            Ok(ticket) => ticket,
            Err(err) => {
                self.queue_broken(err, "after the running experiments");
                None
            }
        }
    }

    /// Reported once, as the run's error, when the run ends.
    fn queue_broken(&mut self, err: QueueError, when: &str) {
        self.observers.message(&format!(
            "warning: the queue file cannot be updated: stopping {when}"
        ));
        self.fatal = Some(err);
        self.state.stop(Reason::QueueBroken);
    }

    /// Make the queue file and the logs durable (see `FLUSH_AFTER`).
    fn flush(&mut self) {
        self.timers.flush_at = None;
        if let Err(err) = self.queue.flush() {
            self.queue_broken(err, "after this experiment");
        }
        self.observers.each(|o| o.checkpoint());
        self.report_queue();
    }

    fn report_queue(&mut self) {
        for report in self.queue.take_reports() {
            self.observers.each(|o| o.queue_changed(&report));
        }
    }

    /// The next event, or `None` once `deadline` has passed.
    fn next_event(&self, deadline: Option<Instant>) -> Option<Event> {
        let result = match deadline {
            Some(at) => self
                .rx
                .recv_timeout(at.saturating_duration_since(Instant::now())),
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match result {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => unreachable!("the session holds a sender"),
        }
    }

    /// Put stopped experiments back, flush, and tell the observers.
    fn finish_run(mut self, started: Instant) -> Result<Summary, QueueError> {
        self.summary.stopped = self.state.reason() == Some(Reason::Stopped);
        let mut interrupted = std::mem::take(&mut self.interrupted);
        if self.state.reason().is_some() && !interrupted.is_empty() {
            // Stopped by the runner, not done: they run again, first, when
            // the queue is resumed.
            interrupted.sort_by_key(|r| r.0);
            let tickets: Vec<Ticket> = interrupted.into_iter().map(|r| r.1).collect();
            if let Err(err) = self.queue.requeue(&tickets) {
                self.observers.message(&format!("warning: {err}"));
            }
        } else {
            for (_, ticket) in interrupted {
                self.finished(ticket);
            }
        }
        self.flush();
        let finish = self.queue.finish(self.options.follow);
        self.report_queue();
        self.summary.pending = self.queue.pending();
        self.summary.elapsed = started.elapsed();
        let summary = self.summary.clone();
        self.observers.each(|o| o.queue_finished(&summary));
        if let Some(err) = self.fatal.take() {
            return Err(err);
        }
        finish?;
        Ok(summary)
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
