//! The poller: one thread per run that watches every submitted job. Done
//! files are read from the file system every `tick`; `squeue` is called at
//! most once per poll for all jobs of the run (one job name, `-r` so array
//! tasks are listed one by one), with backoff (10 s, 20 s, 40 s, then every
//! 60 s; `COOL_RUNNER_SLURM_POLL` overrides it). A job that left the queue
//! without a done file is looked up once with `scontrol show job` (or
//! `sacct` once `scontrol` has forgotten it) before it is declared lost.
//! Stop requests are carried out here too, batched into one `scancel` per
//! kind of request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use yaml_serde::{Mapping, Value};

use super::cmd::{call, on_path, CALL_TIMEOUT};
use super::files::{read_json, DoneFile, DONE_FILE};
use super::state::{
    cause_of, is_terminal, parse_sacct, parse_scontrol, parse_squeue, Final, Listed, SQUEUE_FORMAT,
};
use crate::executor::{Cause, Exit, ExitReport, JobEvent, JobEvents, Stop, Workspace};
use crate::model::keys;

/// A submitted job, watched.
pub(crate) struct Tracked {
    pub index: usize,
    pub run_dir: PathBuf,
    /// `123_4`.
    pub job_id: String,
    /// The run's job name (`squeue --name`).
    pub job_name: String,
    pub events: JobEvents,
    /// The runner asked it to stop.
    pub stopped: bool,
    /// Polls that found it out of the queue without a done file.
    pub gone: u8,
    pub listed: Option<Listed>,
}

/// What the executor and the poller share.
#[derive(Default)]
pub(crate) struct Shared {
    pub jobs: Mutex<Vec<Tracked>>,
    /// Stop requests not yet carried out: (job id, how).
    pub stops: Mutex<Vec<(String, Stop)>>,
    /// New jobs were submitted: poll `squeue` from the first step again.
    pub reset: AtomicBool,
    pub quit: AtomicBool,
    pub wake: Condvar,
    pub wake_lock: Mutex<()>,
}

impl Shared {
    pub(crate) fn notify(&self) {
        self.wake.notify_all();
    }
}

/// Poll intervals: `COOL_RUNNER_SLURM_POLL` (`0.5` or `10,20,40,60`, in
/// seconds; the last repeats), else 10, 20, 40, 60 s.
pub(crate) fn poll_steps() -> Vec<Duration> {
    let parsed: Option<Vec<Duration>> =
        std::env::var("COOL_RUNNER_SLURM_POLL")
            .ok()
            .and_then(|text| {
                text.split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<f64>()
                            .ok()
                            .filter(|s| *s > 0.0 && *s < 1e6)
                    })
                    .map(|s| s.map(Duration::from_secs_f64))
                    .collect()
            });
    parsed.filter(|p| !p.is_empty()).unwrap_or_else(|| {
        [10, 20, 40, 60]
            .into_iter()
            .map(Duration::from_secs)
            .collect()
    })
}

/// Run the poller until `shared.quit`.
pub(crate) fn run(shared: &Arc<Shared>, steps: &[Duration]) {
    let tick = steps[0].min(Duration::from_millis(500));
    let mut step = 0;
    let mut next_squeue = Instant::now() + steps[0];
    while !shared.quit.load(Ordering::Relaxed) {
        {
            let guard = shared
                .wake_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = shared.wake.wait_timeout(guard, tick);
        }
        if shared.reset.swap(false, Ordering::Relaxed) {
            step = 0;
            next_squeue = Instant::now() + steps[0];
        }
        carry_out_stops(shared);
        read_done_files(shared);
        let busy = shared.jobs.lock().is_ok_and(|jobs| !jobs.is_empty());
        if busy && Instant::now() >= next_squeue {
            poll_squeue(shared);
            step = (step + 1).min(steps.len() - 1);
            next_squeue = Instant::now() + steps[step];
        }
    }
}

