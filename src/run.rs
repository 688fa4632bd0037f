//! The `run` subcommand: settings, expansion, `--pick`, `--dry`, and
//! wiring a `Session` to the queue, the executor, signals and progress.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use yaml_serde::{Mapping, Value};

use crate::cli::RunArgs;
use crate::config::{self, ExpandOptions, Expansion, Override};
use crate::error::{exit, Error};
use crate::expr::Sandbox;
use crate::notifier::{FinishedExperiment, Notifier};
use crate::queue::{FileQueue, MemoryQueue, Queue, QueueWatcher};
use crate::runner::{
    install_signal_handlers, Event, JobSpec, LocalExecutor, Observer, Progress, Session,
    SessionOptions, Summary,
};
use crate::yaml_log::Record;

/// `run`'s arguments, resolved.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub exp: PathBuf,
    pub dry: bool,
    pub pick: Option<Vec<usize>>,
    pub seed: Option<u64>,
    pub follow: bool,
    pub fail_fast: bool,
    pub overrides: Vec<Override>,
    pub module_args: Vec<OsString>,
}

impl RunSettings {
    pub fn from_args(args: RunArgs) -> Result<Self, Error> {
        let overrides = args
            .overrides
            .iter()
            .map(|o| Override::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        let pick = args.pick.as_deref().map(parse_pick).transpose()?;
        Ok(Self {
            exp: args.exp,
            dry: args.dry,
            pick,
            seed: args.seed,
            follow: args.follow,
            fail_fast: args.fail_fast,
            overrides,
            module_args: args.module_args,
        })
    }
}

/// `0,1,3` or `2-5` or a mix.
fn parse_pick(text: &str) -> Result<Vec<usize>, Error> {
    let bad = |part: &str| {
        Error::Usage(format!(
            "invalid `--pick` entry `{part}`: expected indices like `0,1,3` or a range `2-5`"
        ))
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a: usize = a.trim().parse().map_err(|_| bad(part))?;
            let b: usize = b.trim().parse().map_err(|_| bad(part))?;
            if b < a {
                return Err(bad(part));
            }
            out.extend(a..=b);
        } else {
            out.push(part.parse().map_err(|_| bad(part))?);
        }
    }
    if out.is_empty() {
        return Err(bad(text));
    }
    Ok(out)
}

/// Load and expand the experiment file, then apply `--pick`.
pub fn expand(settings: &RunSettings, sandbox: &Sandbox) -> Result<Expansion, Error> {
    let options = ExpandOptions {
        seed: settings.seed,
        host: host_name(),
    };
    let mut expansion = config::expand_path(sandbox, &settings.exp, &settings.overrides, &options)?;
    if let Some(pick) = &settings.pick {
        expansion.experiments = pick_indices(&expansion.experiments, pick)?;
    }
    Ok(expansion)
}

fn pick_indices(experiments: &[Mapping], pick: &[usize]) -> Result<Vec<Mapping>, Error> {
    pick.iter()
        .map(|&i| {
            experiments.get(i).cloned().ok_or_else(|| {
                Error::Usage(format!(
                    "`--pick {i}` is out of range: the expanded queue holds {} experiment(s) (0..{})",
                    experiments.len(),
                    experiments.len().saturating_sub(1)
                ))
            })
        })
        .collect()
}

/// Run the `run` subcommand; returns the exit status.
pub fn run(settings: &RunSettings) -> Result<i32, Error> {
    let sandbox = Sandbox::new();
    let expansion = expand(settings, &sandbox)?;
    if settings.dry {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        match crate::yaml_out::write_documents(&mut out, &expansion.experiments) {
            Ok(()) => {}
            // `| head` closed the pipe: that is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
            Err(e) => return Err(Error::Output(e)),
        }
        drop(out);
        let _ = writeln!(
            std::io::stderr(),
            "{} experiment(s) expanded from {} (dry run: nothing was run)",
            expansion.experiments.len(),
            settings.exp.display()
        );
        return Ok(exit::OK);
    }
    run_experiments(settings, &sandbox, expansion)
}

/// The runner's settings from `Global`.
#[derive(Debug, Clone, PartialEq)]
struct GlobalSettings {
    queue: Option<PathBuf>,
    runs: PathBuf,
    grace: Duration,
}

impl GlobalSettings {
    fn from_global(global: &Mapping) -> Result<Self, Error> {
        let bad = |key: &str, what: &str| Error::Usage(format!("`Global.{key}` must be {what}"));
        let path = |key: &str| match global.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(PathBuf::from(s))),
            Some(_) => Err(bad(key, "a path or null")),
        };
        let grace = match global.get("grace") {
            None | Some(Value::Null) => Duration::from_secs(5),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(s) if s >= 0.0 && s.is_finite() => Duration::from_secs_f64(s),
                _ => return Err(bad("grace", "a number of seconds")),
            },
            Some(_) => return Err(bad("grace", "a number of seconds")),
        };
        Ok(Self {
            queue: path("queue")?,
            runs: path("runs")?.unwrap_or_else(|| PathBuf::from("runs")),
            grace,
        })
    }
}

/// Check every experiment's runner keys before anything runs.
fn check_experiments(experiments: &[Mapping]) -> Result<(), Error> {
    for (index, experiment) in experiments.iter().enumerate() {
        JobSpec::from_experiment(experiment).map_err(|message| {
            Error::Usage(format!(
                "experiment {index} `{}`: {message}",
                crate::runner::name_of(experiment)
            ))
        })?;
    }
    Ok(())
}

