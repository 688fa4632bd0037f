//! The Slurm executor: each admitted experiment gets its run directory
//! here, on the submitting host, and a `job.json`; when admission stops,
//! the experiments gathered are submitted as job arrays, one per set of
//! equal resources (`Global.slurm` with the experiment's `Slurm:` over it),
//! cut below the cluster's `MaxArraySize`, with one `sbatch --parsable`
//! each. Every task runs `cool-runner exec` (`commands/exec.rs`), which
//! runs the module with the local contract and writes `done.json`. The
//! poller (`poll.rs`) reports the ends back; only this process writes the
//! log, the store and Slack.
//!
//! Jobs of an earlier run (`run --detach`) that have not been logged are
//! adopted instead of submitted again when an experiment with the same
//! store identity is admitted (a rerun of the same file, or `attach`).

mod cmd;
pub(crate) mod files;
mod poll;
mod snapshot;
mod state;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Local;
use serde::{Deserialize, Serialize};
use yaml_serde::Mapping;

pub(crate) use cmd::on_path;
use files::{JobFile, ID_FILE, JOB_FILE, LOGGED_FILE};
pub(crate) use poll::live_states;
use poll::{Shared, Tracked};

use super::{
    Capacity, Cause, Executor, Exit, ExitReport, Job, JobEvent, JobEvents, Launched, Lease,
    Running, StartError, Stop, Workspace, WorkspaceConfig,
};
use crate::model::slurm::{for_experiment, SlurmSettings};

/// The run's files under `.cool-runner/slurm/<job name>/`.
pub(crate) const SLURM_DIR: &str = "slurm";

/// Settings of the Slurm executor.
#[derive(Debug, Clone)]
pub(crate) struct SlurmConfig {
    /// `Global.slurm`.
    pub settings: SlurmSettings,
    pub workspaces: WorkspaceConfig,
    /// `.cool-runner` (absolute): the run's scripts, the code snapshots.
    pub state_dir: PathBuf,
    pub grace: Duration,
    pub module_args: Vec<OsString>,
    /// The `cool-runner` the jobs run (this one).
    pub exe: PathBuf,
}

/// One line of a run's `jobs.jsonl`: what `attach` and reruns need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub index: usize,
    pub run_dir: PathBuf,
    pub job_id: String,
    pub job_name: String,
    pub identity: Option<String>,
}

/// A job admitted but not yet submitted.
struct Pending {
    job: Job,
    /// Absolute (what the job and the poller use).
    run_dir: PathBuf,
    /// As the log shows it (relative to the working directory).
    shown: PathBuf,
    settings: SlurmSettings,
    events: JobEvents,
}

pub(crate) struct SlurmExecutor {
    config: SlurmConfig,
    /// The run's job name (`cr-<stamp>-<pid>`): all its jobs share it.
    name: String,
    dir: PathBuf,
    pending: Vec<Pending>,
    shared: Arc<Shared>,
    snapshots: snapshot::Snapshots,
    max_array: Option<usize>,
    arrays: usize,
    /// Unlogged jobs of earlier runs, by store identity.
    adoptable: HashMap<String, Entry>,
    next_slot: usize,
    /// Arrays submitted: (job id, tasks).
    pub(crate) submitted: Vec<(String, usize)>,
}

impl SlurmExecutor {
    pub(crate) fn new(config: SlurmConfig) -> Self {
        let name = format!(
            "cr-{}-{}",
            Local::now().format("%Y%m%d-%H%M%S"),
            std::process::id()
        );
        let dir = config.state_dir.join(SLURM_DIR).join(&name);
        let shared = Arc::new(Shared::default());
        let steps = poll::poll_steps();
        let poller = Arc::clone(&shared);
        // Detached: it ends with the process, or when `quit` is set.
        let _ = std::thread::Builder::new()
            .name("slurm-poll".to_owned())
            .spawn(move || poll::run(&poller, &steps));
        Self {
            snapshots: snapshot::Snapshots::new(config.state_dir.join("code")),
            adoptable: unlogged_jobs(&config.state_dir),
            config,
            name,
            dir,
            pending: Vec::new(),
            shared,
            max_array: None,
            arrays: 0,
            next_slot: 0,
            submitted: Vec::new(),
        }
    }

