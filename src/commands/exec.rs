//! `cool-runner exec` (hidden): what a Slurm job runs inside its
//! allocation. It reads the run directory's `job.json`, runs the module
//! with exactly the local contract (the local executor: environment,
//! process group, stdout/stderr files, results file, `Timeout`, SIGINT →
//! SIGTERM → SIGKILL) and, when it ends, writes `done.json` atomically.
//!
//! Signals: SIGINT (the runner's gentle cancel, `scancel --signal=INT
//! --batch`) becomes the module's SIGINT; SIGTERM (`scancel`, the time
//! limit) its SIGTERM; SIGUSR2, Slurm's warning before the time limit
//! (`--signal=B:USR2@…`), its SIGINT, and with `Global.slurm.requeue` left
//! the job is requeued into the same run directory instead of ending.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;
use yaml_serde::Mapping;

use crate::error::Error;
use crate::executor::slurm::files::{
    read_json, write_json, DoneFile, JobFile, DONE_FILE, JOB_FILE, REQUEUED_FILE,
};
use crate::executor::{
    Cause, Exit, ExitReport, Job, JobEvent, LocalExecutor, OutputSink, SlotConfig, Stop, Stream,
    Workspace, WorkspaceConfig,
};
use crate::yaml_log::rfc3339;

/// `exec`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ExecArgs {
    /// The run directory (holding `job.json`)
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: Option<PathBuf>,
    /// A file of run directories, one per line: take line
    /// `$SLURM_ARRAY_TASK_ID` (counted from 0)
    #[arg(long, value_name = "FILE", conflicts_with = "run_dir")]
    pub tasks: Option<PathBuf>,
}

/// Output goes to the run directory's files only (not Slurm's output file).
struct Quiet;

impl OutputSink for Quiet {
    fn write(&self, _stream: Stream, _bytes: &[u8]) {}
}

enum Message {
    Signal(i32),
    Job(JobEvent),
}

/// Run `exec`; the exit status is the module's.
pub(crate) fn exec(args: &ExecArgs) -> Result<i32, Error> {
    let run_dir = run_dir(args)?;
    let job: JobFile = read_json(&run_dir.join(JOB_FILE))
        .map_err(Error::Usage)?
        .ok_or_else(|| Error::Usage(format!("no `{JOB_FILE}` in `{}`", run_dir.display())))?;
    std::env::set_current_dir(&job.cwd)
        .map_err(|e| Error::Usage(format!("cannot enter `{}`: {e}", job.cwd.display())))?;
    let restarts: u64 = env_number("SLURM_RESTART_COUNT").unwrap_or(0);
    // The module resumes from its checkpoint when this is above 0.
    std::env::set_var("COOL_RUNNER_RESTARTS", restarts.to_string());
    let (tx, rx) = mpsc::channel();
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR2])
        .map_err(|e| Error::Other(anyhow::anyhow!("failed to install signal handlers: {e}")))?;
    let signalled = tx.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let _ = signalled.send(Message::Signal(signal));
        }
    });
    let _ = std::fs::remove_file(run_dir.join(REQUEUED_FILE));
    let started_at = chrono::Local::now();
    let outcome = run_module(&job, &run_dir, tx, &rx);
    if outcome.warned && restarts < job.requeue && requeue(&run_dir) {
        eprintln!(
            "cool-runner exec: time limit near: requeued (restart {})",
            restarts + 1
        );
        return Ok(0);
    }
    let report = outcome.report.clone().unwrap_or_else(|message| {
        let _ = std::fs::write(run_dir.join("stderr.log"), format!("{message}\n"));
        let exit = Exit::Code(outcome.start_exit);
        Workspace::open(&run_dir).report(Cause::Ended, exit, started_at, Duration::ZERO)
    });
    let done = done_file(&report, &outcome, restarts);
    write_json(&run_dir.join(DONE_FILE), &done).map_err(|e| {
        Error::Other(anyhow::anyhow!(
            "failed to write `{}`: {e}",
            run_dir.join(DONE_FILE).display()
        ))
    })?;
    Ok(match report.exit {
        Some(Exit::Code(code)) => code.clamp(0, 255),
        Some(Exit::Signal(signal)) => 128 + signal,
        None => 1,
    })
}