fn run_experiments(
    settings: &RunSettings,
    sandbox: &Sandbox,
    expansion: Expansion,
) -> Result<i32, Error> {
    let global = GlobalSettings::from_global(&expansion.global)?;
    check_experiments(&expansion.experiments)?;
    let notifier = Notifier::from_global(&expansion.global)?;
    let (tx, rx) = mpsc::channel();
    let signals = tx.clone();
    install_signal_handlers(move |kind| {
        let _ = signals.send(Event::Signal(kind));
    })
    .map_err(|e| Error::Other(anyhow::anyhow!("failed to install signal handlers: {e}")))?;

    let mut stderr = std::io::stderr();
    let (mut queue, _watcher) = match &global.queue {
        None => (
            Box::new(MemoryQueue::new(expansion.experiments)) as Box<dyn Queue>,
            None,
        ),
        Some(path) => {
            let (queue, watcher) = open_queue_file(path, settings, &expansion.experiments, &tx)?;
            (Box::new(queue) as Box<dyn Queue>, watcher)
        }
    };
    let _ = writeln!(
        stderr,
        "cool-runner: {} experiment(s) from {}{}",
        queue.pending(),
        settings.exp.display(),
        global
            .queue
            .as_ref()
            .map(|q| format!(", queue file `{}`", q.display()))
            .unwrap_or_default()
    );

    let progress = Progress::new(stderr.is_terminal(), queue.pending());
    let mut executor = LocalExecutor::new(settings.module_args.clone(), progress.sink());
    let expander = config::Expander::new(
        sandbox,
        None,
        expansion.defaults.clone(),
        &ExpandOptions {
            seed: settings.seed,
            host: host_name(),
        },
    );
    let options = SessionOptions {
        fail_fast: settings.fail_fast,
        follow: settings.follow,
        grace: global.grace,
        runs_dir: global.runs.clone(),
        ..SessionOptions::default()
    };
    let mut session = Session::new(
        options,
        &mut executor,
        queue.as_mut(),
        expander,
        expansion.defaults,
        (tx, rx),
    );
    session.add_observer(Box::new(progress) as Box<dyn Observer>);
    if let Some(notifier) = notifier {
        session.add_observer(Box::new(SlackObserver {
            notifier: Some(notifier),
        }));
    }
    let summary = session.run().map_err(queue_error)?;
    Ok(summary.exit_code())
}

/// Forwards finished experiments and the end of the queue to Slack. The
/// notifier posts from its own thread, so none of this waits on the network
/// except the final flush, which is bounded.
struct SlackObserver {
    notifier: Option<Notifier>,
}

impl Observer for SlackObserver {
    fn experiment_finished(&mut self, record: &Record) {
        if let Some(notifier) = &mut self.notifier {
            let finished = FinishedExperiment::from_log_document(record.index, &record.document());
            notifier.experiment_finished(&finished);
        }
    }

    fn queue_finished(&mut self, summary: &Summary) {
        if let Some(mut notifier) = self.notifier.take() {
            notifier.queue_finished(summary.elapsed);
            // Unsent messages get a few seconds; a person who stopped the run
            // is not kept waiting long.
            let deadline = if summary.stopped { 1 } else { 5 };
            notifier.shutdown(Duration::from_secs(deadline));
        }
    }
}

/// Resume the queue file at `path` if it holds experiments, else write
/// `experiments` to it; watch it for edits.
fn open_queue_file(
    path: &std::path::Path,
    settings: &RunSettings,
    experiments: &[Mapping],
    tx: &mpsc::Sender<Event>,
) -> Result<(FileQueue, Option<QueueWatcher>), Error> {
    let mut stderr = std::io::stderr();
    let queue = match FileQueue::resume(path).map_err(queue_error)? {
        Some(queue) => {
            let _ = writeln!(
                stderr,
                "queue: resuming {} pending experiment(s) from `{}` left by an \
                 earlier run (delete it to start again from `{}`)",
                queue.pending(),
                path.display(),
                settings.exp.display()
            );
            queue
        }
        None => FileQueue::create(path, experiments).map_err(queue_error)?,
    };
    let changed = tx.clone();
    let watcher = QueueWatcher::new(path, move || {
        let _ = changed.send(Event::QueueChanged);
    })
    .map_err(|e| {
        let _ = writeln!(
            stderr,
            "warning: {e}; edits are seen when the next experiment starts"
        );
    })
    .ok();
    Ok((queue, watcher))
}

fn queue_error(err: crate::queue::QueueError) -> Error {
    match err {
        crate::queue::QueueError::Invalid { .. } => Error::Usage(err.to_string()),
        other => Error::Other(anyhow::Error::new(other)),
    }
}

/// The machine's host name, for `HOST`.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse_pick;

    #[test]
    fn pick_lists_and_ranges() {
        assert_eq!(parse_pick("0,1,3").unwrap(), [0, 1, 3]);
        assert_eq!(parse_pick("2-4, 7").unwrap(), [2, 3, 4, 7]);
        assert!(parse_pick("a").is_err());
        assert!(parse_pick("4-2").is_err());
        assert!(parse_pick("").is_err());
    }
}