    /// The run's job name (what `attach` takes).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Follow `entry`, a job submitted earlier, as job `index`.
    fn adopt(&mut self, index: usize, entry: &Entry, events: JobEvents) -> Launched {
        if let Ok(mut jobs) = self.shared.jobs.lock() {
            jobs.push(Tracked {
                index,
                run_dir: poll::path_of(&entry.run_dir),
                job_id: entry.job_id.clone(),
                job_name: entry.job_name.clone(),
                events,
                stopped: false,
                gone: 0,
                listed: None,
            });
        }
        self.shared.reset.store(true, Ordering::Relaxed);
        Launched {
            handle: Box::new(SlurmJob {
                index,
                shared: Arc::clone(&self.shared),
            }),
            id: format!("slurm:{}", entry.job_id),
            run_dir: entry.run_dir.clone(),
        }
    }

    /// Follow the jobs of `entries` (for `attach`), as jobs 0, 1, ...
    pub(crate) fn adopt_all(&mut self, entries: &[Entry], events: &JobEvents) -> Vec<Launched> {
        entries
            .iter()
            .map(|entry| self.adopt(entry.index, entry, Arc::clone(events)))
            .collect()
    }

    /// Write the job's `job.json` (its module from the code snapshot).
    fn prepare(
        &mut self,
        job: &Job,
        workspace: &Workspace,
        settings: &SlurmSettings,
    ) -> Result<(), String> {
        let spec = crate::model::JobSpec::from_experiment(&job.experiment)?;
        let mut command = self.snapshots.rewrite(&job.command, &spec.fingerprint)?;
        command.extend(
            self.config
                .module_args
                .iter()
                .map(|a| a.to_string_lossy().into_owned()),
        );
        let cwd = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
        let file = JobFile {
            index: job.index,
            name: job.name.clone(),
            command,
            timeout: job.timeout.map(|t| t.as_secs_f64()),
            grace: self.config.grace.as_secs_f64(),
            cwd,
            requeue: settings.requeue,
        };
        // Written before the job exists: no need for a rename or a sync.
        let json = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
        std::fs::write(workspace.dir.join(JOB_FILE), json).map_err(|e| {
            format!(
                "failed to write `{}`: {e}",
                workspace.dir.join(JOB_FILE).display()
            )
        })
    }

    /// The cluster's `MaxArraySize` (once), else Slurm's default 1001.
    fn max_array(&mut self) -> usize {
        *self.max_array.get_or_insert_with(|| {
            let args = vec!["show".to_owned(), "config".to_owned()];
            cmd::call("scontrol", &args, cmd::CALL_TIMEOUT)
                .ok()
                .and_then(|text| {
                    text.lines()
                        .find(|l| l.trim_start().starts_with("MaxArraySize"))
                        .and_then(|l| l.split('=').nth(1))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                })
                .filter(|n| *n >= 1)
                .unwrap_or(1001)
        })
    }

    /// Submit one array of `jobs` (equal resources).
    fn submit_array(&mut self, jobs: Vec<Pending>) {
        let number = self.arrays;
        self.arrays += 1;
        let submitted = self.write_array(number, &jobs).and_then(|script| {
            let args = sbatch_args(
                &self.name,
                &self.dir,
                number,
                jobs.len(),
                &jobs[0].settings,
                &script,
            );
            cmd::call("sbatch", &args, cmd::CALL_TIMEOUT)
        });
        let id = match submitted {
            Ok(out) => out.trim().split(';').next().unwrap_or("").to_owned(),
            Err(err) => {
                for job in jobs {
                    fail(&job, &format!("failed to submit to Slurm: {err}"));
                }
                return;
            }
        };
        let first = jobs[0].job.index;
        (jobs[0].events)(
            first,
            JobEvent::Note(format!(
                "slurm: submitted {} experiment(s) as job array {id} (`{}`)",
                jobs.len(),
                self.name
            )),
        );
        self.submitted.push((id.clone(), jobs.len()));
        self.track(&id, jobs);
    }

