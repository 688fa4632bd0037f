//! Slurm runs from the command line: `run --executor slurm` (the checks
//! and the executor), `run --detach` (what it prints) and `cool-runner
//! attach` (follow a detached run until its jobs end, logging each one
//! exactly once, and exit as `run` would have).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use yaml_serde::Mapping;

use super::run::RunSettings;
use crate::error::{exit, Error};
use crate::executor::slurm::files::LOGGED_FILE;
use crate::executor::slurm::{read_entries, Entry, SlurmConfig, SlurmExecutor, SLURM_DIR};
use crate::executor::{JobEvent, JobEvents, Running, Stop, WorkspaceConfig};
use crate::model::slurm::{for_experiment, ExecutorKind};
use crate::model::{name_of, Global, JobSpec};
use crate::runner::{Observer, Started, Summary};

/// The runner's own directory (the code snapshots, the Slurm runs).
pub(crate) const STATE_DIR: &str = ".cool-runner";

/// Follow a Slurm run started with `run --detach` until its jobs end,
/// writing each finished job into the log and the store exactly once.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AttachArgs {
    /// The run, as `run --detach` printed it (`cr-20261130-101500-4242`);
    /// default: the latest
    #[arg(value_name = "RUN")]
    pub run: Option<String>,

    /// Neither read nor write the results store
    #[arg(long)]
    pub no_store: bool,
}

/// What `attach` needs to know about a run (`run.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RunFile {
    store: Option<PathBuf>,
    /// The experiment file (for `Global.slack`).
    #[serde(default)]
    exp: Option<PathBuf>,
}

/// Whether this run goes to Slurm; checks `--detach`, `sbatch` and each
/// experiment's `Slurm:` before anything is submitted.
pub(crate) fn check_slurm(
    settings: &RunSettings,
    global: &Global,
    experiments: &[Mapping],
) -> Result<bool, Error> {
    if !slurm_chosen(settings, global)? {
        return Ok(false);
    }
    for (index, experiment) in experiments.iter().enumerate() {
        check_slurm_experiment(global, index, experiment)?;
    }
    if !settings.dry && !crate::executor::slurm::on_path("sbatch") {
        return Err(Error::Usage(
            "`--executor slurm`: no `sbatch` on PATH (is this a Slurm login node?)".to_owned(),
        ));
    }
    Ok(true)
}

/// Whether the run uses the Slurm executor (`--detach` needs it).
pub(crate) fn slurm_chosen(settings: &RunSettings, global: &Global) -> Result<bool, Error> {
    let kind = settings.executor.unwrap_or(global.executor);
    if kind != ExecutorKind::Slurm && settings.detach {
        return Err(Error::Usage(
            "`--detach` needs the Slurm executor (`--executor slurm` or `Global.executor: slurm`)"
                .to_owned(),
        ));
    }
    Ok(kind == ExecutorKind::Slurm)
}

/// One experiment's `Slurm:` mapping over `Global.slurm`.
pub(crate) fn check_slurm_experiment(
    global: &Global,
    index: usize,
    experiment: &Mapping,
) -> Result<(), Error> {
    for_experiment(&global.slurm, experiment)
        .map(drop)
        .map_err(|m| Error::Usage(format!("experiment {index} `{}`: {m}", name_of(experiment))))
}

/// The Slurm executor of a run.
pub(crate) fn slurm_executor(
    settings: &RunSettings,
    global: &Global,
    workspaces: WorkspaceConfig,
) -> Result<SlurmExecutor, Error> {
    let state_dir = std::path::absolute(STATE_DIR).map_err(|e| Error::Other(e.into()))?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot find the cool-runner binary: {e}")))?;
    let executor = SlurmExecutor::new(SlurmConfig {
        settings: global.slurm.clone(),
        workspaces,
        state_dir,
        grace: global.grace,
        module_args: settings.module_args.clone(),
        exe,
    });
    let dir = Path::new(STATE_DIR).join(SLURM_DIR).join(executor.name());
    let run = RunFile {
        store: (!settings.no_store).then(|| global.store_path()),
        exp: std::path::absolute(&settings.exp).ok(),
    };
    std::fs::create_dir_all(&dir)
        .and_then(|()| crate::executor::slurm::files::write_json(&dir.join("run.json"), &run))
        .map_err(|e| Error::Other(anyhow::anyhow!("failed to write `{}`: {e}", dir.display())))?;
    Ok(executor)
}