/// The run directory from the argument or the task list.
fn run_dir(args: &ExecArgs) -> Result<PathBuf, Error> {
    if let Some(dir) = &args.run_dir {
        return Ok(dir.clone());
    }
    let Some(tasks) = &args.tasks else {
        return Err(Error::Usage(
            "`exec` needs RUN_DIR or `--tasks FILE`".to_owned(),
        ));
    };
    let task: usize = env_number("SLURM_ARRAY_TASK_ID")
        .ok_or_else(|| Error::Usage("`--tasks` needs `SLURM_ARRAY_TASK_ID`".to_owned()))?;
    let text = std::fs::read_to_string(tasks)
        .map_err(|e| Error::Usage(format!("cannot read `{}`: {e}", tasks.display())))?;
    text.lines()
        .nth(task)
        .map(PathBuf::from)
        .ok_or_else(|| Error::Usage(format!("`{}` has no line for task {task}", tasks.display())))
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// What happened to the module.
struct Outcome {
    report: Result<ExitReport, String>,
    /// The exit code of a module that could not start.
    start_exit: i32,
    /// Slurm's warning signal came (the time limit is near).
    warned: bool,
    /// The signal received from outside, if any.
    received: Option<&'static str>,
}

/// Start the module and wait for its end, passing signals on.
fn run_module(
    job: &JobFile,
    run_dir: &Path,
    tx: mpsc::Sender<Message>,
    rx: &mpsc::Receiver<Message>,
) -> Outcome {
    let grace = Duration::from_secs_f64(job.grace.clamp(0.0, 1e6));
    let mut executor = LocalExecutor::new(
        Vec::new(),
        Arc::new(Quiet),
        SlotConfig::new(Some(1), Vec::new()),
        WorkspaceConfig {
            runs_dir: run_dir.parent().unwrap_or(Path::new(".")).to_owned(),
            stamp: String::new(),
        },
        grace,
    );
    let spec = Job {
        index: job.index,
        name: job.name.clone(),
        experiment: Mapping::new(),
        command: job.command.clone(),
        timeout: job
            .timeout
            .map(|t| Duration::from_secs_f64(t.clamp(0.0, 1e9))),
        identity: None,
    };
    let events: crate::executor::JobEvents = Arc::new(move |_, event| {
        let _ = tx.send(Message::Job(event));
    });
    let lease = crate::executor::Lease {
        slot: 0,
        gpus: Vec::new(),
    };
    let mut outcome = Outcome {
        report: Err(String::new()),
        start_exit: 0,
        warned: false,
        received: None,
    };
    let mut handle = match executor.start_in(Workspace::open(run_dir), &spec, &lease, events) {
        Ok(launched) => launched.handle,
        Err(err) => {
            outcome.start_exit = err.exit_code;
            outcome.report = Err(err.message);
            return outcome;
        }
    };
    while let Ok(message) = rx.recv() {
        match message {
            Message::Signal(SIGUSR2) => {
                outcome.warned = true;
                handle.stop(Stop::Interrupt, grace);
            }
            Message::Signal(SIGINT) => {
                outcome.received = Some("INT");
                handle.stop(Stop::Interrupt, grace);
            }
            Message::Signal(_) => {
                outcome.received = Some("TERM");
                handle.stop(Stop::Terminate, grace);
            }
            Message::Job(JobEvent::Note(text)) => eprintln!("cool-runner exec: {text}"),
            Message::Job(JobEvent::Ended(report)) => {
                outcome.report = Ok(*report);
                break;
            }
        }
    }
    drain_signals(rx, &mut outcome);
    outcome
}

/// `scancel` signals every process of the job: the module may have ended of
/// it before its signal was read. Read what came (a clean exit 0 needs no
/// explaining).
fn drain_signals(rx: &mpsc::Receiver<Message>, outcome: &mut Outcome) {
    let clean = matches!(&outcome.report, Ok(r) if r.exit == Some(Exit::Code(0)));
    let drain = if clean {
        Duration::ZERO
    } else {
        Duration::from_millis(100)
    };
    while let Ok(message) = rx.recv_timeout(drain) {
        if let Message::Signal(signal) = message {
            if signal == SIGUSR2 {
                outcome.warned = true;
            } else if outcome.received.is_none() {
                outcome.received = Some(if signal == SIGINT { "INT" } else { "TERM" });
            }
        }
    }
}

/// Ask Slurm to requeue this job; false if it cannot.
fn requeue(run_dir: &Path) -> bool {
    let Ok(id) = std::env::var("SLURM_JOB_ID") else {
        return false;
    };
    // The submitter's poller must not take the gap for a lost job.
    let _ = std::fs::write(run_dir.join(REQUEUED_FILE), &id);
    let requeued = std::process::Command::new("scontrol")
        .args(["requeue", &id])
        .status()
        .is_ok_and(|s| s.success());
    if !requeued {
        let _ = std::fs::remove_file(run_dir.join(REQUEUED_FILE));
    }
    requeued
}

fn done_file(report: &ExitReport, outcome: &Outcome, restarts: u64) -> DoneFile {
    let (exit_code, signal) = match report.exit {
        Some(Exit::Code(code)) => (Some(code), None),
        Some(Exit::Signal(signal)) => (None, Some(signal)),
        None => (None, None),
    };
    let cause = match report.cause {
        _ if outcome.warned => "time-limit",
        Cause::Timeout => "timeout",
        Cause::Stopped => "stopped",
        _ => "ended",
    };
    let job_id = match (
        std::env::var("SLURM_ARRAY_JOB_ID"),
        std::env::var("SLURM_ARRAY_TASK_ID"),
    ) {
        (Ok(array), Ok(task)) => format!("{array}_{task}"),
        _ => std::env::var("SLURM_JOB_ID").unwrap_or_default(),
    };
    DoneFile {
        exit_code,
        signal,
        cause: cause.to_owned(),
        received: outcome.received.map(str::to_owned),
        started_at: rfc3339(&report.started_at),
        elapsed: report.elapsed.as_secs_f64(),
        node: crate::commands::run::host_name(),
        job_id,
        restarts,
    }
}