    /// Write the array's task list and batch script; the script's path.
    fn write_array(&self, number: usize, jobs: &[Pending]) -> Result<PathBuf, String> {
        let failed =
            |e: std::io::Error| format!("failed to write into `{}`: {e}", self.dir.display());
        std::fs::create_dir_all(&self.dir).map_err(failed)?;
        let tasks = self.dir.join(format!("array-{number}.tasks"));
        let mut list = String::new();
        for job in jobs {
            list.push_str(&job.run_dir.display().to_string());
            list.push('\n');
        }
        std::fs::write(&tasks, list).map_err(failed)?;
        let script = self.dir.join(format!("array-{number}.sh"));
        let text = format!(
            "#!/bin/sh\n# cool-runner: task N of this array runs the run directory on line N+1 of\n# {}\nexec {} exec --tasks {}\n",
            tasks.display(),
            shell_words::quote(&self.config.exe.display().to_string()),
            shell_words::quote(&tasks.display().to_string()),
        );
        std::fs::write(&script, text).map_err(failed)?;
        Ok(script)
    }

    /// Watch the tasks of array `id`; record them for `attach` and reruns.
    fn track(&self, id: &str, jobs: Vec<Pending>) {
        let mut manifest = String::new();
        let mut tracked = Vec::with_capacity(jobs.len());
        for (task, job) in jobs.into_iter().enumerate() {
            let job_id = format!("{id}_{task}");
            let _ = std::fs::write(job.run_dir.join(ID_FILE), &job_id);
            let entry = Entry {
                index: job.job.index,
                run_dir: job.shown.clone(),
                job_id: job_id.clone(),
                job_name: self.name.clone(),
                identity: job.job.identity.clone(),
            };
            if let Ok(line) = serde_json::to_string(&entry) {
                manifest.push_str(&line);
                manifest.push('\n');
            }
            tracked.push(Tracked {
                index: job.job.index,
                run_dir: job.run_dir,
                job_id,
                job_name: self.name.clone(),
                events: job.events,
                stopped: false,
                gone: 0,
                listed: None,
            });
        }
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("jobs.jsonl"))
            .and_then(|mut f| f.write_all(manifest.as_bytes()));
        if let Ok(mut jobs) = self.shared.jobs.lock() {
            jobs.extend(tracked);
        }
        self.shared.reset.store(true, Ordering::Relaxed);
        self.shared.notify();
    }
}

/// `sbatch` arguments for array `number` of `tasks` tasks.
fn sbatch_args(
    name: &str,
    dir: &Path,
    number: usize,
    tasks: usize,
    settings: &SlurmSettings,
    script: &Path,
) -> Vec<String> {
    let throttle = settings
        .array_parallelism
        .map(|p| format!("%{p}"))
        .unwrap_or_default();
    // The warning signal: a quarter of the time limit, 30 s to 5 min.
    let warn = settings.time.map_or(120, |t| (t / 4).clamp(30, 300));
    let mut args = vec![
        "--parsable".to_owned(),
        format!("--job-name={name}"),
        format!("--array=0-{}{throttle}", tasks - 1),
        format!("--output={}/slurm-%A_%a.out", dir.display()),
        format!("--signal=B:USR2@{warn}"),
        if settings.requeue > 0 {
            "--requeue"
        } else {
            "--no-requeue"
        }
        .to_owned(),
    ];
    if number > 0 {
        args.push("--kill-on-invalid-dep=yes".to_owned());
    }
    args.extend(settings.sbatch_args());
    args.push(script.display().to_string());
    args
}

/// End a job that could not be submitted (the contract: `Ended` once).
fn fail(job: &Pending, message: &str) {
    let report = ExitReport {
        cause: Cause::Ended,
        exit: None,
        started_at: Local::now(),
        elapsed: Duration::ZERO,
        results: Err(message.to_owned()),
        stderr_tail: None,
        scheduler: Mapping::new(),
    };
    (job.events)(job.job.index, JobEvent::Ended(Box::new(report)));
}

/// Jobs submitted by earlier runs and not logged yet, by identity.
fn unlogged_jobs(state_dir: &Path) -> HashMap<String, Entry> {
    let mut found = HashMap::new();
    let Ok(runs) = std::fs::read_dir(state_dir.join(SLURM_DIR)) else {
        return found;
    };
    for run in runs.flatten() {
        for entry in read_entries(&run.path().join("jobs.jsonl")) {
            if let Some(identity) = entry.identity.clone() {
                // A deleted run directory is nothing to follow.
                if entry.run_dir.is_dir() && !entry.run_dir.join(LOGGED_FILE).exists() {
                    found.insert(identity, entry);
                }
            }
        }
    }
    found
}