/// Batched `scancel`s for the stop requests.
fn carry_out_stops(shared: &Shared) {
    let stops: Vec<(String, Stop)> = {
        let mut all = shared
            .stops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // `#index`: not submitted yet; the executor drops it at submission.
        let (unsubmitted, submitted) = all.drain(..).partition(|(id, _)| id.starts_with('#'));
        *all = unsubmitted;
        submitted
    };
    if stops.is_empty() {
        return;
    }
    let ids = |how: Stop| -> Vec<String> {
        stops
            .iter()
            .filter(|s| s.1 == how)
            .map(|s| s.0.clone())
            .collect()
    };
    let scancel = |mut args: Vec<String>, ids: &[String]| {
        if !ids.is_empty() {
            args.extend(ids.iter().cloned());
            let _ = call("scancel", &args, CALL_TIMEOUT);
        }
    };
    let strings = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // Gently: jobs that have not started are cancelled (they stay in the
    // queue file), running ones get SIGINT through the batch step.
    let gentle = ids(Stop::Interrupt);
    scancel(strings(&["--state=PENDING"]), &gentle);
    scancel(
        strings(&["--state=RUNNING", "--signal=INT", "--batch"]),
        &gentle,
    );
    scancel(Vec::new(), &ids(Stop::Terminate));
    let kill = ids(Stop::Kill);
    scancel(strings(&["--signal=KILL", "--full"]), &kill);
    scancel(Vec::new(), &kill);
}

/// Report every job whose done file has appeared.
fn read_done_files(shared: &Shared) {
    let candidates: Vec<(usize, PathBuf)> = match shared.jobs.lock() {
        Ok(jobs) => jobs.iter().map(|j| (j.index, j.run_dir.clone())).collect(),
        Err(_) => return,
    };
    for (index, dir) in candidates {
        match read_json::<DoneFile>(&dir.join(DONE_FILE)) {
            Ok(Some(done)) => {
                if let Some(job) = take(shared, index) {
                    let report = from_done(&job, &done);
                    end(&job, report);
                }
            }
            Ok(None) => {}
            Err(err) => {
                if let Some(job) = take(shared, index) {
                    let report = lost(&job, &err);
                    end(&job, report);
                }
            }
        }
    }
}

/// Report the end of `job`, claiming it (logged by this process only).
fn end(job: &Tracked, report: ExitReport) {
    if !super::files::claim(&job.run_dir) {
        (job.events)(
            job.index,
            JobEvent::Note(format!(
                "warning: slurm job {} was logged by another runner already",
                job.job_id
            )),
        );
    }
    (job.events)(job.index, JobEvent::Ended(Box::new(report)));
}

fn take(shared: &Shared, index: usize) -> Option<Tracked> {
    let mut jobs = shared.jobs.lock().ok()?;
    let at = jobs.iter().position(|j| j.index == index)?;
    Some(jobs.swap_remove(at))
}

/// One `squeue` call for all jobs; jobs out of the queue without a done
/// file for two polls are looked up and reported.
fn poll_squeue(shared: &Shared) {
    let names: Vec<String> = match shared.jobs.lock() {
        Ok(jobs) => {
            let mut names: Vec<String> = jobs.iter().map(|j| j.job_name.clone()).collect();
            names.sort();
            names.dedup();
            names
        }
        Err(_) => return,
    };
    let args = vec![
        "-h".to_owned(),
        "-r".to_owned(),
        "-t".to_owned(),
        "all".to_owned(),
        format!("--name={}", names.join(",")),
        "-o".to_owned(),
        SQUEUE_FORMAT.to_owned(),
    ];
    let Ok(text) = call("squeue", &args, CALL_TIMEOUT) else {
        return; // The controller is busy: try again at the next poll.
    };
    let listed = parse_squeue(&text);
    let mut vanished = Vec::new();
    if let Ok(mut jobs) = shared.jobs.lock() {
        for job in jobs.iter_mut() {
            job.listed = listed.get(&job.job_id).cloned();
            let out = job.listed.as_ref().is_none_or(|l| is_terminal(&l.state))
                && !between_runs(&job.run_dir);
            job.gone = if out { job.gone.saturating_add(1) } else { 0 };
            if job.gone >= 2 {
                vanished.push(job.index);
            }
        }
    }
    for index in vanished {
        // The done file may have come since.
        if job_dir(shared, index).is_some_and(|d| d.join(DONE_FILE).exists()) {
            continue;
        }
        let Some(id) = job_id(shared, index) else {
            continue;
        };
        let Some(last) = look_up(&id) else {
            if let Some(job) = take(shared, index) {
                let report = lost(&job, "the job left Slurm's queue without a done file, and neither `scontrol` nor `sacct` knows it");
                end(&job, report);
            }
            continue;
        };
        if !is_terminal(&last.state) {
            continue;
        }
        if let Some(job) = take(shared, index) {
            let report = from_final(&job, &last);
            end(&job, report);
        }
    }
}