/// `run --detach` has submitted everything: say how to follow.
pub(crate) fn detached(name: &str, summary: &Summary) -> i32 {
    let _ = writeln!(
        std::io::stderr(),
        "detached: the jobs run on Slurm as `{name}`; follow them (and log them) with\n  \
         cool-runner attach {name}\nand look at them with `cool-runner status` or `squeue --name={name}`"
    );
    if summary.failed > 0 || summary.unrecorded > 0 {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// The runs under `.cool-runner/slurm/`, oldest first.
fn runs() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(Path::new(STATE_DIR).join(SLURM_DIR))
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.path().join("jobs.jsonl").is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Run `attach`.
pub(crate) fn attach(args: &AttachArgs) -> Result<i32, Error> {
    let name = match &args.run {
        Some(name) => name.clone(),
        None => runs().pop().ok_or_else(|| {
            Error::Usage(format!(
                "no Slurm run in `{STATE_DIR}/{SLURM_DIR}/`; hint: `run --executor slurm --detach` starts one"
            ))
        })?,
    };
    let dir = Path::new(STATE_DIR).join(SLURM_DIR).join(&name);
    if !dir.join("jobs.jsonl").is_file() {
        return Err(Error::Usage(format!(
            "no Slurm run `{name}` in `{STATE_DIR}/{SLURM_DIR}/`; the runs there: {}",
            runs().join(", ")
        )));
    }
    let entries: Vec<Entry> = read_entries(&dir.join("jobs.jsonl"))
        .into_iter()
        .filter(|e| !e.run_dir.join(LOGGED_FILE).exists())
        .collect();
    let run: Option<RunFile> =
        crate::executor::slurm::files::read_json(&dir.join("run.json")).unwrap_or(None);
    let mut stderr = std::io::stderr();
    let _ = writeln!(
        stderr,
        "attach: following {} job(s) of `{name}`",
        entries.len()
    );
    if entries.is_empty() {
        return Ok(exit::OK);
    }
    // Slack, as the run that submitted would have (`Global.slack`).
    let slack = run
        .as_ref()
        .and_then(|r| r.exp.as_deref())
        .and_then(|exp| super::status::global_of(exp).ok())
        .and_then(|g| g.slack);
    let store = run.and_then(|r| r.store).filter(|_| !args.no_store);
    follow(&entries, store.as_deref(), slack.as_ref())
}

/// One followed job.
struct Followed {
    entry: Entry,
    experiment: Mapping,
    spec: JobSpec,
    handle: Box<dyn Running>,
}

enum Message {
    Job(usize, JobEvent),
    /// Ctrl-C: cancel (gently first).
    Interrupt,
    /// SIGTERM, SIGHUP (the terminal closed): stop following; the jobs
    /// go on, and `attach` follows them again.
    Leave,
}

/// Follow `entries` until they end; log each.
fn follow(
    entries: &[Entry],
    store: Option<&Path>,
    slack: Option<&crate::notifier::SlackSettings>,
) -> Result<i32, Error> {
    let (tx, rx) = mpsc::channel();
    let signals = tx.clone();
    crate::runner::install_signal_handlers(move |kind| {
        let _ = signals.send(match kind {
            crate::runner::SignalKind::Interrupt => Message::Interrupt,
            crate::runner::SignalKind::Terminate => Message::Leave,
        });
    })
    .map_err(|e| Error::Other(anyhow::anyhow!("failed to install signal handlers: {e}")))?;
    let mut observers = observers(store);
    if let Some(notifier) = crate::notifier::SlackObserver::from_settings(slack) {
        observers.push(Box::new(notifier));
    }
    let mut executor = SlurmExecutor::new(SlurmConfig {
        settings: crate::model::slurm::SlurmSettings::default(),
        workspaces: WorkspaceConfig {
            runs_dir: PathBuf::from("."),
            stamp: String::new(),
        },
        state_dir: std::path::absolute(STATE_DIR).map_err(|e| Error::Other(e.into()))?,
        grace: std::time::Duration::from_secs(5),
        module_args: Vec::new(),
        exe: PathBuf::new(),
    });
    let events: JobEvents = Arc::new(move |index, event| {
        let _ = tx.send(Message::Job(index, event));
    });
    let launched = executor.adopt_all(entries, &events);
    let mut followed: Vec<Followed> = Vec::new();
    for (entry, launched) in entries.iter().zip(launched) {
        let experiment = read_experiment(&entry.run_dir);
        let spec = JobSpec::from_experiment(&experiment).unwrap_or_else(|_| JobSpec {
            name: name_of(&experiment),
            command: Vec::new(),
            timeout: None,
            log: None,
            gpus: None,
            fingerprint: Vec::new(),
            skip: false,
        });
        let started = Started {
            index: entry.index,
            name: &spec.name,
            run_dir: &entry.run_dir,
            id: &launched.id,
            pending: 0,
            slot: 0,
            running: followed.len() + 1,
            experiment: &experiment,
            identity: entry.identity.as_deref(),
            log: spec.log.as_deref(),
        };
        for o in &mut observers {
            o.experiment_started(&started);
        }
        followed.push(Followed {
            entry: entry.clone(),
            experiment,
            spec,
            handle: launched.handle,
        });
    }
    let summary = wait(&mut followed, &mut observers, &rx);
    for o in &mut observers {
        o.checkpoint();
        o.queue_finished(&summary);
    }
    Ok(summary.exit_code())
}

/// Wait for every followed job; Ctrl-C cancels gently, then outright.
fn wait(
    followed: &mut Vec<Followed>,
    observers: &mut [Box<dyn Observer>],
    rx: &mpsc::Receiver<Message>,
) -> Summary {
    let started = std::time::Instant::now();
    let mut summary = Summary::default();
    let mut next_stop = Some(Stop::Interrupt);
    while !followed.is_empty() {
        let Ok(message) = rx.recv() else { break };
        match message {
            Message::Leave => {
                eprintln!(
                    "attach: stopped following; the {} job(s) left go on (`cool-runner attach` follows them again)",
                    followed.len()
                );
                summary.stopped = true;
                break;
            }
            Message::Interrupt => {
                let Some(how) = next_stop else { continue };
                for job in followed.iter_mut() {
                    job.handle.stop(how, std::time::Duration::from_secs(5));
                }
                let text = match how {
                    Stop::Interrupt => "interrupted: sent SIGINT to the running jobs and cancelled the pending ones; Ctrl-C again cancels everything",
                    _ => "stopping: cancelled every job (scancel)",
                };
                for o in observers.iter_mut() {
                    o.message(text);
                }
                summary.stopped = how != Stop::Interrupt;
                next_stop = how.next();
            }
            Message::Job(_, JobEvent::Note(text)) => {
                for o in observers.iter_mut() {
                    o.message(&text);
                }
            }
            Message::Job(index, JobEvent::Ended(report)) => {
                let Some(at) = followed.iter().position(|f| f.entry.index == index) else {
                    continue;
                };
                let job = followed.swap_remove(at);
                let record = crate::runner::outcome_record(
                    index,
                    job.experiment,
                    &job.spec,
                    &report,
                    job.entry.run_dir,
                );
                let document = record.document();
                for o in observers.iter_mut() {
                    o.experiment_finished(&record, &document);
                }
                for o in observers.iter_mut() {
                    for warning in o.warnings() {
                        eprintln!("warning: {warning}");
                    }
                }
                summary.count(record.status);
            }
        }
    }
    summary.elapsed = started.elapsed();
    summary
}

/// The store (if any), the log writer and the terminal.
fn observers(store: Option<&Path>) -> Vec<Box<dyn Observer>> {
    let mut all: Vec<Box<dyn Observer>> = Vec::new();
    if let Some(path) = store {
        match crate::store::Store::open(path) {
            Ok(store) => {
                let cache = crate::store::SharedCache::new(crate::store::Cache::new(
                    store,
                    crate::store::Identifier::new(&[]),
                    false,
                    super::run::host_name(),
                ));
                all.push(Box::new(cache.recorder()));
            }
            Err(e) => eprintln!("warning: {e}; the results are not stored"),
        }
    }
    all.push(Box::new(crate::yaml_log::LogWriter::default()));
    let display = crate::runner::DisplayOptions {
        live: false,
        paint: crate::runner::Paint::new(crate::runner::ColourChoice::Auto, false, |k| {
            std::env::var(k).ok()
        }),
        jobs: 1,
        queue_file: None,
    };
    all.push(Box::new(crate::runner::Progress::new(display, 0)));
    all
}

/// The experiment a run directory ran (`experiment.json`).
fn read_experiment(run_dir: &Path) -> Mapping {
    std::fs::read(run_dir.join("experiment.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}
