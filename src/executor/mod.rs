//! The executor seam: where and how a job runs, not when.
//!
//! The session decides *when* (queue order, Ctrl-C, `--fail-fast`); an
//! executor owns everything about *where*: how many jobs may run now
//! (`capacity`: local slots and GPU leases are one implementation), the
//! job's place (a `Workspace`: run directory, `experiment.json`, the results
//! file, the output tail), enforcing `Timeout`, carrying out stop requests
//! in its own way (locally SIGINT → SIGTERM → SIGKILL to the process group;
//! a cluster executor would map them to its scheduler's commands), and
//! reporting how the job ended as an `ExitReport`, with timings taken where
//! the job ran. Today there is the local executor (`local.rs`) and a mock
//! (`mock.rs`). Completion and notes come back through a `JobEvents`
//! callback, so the session waits on a single channel of events.

mod ladder;
mod lines;
mod local;
#[cfg(test)]
pub(crate) mod mock;
mod slots;
pub(crate) mod slurm;
pub(crate) mod watchdog;
mod workspace;

pub(crate) use local::{LocalExecutor, OutputSink, Stream, Terminal};
pub(crate) use slots::{parse_gpus, Lease, SlotConfig, SlotError, Slots};
pub(crate) use workspace::{is_run_dir, Workspace, WorkspaceConfig};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local};
use yaml_serde::Mapping;

/// One experiment, ready to start.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// Sequence number in this run.
    pub index: usize,
    pub name: String,
    /// The expanded experiment (written to the workspace as JSON).
    pub experiment: Mapping,
    /// `Module`, split as a shell would.
    pub command: Vec<String>,
    /// `Timeout`: the executor stops the job when it runs longer.
    pub timeout: Option<Duration>,
    /// Its identity in the results store, if the run has one.
    pub identity: Option<String>,
}

/// A request to stop a running job, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Stop {
    /// What the person's Ctrl-C means (SIGINT locally).
    Interrupt,
    /// Stop now, cleanly if you can (SIGTERM locally).
    Terminate,
    /// SIGKILL locally.
    Kill,
}

impl Stop {
    /// The next, harsher step: Interrupt → Terminate → Kill → nothing.
    pub(crate) fn next(self) -> Option<Self> {
        match self {
            Self::Interrupt => Some(Self::Terminate),
            Self::Terminate => Some(Self::Kill),
            Self::Kill => None,
        }
    }
}

/// How a process ended, when the executor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

/// Why a job ended, as the place it ran says: a cluster can say more than
/// an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "the scheduler's causes are reported by cluster executors (issue #16)"
)]
pub(crate) enum Cause {
    /// It ended by itself (or of a signal nobody in the runner sent).
    Ended,
    /// The executor stopped it after its `Timeout`.
    Timeout,
    /// It was stopped on the runner's request (Ctrl-C, SIGTERM).
    Stopped,
    /// The scheduler cancelled it (someone else's `scancel`).
    Cancelled,
    /// The scheduler preempted it.
    Preempted,
    /// The node it ran on failed.
    NodeFailure,
    /// It was killed for using more memory than it had.
    OutOfMemory,
}

/// How a job ended, with what it left behind.
#[derive(Debug, Clone)]
pub(crate) struct ExitReport {
    pub cause: Cause,
    /// The exit code or signal, when known.
    pub exit: Option<Exit>,
    /// When it started and how long it ran, measured where it ran.
    pub started_at: DateTime<Local>,
    pub elapsed: Duration,
    /// What the module wrote to its results file (or why it is unreadable).
    pub results: Result<Mapping, String>,
    /// The end of its stderr, unless it ended cleanly.
    pub stderr_tail: Option<String>,
    /// Keys the place it ran adds to its log document (`SLURM_JOB_ID`).
    pub scheduler: Mapping,
}

impl ExitReport {
    /// Exit 0 with readable results, ended by itself.
    pub(crate) fn succeeded(&self) -> bool {
        self.cause == Cause::Ended && self.exit == Some(Exit::Code(0)) && self.results.is_ok()
    }
}

/// What an executor tells the session about a started job, from any thread.
#[derive(Debug)]
pub(crate) enum JobEvent {
    /// Something people should read ("sent SIGTERM").
    Note(String),
    /// The job has ended; sent exactly once, last.
    Ended(Box<ExitReport>),
}

/// The session's end of a job's events: called with the job's index.
pub(crate) type JobEvents = Arc<dyn Fn(usize, JobEvent) + Send + Sync>;

/// Why a job could not be started. It is logged as `failed` with this
/// message and `exit_code`; the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct StartError {
    pub message: String,
    /// 127 for "not found", 126 for "not executable", as shells use.
    pub exit_code: i32,
    /// The workspace, if it was created before the failure.
    pub run_dir: Option<PathBuf>,
}

/// The answer to "may this experiment start now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Capacity {
    /// Yes: the job holds this lease until it ends.
    Now(Lease),
    /// Not now: wait for a running job to end.
    Wait,
    /// Never (more GPUs than the run has).
    Never(SlotError),
}

/// A started job.
pub(crate) struct Launched {
    pub handle: Box<dyn Running>,
    /// A short identifier for messages (the process id locally).
    pub id: String,
    /// Its workspace.
    pub run_dir: PathBuf,
}

/// Runs jobs somewhere.
pub(crate) trait Executor {
    /// Whether `experiment` (the head of the queue, merged over the
    /// defaults) may start now; `GPUs` is read from it.
    fn capacity(&mut self, experiment: &Mapping) -> Capacity;
    /// Whether any job may start now (a free slot).
    fn has_room(&self) -> bool;
    /// Start `job` under `lease`. `events` gets the job's notes and, exactly
    /// once, its end (never if this returns an error; the lease is then
    /// released already).
    fn start(&mut self, job: Job, lease: Lease, events: JobEvents) -> Result<Launched, StartError>;
    /// The job holding `lease` has ended: its capacity is free again.
    fn release(&mut self, lease: &Lease);
    /// Admission stopped (the queue is empty, or the head waits): an
    /// executor that gathers jobs (Slurm's job arrays) submits them now.
    fn admitted(&mut self) {}
}

/// A started job, as the session holds it.
pub(crate) trait Running: Send {
    /// Ask the job to stop; unless it ends, the executor escalates to the
    /// next step after `grace` (and so on up to `Stop::Kill`). Safe to call
    /// after it has ended.
    fn stop(&mut self, how: Stop, grace: Duration);
}