/// Whether the job requeued itself less than a minute ago (it shows as
/// ended for a moment before it is pending again).
fn between_runs(run_dir: &Path) -> bool {
    std::fs::metadata(run_dir.join(super::files::REQUEUED_FILE))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < Duration::from_secs(60)))
}

fn job_dir(shared: &Shared, index: usize) -> Option<PathBuf> {
    let jobs = shared.jobs.lock().ok()?;
    jobs.iter()
        .find(|j| j.index == index)
        .map(|j| j.run_dir.clone())
}

fn job_id(shared: &Shared, index: usize) -> Option<String> {
    let jobs = shared.jobs.lock().ok()?;
    jobs.iter()
        .find(|j| j.index == index)
        .map(|j| j.job_id.clone())
}

/// A finished job's record: `scontrol show job` (kept for `MinJobAge`),
/// else `sacct` where accounting is on.
pub(crate) fn look_up(job_id: &str) -> Option<Final> {
    let args = vec![
        "show".to_owned(),
        "job".to_owned(),
        "-o".to_owned(),
        job_id.to_owned(),
    ];
    if let Some(found) = call("scontrol", &args, CALL_TIMEOUT)
        .ok()
        .as_deref()
        .and_then(parse_scontrol)
    {
        return Some(found);
    }
    if !on_path("sacct") {
        return None;
    }
    let args: Vec<String> = [
        "-X",
        "-n",
        "-P",
        "-j",
        job_id,
        "-o",
        "State,ExitCode,NodeList",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    call("sacct", &args, CALL_TIMEOUT)
        .ok()
        .as_deref()
        .and_then(parse_sacct)
}

/// Look a job up until Slurm says it is over (a job's done file is written
/// just before it exits), for at most about three seconds.
fn final_state(job_id: &str) -> Option<Final> {
    let mut last = None;
    for _ in 0..10 {
        last = look_up(job_id);
        if last.as_ref().is_some_and(|f| is_terminal(&f.state)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    last
}

/// The report of a job that wrote its done file.
fn from_done(job: &Tracked, done: &DoneFile) -> ExitReport {
    let exit = match (done.exit_code, done.signal) {
        (_, Some(signal)) => Exit::Signal(signal),
        (Some(code), None) => Exit::Code(code),
        (None, None) => Exit::Code(-1),
    };
    // Killed by a signal, or signalled: `scancel` signals the module's
    // processes too, so the module may end before the runner hears of it.
    let ended_alone =
        done.received.is_none() && done.cause != "time-limit" && done.signal.is_none();
    // A job signalled from outside: Slurm says why (scancel, preemption,
    // its time limit).
    let last = (!ended_alone).then(|| final_state(&job.job_id)).flatten();
    let cause = match done.cause.as_str() {
        _ if job.stopped => Cause::Stopped,
        "timeout" | "time-limit" => Cause::Timeout,
        _ if ended_alone => Cause::Ended,
        _ => match last.as_ref().and_then(|l| cause_of(&l.state)) {
            Some(cause) => cause,
            None if done.received.is_some() => Cause::Cancelled,
            None => Cause::Ended,
        },
    };
    let started_at = DateTime::parse_from_rfc3339(&done.started_at)
        .map_or_else(|_| Local::now(), |t| t.with_timezone(&Local));
    let elapsed = Duration::from_secs_f64(done.elapsed.clamp(0.0, 1e9));
    let mut report = Workspace::open(&job.run_dir).report(cause, exit, started_at, elapsed);
    let state = match &last {
        Some(l) if is_terminal(&l.state) => {
            l.state.split_whitespace().next().unwrap_or("").to_owned()
        }
        _ if exit == Exit::Code(0) => "COMPLETED".to_owned(),
        _ => "FAILED".to_owned(),
    };
    report.scheduler = keys_of(&done.job_id, &state, &done.node);
    report
}

/// The report of a job that ended without a done file.
fn from_final(job: &Tracked, last: &Final) -> ExitReport {
    let cause = match cause_of(&last.state) {
        Some(Cause::Cancelled) if job.stopped => Cause::Stopped,
        Some(cause) => cause,
        None => Cause::Cancelled,
    };
    let exit = last.exit.unwrap_or(Exit::Code(-1));
    let mut report =
        Workspace::open(&job.run_dir).report(cause, exit, Local::now(), Duration::ZERO);
    if last.exit.is_none() {
        report.exit = None;
    }
    if cause == Cause::Ended && report.results.is_ok() && exit == Exit::Code(0) {
        report.results = Err(
            "the job ended without writing its done file (did `cool-runner exec` run?)".to_owned(),
        );
    }
    let state = last
        .state
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned();
    let node = if last.node.is_empty() {
        job.listed
            .as_ref()
            .map(|l| l.node.clone())
            .unwrap_or_default()
    } else {
        last.node.clone()
    };
    report.scheduler = keys_of(&job.job_id, &state, &node);
    report
}

/// The report of a job the runner lost track of.
fn lost(job: &Tracked, why: &str) -> ExitReport {
    let mut report = Workspace::open(&job.run_dir).report(
        Cause::Ended,
        Exit::Code(-1),
        Local::now(),
        Duration::ZERO,
    );
    report.exit = None;
    report.results = Err(format!("lost: {why}"));
    report.scheduler = keys_of(&job.job_id, "UNKNOWN", "");
    report
}

/// `SLURM_JOB_ID`, `SLURM_STATE`, `SLURM_NODE`.
pub(crate) fn keys_of(job_id: &str, state: &str, node: &str) -> Mapping {
    let mut keys_ = Mapping::new();
    keys_.insert(Value::from(keys::SLURM_JOB_ID), Value::from(job_id));
    keys_.insert(Value::from(keys::SLURM_STATE), Value::from(state));
    if !node.is_empty() {
        keys_.insert(Value::from(keys::SLURM_NODE), Value::from(node));
    }
    keys_
}

/// Track a submitted job whose directory is `run_dir`.
pub(crate) fn path_of(run_dir: &Path) -> PathBuf {
    std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.to_owned())
}

/// The live state of jobs, by id: one `squeue` call (for `status`).
pub(crate) fn live_states(ids: &[String]) -> Option<HashMap<String, Listed>> {
    if ids.is_empty() {
        return Some(HashMap::new());
    }
    let mut arrays: Vec<&str> = ids
        .iter()
        .map(|id| id.split('_').next().unwrap_or(id))
        .collect();
    arrays.sort_unstable();
    arrays.dedup();
    let args = vec![
        "-h".to_owned(),
        "-r".to_owned(),
        "-t".to_owned(),
        "all".to_owned(),
        format!("--jobs={}", arrays.join(",")),
        "-o".to_owned(),
        SQUEUE_FORMAT.to_owned(),
    ];
    call("squeue", &args, CALL_TIMEOUT)
        .ok()
        .map(|t| parse_squeue(&t))
}
