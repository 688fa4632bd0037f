//! The `run` subcommand: settings, expansion, `--pick`, `--dry`, and
//! wiring a `Session` to the queue, the executor, signals and progress.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::mpsc;

use yaml_serde::Mapping;

use crate::cli::{Color, RunArgs};
use crate::config::{self, ExpandOptions, Expansion, Override};
use crate::error::Error;
use crate::model::global::MAX_EXPERIMENTS;
use chrono::Local;

use crate::executor::{parse_gpus, LocalExecutor, SlotConfig, Slots, WorkspaceConfig};
use crate::expr::Sandbox;
use crate::model::{name_of, Global, JobSpec};
use crate::notifier::SlackObserver;
use crate::queue::{FileQueue, MemoryQueue, Queue, QueueWatcher};
use crate::runner::{
    install_signal_handlers, ColourChoice, DisplayOptions, Event, Observer, Paint, Progress,
    Session, SessionOptions,
};
use crate::store::{Cache, Identifier, SharedCache, Store};
use crate::yaml_log::LogWriter;

/// `run`'s arguments, resolved.
#[derive(Debug, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches"
)]
pub(crate) struct RunSettings {
    pub exp: PathBuf,
    pub dry: bool,
    /// `--dry --graph`: the dependency graph instead of the experiments.
    pub graph: Option<crate::cli::GraphFormat>,
    pub pick: Option<Vec<usize>>,
    pub seed: Option<u64>,
    pub follow: bool,
    pub fail_fast: bool,
    pub jobs: Option<usize>,
    pub gpus: Option<String>,
    pub rerun: bool,
    /// `--resume`: a leftover queue file is resumed even if the experiment
    /// file changed since; `--restart`: it is discarded.
    pub resume: bool,
    pub restart: bool,
    pub no_store: bool,
    /// `--serve [PORT]`: the web page of this run.
    pub serve: Option<u16>,
    pub colour: ColourChoice,
    pub overrides: Vec<Override>,
    pub module_args: Vec<OsString>,
    /// `--executor`, over `Global.executor`.
    pub executor: Option<crate::model::slurm::ExecutorKind>,
    /// `--detach` (Slurm): submit and return.
    pub detach: bool,
}

impl RunSettings {
    pub(crate) fn from_args(args: RunArgs) -> Result<Self, Error> {
        // `--retries N` is `+Retries=N`, before the overrides given.
        let retries = args
            .retries
            .map(|n| format!("+{}={n}", crate::runner::RETRIES));
        let mut overrides = retries
            .iter()
            .chain(&args.overrides)
            .map(|o| Override::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        for axis in &args.sweep {
            overrides.push(Override::parse_sweep(axis)?);
        }
        let pick = args.pick.as_deref().map(parse_pick).transpose()?;
        Ok(Self {
            exp: args.exp,
            dry: args.dry,
            graph: args.graph,
            pick,
            seed: args.seed,
            follow: args.follow,
            fail_fast: args.fail_fast,
            jobs: args.jobs,
            gpus: args.gpus,
            rerun: args.rerun,
            resume: args.resume,
            restart: args.restart,
            no_store: args.no_store,
            serve: args.serve,
            colour: match args.color {
                Color::Auto => ColourChoice::Auto,
                Color::Always => ColourChoice::Always,
                Color::Never => ColourChoice::Never,
            },
            overrides,
            module_args: args.module_args,
            executor: args
                .executor
                .as_deref()
                .map(crate::model::slurm::ExecutorKind::parse)
                .transpose()
                .map_err(|m| Error::Usage(format!("`--executor`: {m}")))?,
            detach: args.detach,
        })
    }
}

/// `0,1,3` or `2-5` or a mix.
fn parse_pick(text: &str) -> Result<Vec<usize>, Error> {
    // No file expands further: checked before a range is allocated.
    let too_far = |i: usize| match i as u64 {
        i if i < MAX_EXPERIMENTS => Ok(i as usize),
        _ => Err(Error::Usage(format!(
            "`--pick {i}` is over the limit of {MAX_EXPERIMENTS} experiments per file"
        ))),
    };
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
            too_far(b)?;
            out.extend(a..=b);
        } else {
            out.push(too_far(part.parse().map_err(|_| bad(part))?)?);
        }
    }
    if out.is_empty() {
        return Err(bad(text));
    }
    Ok(out)
}