/// The entries of a run's `jobs.jsonl`.
pub(crate) fn read_entries(path: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

impl Executor for SlurmExecutor {
    fn capacity(&mut self, _experiment: &Mapping) -> Capacity {
        // The scheduler decides when jobs run: every experiment is admitted.
        self.next_slot += 1;
        Capacity::Now(Lease {
            slot: self.next_slot - 1,
            gpus: Vec::new(),
        })
    }

    fn has_room(&self) -> bool {
        true
    }

    fn release(&mut self, _lease: &Lease) {}

    fn start(
        &mut self,
        job: Job,
        _lease: Lease,
        events: JobEvents,
    ) -> Result<Launched, StartError> {
        if let Some(entry) = job.identity.as_ref().and_then(|i| self.adoptable.remove(i)) {
            events(
                job.index,
                JobEvent::Note(format!(
                    "slurm: `{}` is already submitted as job {} (`{}`): following it, not submitting it again",
                    job.name, entry.job_id, entry.job_name
                )),
            );
            return Ok(self.adopt(job.index, &entry, events));
        }
        let settings =
            for_experiment(&self.config.settings, &job.experiment).map_err(|message| {
                StartError {
                    message,
                    exit_code: 2,
                    run_dir: None,
                }
            })?;
        let workspace = Workspace::create(
            &self.config.workspaces,
            job.index,
            &job.name,
            &job.experiment,
        )?;
        let dir = poll::path_of(&workspace.dir);
        if let Err(message) = self.prepare(&job, &workspace, &settings) {
            return Err(StartError {
                message,
                exit_code: 126,
                run_dir: Some(workspace.dir),
            });
        }
        let launched = Launched {
            handle: Box::new(SlurmJob {
                index: job.index,
                shared: Arc::clone(&self.shared),
            }),
            id: format!("slurm:{}", self.name),
            run_dir: workspace.dir.clone(),
        };
        self.pending.push(Pending {
            job,
            run_dir: dir,
            shown: workspace.dir,
            settings,
            events,
        });
        Ok(launched)
    }

    fn admitted(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let stopped: Vec<usize> = self
            .shared
            .stops
            .lock()
            .map(|mut s| {
                let (unsubmitted, rest): (Vec<_>, Vec<_>) =
                    s.drain(..).partition(|(id, _)| id.starts_with('#'));
                *s = rest;
                unsubmitted
                    .iter()
                    .filter_map(|(id, _)| id[1..].parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let mut groups: Vec<(SlurmSettings, Vec<Pending>)> = Vec::new();
        for job in pending {
            if stopped.contains(&job.job.index) {
                stop_unsubmitted(&job);
                continue;
            }
            match groups.iter_mut().find(|(s, _)| *s == job.settings) {
                Some((_, jobs)) => jobs.push(job),
                None => groups.push((job.settings.clone(), vec![job])),
            }
        }
        let max = self.max_array();
        for (_, mut jobs) in groups {
            while !jobs.is_empty() {
                let rest = jobs.split_off(jobs.len().min(max));
                self.submit_array(std::mem::replace(&mut jobs, rest));
            }
        }
    }
}

/// A job stopped before it was submitted: it never ran.
fn stop_unsubmitted(job: &Pending) {
    let report = Workspace::open(&job.run_dir).report(
        Cause::Stopped,
        Exit::Code(130),
        Local::now(),
        Duration::ZERO,
    );
    (job.events)(job.job.index, JobEvent::Ended(Box::new(report)));
}

impl Drop for SlurmExecutor {
    fn drop(&mut self) {
        self.shared.quit.store(true, Ordering::Relaxed);
        self.shared.notify();
    }
}

/// A submitted job, as the session holds it.
struct SlurmJob {
    index: usize,
    shared: Arc<Shared>,
}

impl Running for SlurmJob {
    fn stop(&mut self, how: Stop, _grace: Duration) {
        // The grace is the job's own: `cool-runner exec` escalates SIGINT
        // to SIGTERM and SIGKILL inside the allocation.
        let id = self.shared.jobs.lock().ok().and_then(|mut jobs| {
            let job = jobs.iter_mut().find(|j| j.index == self.index)?;
            job.stopped = true;
            Some(job.job_id.clone())
        });
        let id = id.unwrap_or_else(|| format!("#{}", self.index));
        if let Ok(mut stops) = self.shared.stops.lock() {
            stops.push((id, how));
        }
        self.shared.notify();
    }
}
