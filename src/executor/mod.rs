//! The executor seam: how a job is started and stopped, not when.
//!
//! The session decides *when* (scheduling, Ctrl-C, timeouts); an executor
//! only knows *how* to start a job somewhere and send it a stop request.
//! Today there is the local one (`process.rs`) and a mock (`mock.rs`); a
//! Slurm executor would implement `start` with `sbatch` and `stop` with
//! `scancel`, and parallel slots are several `Running` handles at once.
//! Completion is reported through the `on_exit` callback rather than by
//! polling, so the session waits on a single channel of events.

mod local;
#[cfg(test)]
pub(crate) mod mock;
mod slots;
mod workspace;

pub(crate) use local::{LocalExecutor, OutputSink, Stream, Terminal};
pub(crate) use slots::{parse_gpus, Lease, SlotConfig, Slots};
pub(crate) use workspace::tail;
pub(crate) use workspace::{create_run_dir, name_of, read_results, JobSpec};

use std::path::PathBuf;
use std::time::Duration;

use yaml_serde::Mapping;

/// One experiment, ready to start.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// Sequence number in this run.
    pub index: usize,
    pub name: String,
    /// The expanded experiment (written to `experiment_file` as JSON).
    pub experiment: Mapping,
    /// `Module`, split as a shell would.
    pub command: Vec<String>,
    pub timeout: Option<Duration>,
    pub run_dir: PathBuf,
    /// `COOL_RUNNER_EXPERIMENT`
    pub experiment_file: PathBuf,
    /// `COOL_RUNNER_RESULTS`
    pub results_file: PathBuf,
    /// Extra environment (`COOL_RUNNER_SLOT`, `CUDA_VISIBLE_DEVICES`).
    pub env: Vec<(String, String)>,
}

/// A request to stop a running job, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Stop {
    /// SIGINT: what the person's Ctrl-C means.
    Interrupt,
    /// SIGTERM: stop now, cleanly if you can.
    Terminate,
    /// SIGKILL.
    Kill,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

/// Called once, from any thread, when the job has ended.
pub(crate) type OnExit = Box<dyn FnOnce(Exit) + Send>;

/// Why a job could not be started. It is logged as `failed` with this
/// message and `exit_code`; the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct StartError {
    pub message: String,
    /// 127 for "not found", 126 for "not executable", as shells use.
    pub exit_code: i32,
}

/// Starts jobs.
pub(crate) trait Executor {
    /// Start `job`; `on_exit` is called exactly once when it ends (never if
    /// this returns an error).
    fn start(&mut self, job: &Job, on_exit: OnExit) -> Result<Box<dyn Running>, StartError>;
}

/// A started job.
pub(crate) trait Running: Send {
    /// Ask the job to stop. Safe to call after it has ended.
    fn stop(&mut self, how: Stop);
    /// A short identifier for messages (the process id locally).
    fn id(&self) -> String;
}