/// Load and expand the experiment file, then apply `--pick`.
pub(crate) fn expand(settings: &RunSettings, sandbox: &Sandbox) -> Result<Expansion, Error> {
    let options = ExpandOptions {
        seed: settings.seed,
        host: host_name(),
        // `--pick` needs the experiments up to the last one picked only.
        limit: settings
            .pick
            .as_ref()
            .and_then(|pick| pick.iter().max())
            .map(|last| last + 1),
        placeholders: false,
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
pub(crate) fn run(settings: &RunSettings) -> Result<i32, Error> {
    let sandbox = Sandbox::new();
    if settings.dry {
        return super::dry::dry_run(settings, &sandbox);
    }
    // The handlers come first: a signal during a long expansion stops the
    // run before anything starts, instead of killing the runner.
    let channel = signal_channel()?;
    let expansion = expand(settings, &sandbox)?;
    let global = Global::from_mapping_in(&expansion.global, &settings.exp)?;
    warn_about_keys(&expansion);
    let slots = slot_config(settings, &global)?;
    check_experiments(&expansion.experiments, &slots)?;
    let slurm = super::attach::check_slurm(settings, &global, &expansion.experiments)?;
    if let Some(port) = settings.serve {
        crate::commands::serve::serve_run(&global, settings.no_store, port)?;
    }
    let code = run_experiments(
        settings,
        &global,
        &sandbox,
        expansion,
        (slots, slurm),
        channel,
    )?;
    if settings.serve.is_some() {
        crate::commands::serve::linger();
    }
    Ok(code)
}

/// Misspelt runner keys, and `+key=value` overrides that every experiment
/// shadows (shadowed in some only is a common way to set the rest).
pub(crate) fn warn_about_keys(expansion: &Expansion) {
    for misspelt in crate::model::keys::misspelt_runner_keys(&expansion.experiments) {
        let _ = writeln!(std::io::stderr(), "warning: {misspelt}");
    }
    warn_about_shadowing(&expansion.shadowing);
}

/// `+key=value` overrides that every experiment sets itself.
pub(crate) fn warn_about_shadowing(shadowing: &[crate::config::Shadowing]) {
    for shadowing in shadowing.iter().filter(|s| s.shadowed == s.of) {
        let _ = writeln!(std::io::stderr(), "warning: {shadowing}");
    }
}

/// The session's event channel, with the signal handlers sending into it.
fn signal_channel() -> Result<(mpsc::Sender<Event>, mpsc::Receiver<Event>), Error> {
    let (tx, rx) = mpsc::channel();
    let signals = tx.clone();
    install_signal_handlers(move |kind| {
        let _ = signals.send(Event::Signal(kind));
    })
    .map_err(|e| Error::Other(anyhow::anyhow!("failed to install signal handlers: {e}")))?;
    Ok((tx, rx))
}

/// The identity calculator for this run.
pub(crate) fn identifier(settings: &RunSettings) -> Identifier {
    Identifier::new(&settings.module_args)
}

/// Check every experiment's runner keys (`Module`, `Timeout`, `YamlLog`,
/// `GPUs` against the run's GPUs, `Fingerprint`) before anything runs.
fn check_experiments(experiments: &[Mapping], slots: &SlotConfig) -> Result<(), Error> {
    let checker = Slots::new(slots.clone());
    for (index, experiment) in experiments.iter().enumerate() {
        check_experiment(index, experiment, &checker)?;
    }
    Ok(())
}

/// Check one experiment's runner keys (see [`check_experiments`]).
pub(crate) fn check_experiment(
    index: usize,
    experiment: &Mapping,
    checker: &Slots,
) -> Result<(), Error> {
    let bad = |message: String| {
        Error::Usage(format!(
            "experiment {index} `{}`: {message}",
            name_of(experiment)
        ))
    };
    let spec = JobSpec::from_experiment(experiment).map_err(bad)?;
    if let Some(message) = crate::runner::check_retries(experiment) {
        return Err(bad(message));
    }
    if !spec.skip {
        checker.wanted(experiment).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

/// Slots and GPUs: `-j`/`--gpus` over `Global.jobs`/`Global.gpus`; warns
/// when the GPUs make the run do less than asked.
pub(crate) fn slot_config(settings: &RunSettings, global: &Global) -> Result<SlotConfig, Error> {
    let (text, source) = match (&settings.gpus, &global.gpus) {
        (Some(text), _) => (Some(text), "`--gpus`"),
        (None, text) => (text.as_ref(), "`Global.gpus`"),
    };
    let gpus = match text {
        Some(text) => parse_gpus(text).map_err(|e| Error::Usage(format!("{source}: {e}")))?,
        None => Vec::new(),
    };
    if settings.jobs == Some(0) {
        return Err(Error::Usage("`-j` must be at least 1".to_owned()));
    }
    let mut stderr = std::io::stderr();
    if text.is_some_and(|t| t.trim() == "auto") && gpus.is_empty() {
        let _ = writeln!(
            stderr,
            "warning: {source} auto: `nvidia-smi -L` lists no GPU (is it installed?), so \
             experiments run without GPUs and `CUDA_VISIBLE_DEVICES` is left as it is"
        );
    }
    let config = SlotConfig::new(settings.jobs.or(global.jobs), gpus);
    if !config.gpus.is_empty() && config.jobs > config.gpus.len() {
        let _ = writeln!(
            stderr,
            "warning: {} slots but {} GPU(s): each experiment takes one GPU unless it sets \
             `GPUs: 0`, so at most {} run at once",
            config.jobs,
            config.gpus.len(),
            config.gpus.len()
        );
    }
    Ok(config)
}

/// The expander of documents added to the queue file while the run works.
fn runtime_expander<'s>(
    settings: &RunSettings,
    sandbox: &'s Sandbox,
    defaults: &Mapping,
) -> config::Expander<'s> {
    config::Expander::new(
        sandbox,
        None,
        defaults.clone(),
        &ExpandOptions {
            // Documents added to the queue file later draw their `RND_IDX`
            // from a stream of their own: still reproducible with `--seed`,
            // but not a replay of the values the file's experiments got.
            seed: settings.seed.map(|s| s ^ 0x9e37_79b9_7f4a_7c15),
            host: host_name(),
            limit: None,
            placeholders: false,
        },
    )
}

fn run_experiments(
    settings: &RunSettings,
    global: &Global,
    sandbox: &Sandbox,
    expansion: Expansion,
    (slots, slurm): (SlotConfig, bool),
    (tx, rx): (mpsc::Sender<Event>, mpsc::Receiver<Event>),
) -> Result<i32, Error> {
    let notifier = SlackObserver::from_settings(global.slack.as_ref());

    let (mut queue, _watcher, resumed) = match &global.queue {
        None => (
            Box::new(MemoryQueue::new(expansion.experiments)) as Box<dyn Queue>,
            None,
            false,
        ),
        Some(path) => {
            let (queue, watcher, resumed) =
                open_queue_file(path, settings, &expansion.experiments, &tx)?;
            (Box::new(queue) as Box<dyn Queue>, watcher, resumed)
        }
    };
    announce(settings, global, queue.pending(), resumed);
    let live = std::io::stderr().is_terminal();
    let display = DisplayOptions {
        live,
        paint: Paint::new(settings.colour, live, |k| std::env::var(k).ok()),
        jobs: slots.jobs,
        queue_file: global.queue.clone(),
    };
    let progress = Progress::new(display, queue.pending());
    let workspaces = WorkspaceConfig {
        runs_dir: global.runs.clone(),
        stamp: Local::now().format("%Y-%m-%d_%H-%M-%S").to_string(),
    };
    let (mut local, mut on_slurm, mut run_name) = (None, None, String::new());
    let executor: &mut dyn crate::executor::Executor = if slurm {
        let executor = super::attach::slurm_executor(settings, global, workspaces)?;
        executor.name().clone_into(&mut run_name);
        on_slurm.insert(executor)
    } else {
        local.insert(LocalExecutor::new(
            settings.module_args.clone(),
            progress.sink(),
            slots,
            workspaces,
            global.grace,
        ))
    };
    let expander = runtime_expander(settings, sandbox, &expansion.defaults);
    let options = SessionOptions {
        fail_fast: settings.fail_fast,
        follow: settings.follow,
        grace: global.grace,
        detach: settings.detach,
        ..SessionOptions::default()
    };
    let mut session = Session::new(
        options,
        executor,
        queue.as_mut(),
        expander,
        expansion.defaults,
        (tx, rx),
    );
    session.set_histories(expansion.histories);
    // Observers in the order they hear of each experiment: the store, the
    // log, the terminal, Slack.
    if let Some(cache) = open_cache(settings, global) {
        session.add_observer(Box::new(cache.recorder()));
        session.set_store(Box::new(cache));
    }
    session.add_observer(Box::new(LogWriter::default()));
    session.add_observer(Box::new(progress) as Box<dyn Observer>);
    if let Some(notifier) = notifier {
        session.add_observer(Box::new(notifier));
    }
    let summary = session.run().map_err(queue_error)?;
    if settings.detach {
        return Ok(super::attach::detached(&run_name, &summary));
    }
    Ok(summary.exit_code())
}

/// The run's first line: how many experiments, from where.
pub(crate) fn announce(settings: &RunSettings, global: &Global, pending: usize, resumed: bool) {
    let mut stderr = std::io::stderr();
    let _ = match (&global.queue, resumed) {
        (Some(q), true) => writeln!(
            stderr,
            "cool-runner: {pending} experiment(s) from the queue file `{}`",
            q.display()
        ),
        (q, _) => writeln!(
            stderr,
            "cool-runner: {pending} experiment(s) from {}{}",
            settings.exp.display(),
            q.as_ref()
                .map(|q| format!(", queue file `{}`", q.display()))
                .unwrap_or_default()
        ),
    };
}

/// The results store as a cache, unless `--no-store` (or it cannot be
/// opened: a warning, and the run goes on without it).
pub(crate) fn open_cache(settings: &RunSettings, global: &Global) -> Option<SharedCache> {
    if settings.no_store {
        return None;
    }
    match Store::open(&global.store_path()) {
        Ok(store) => Some(SharedCache::new(Cache::new(
            store,
            identifier(settings),
            settings.rerun,
            host_name(),
        ))),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "warning: {e}; running without the result cache"
            );
            None
        }
    }
}

/// Resume the queue file at `path` if it (or its journal) holds
/// experiments, else write `experiments` to it; watch it for edits. The
/// last value says whether it was resumed.
pub(crate) fn open_queue_file(
    path: &std::path::Path,
    settings: &RunSettings,
    experiments: &[Mapping],
    tx: &mpsc::Sender<Event>,
) -> Result<(FileQueue, Option<QueueWatcher>, bool), Error> {
    let mut stderr = std::io::stderr();
    // What the queue is expanded from: the file and the arguments that
    // change the expansion.
    let args = format!(
        "{:?}{:?}{:?}",
        settings.overrides, settings.pick, settings.seed
    );
    let source = crate::queue::source_digest(&settings.exp, &args);
    if settings.restart {
        FileQueue::discard(path).map_err(queue_error)?;
    }
    let (queue, resumed) = FileQueue::open(path, &source, experiments).map_err(queue_error)?;
    if let Some(resumed) = &resumed {
        if resumed.source_changed && !settings.resume {
            return Err(Error::Usage(format!(
                "`{}` (or the arguments) changed since the queue file `{}` was written, \
                 and it still holds {} experiment(s); hint: `--resume` runs the queue as it \
                 is, `--restart` expands `{}` again (the queue file is replaced)",
                settings.exp.display(),
                path.display(),
                queue.pending(),
                settings.exp.display()
            )));
        }
        let _ = writeln!(
            stderr,
            "queue: resuming {} pending experiment(s) from `{}` left by an \
             earlier run (`--restart` expands `{}` again instead)",
            queue.pending(),
            path.display(),
            settings.exp.display()
        );
        if resumed.requeued > 0 {
            let _ = writeln!(
                stderr,
                "queue: {} experiment(s) that were running when the earlier run \
                 died are back at the head",
                resumed.requeued
            );
        }
    }
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
    Ok((queue, watcher, resumed.is_some()))
}

pub(crate) fn queue_error(err: crate::queue::QueueError) -> Error {
    match err {
        crate::queue::QueueError::Invalid { .. } | crate::queue::QueueError::Busy { .. } => {
            Error::Usage(err.to_string())
        }
        other => Error::Other(anyhow::Error::new(other)),
    }
}

/// The machine's host name, for `HOST`.
pub(crate) fn host_name() -> String {
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
