//! `run --dry`: print the expanded experiments and say which are cached.
//!
//! Without `--pick` the output streams: each experiment is handed on as
//! soon as it is evaluated, emitted on a writer thread and freed, so memory
//! does not grow with the number of experiments (the history `E` keeps its
//! own compact copy). On an error the output stops where it was and the
//! command fails. With `--pick` only the experiments up to the last one
//! picked are expanded, then printed in the order asked.

use std::io::Write;
use std::sync::mpsc;

use yaml_serde::{Mapping, Value};

use super::graph::{Chains, Graph};
use super::run::{
    check_experiment, expand, host_name, identifier, slot_config, warn_about_keys,
    warn_about_shadowing, RunSettings,
};
use crate::config::{self, ExpandOptions, Sink};
use crate::error::{exit, Error};
use crate::executor::Slots;
use crate::expr::Sandbox;
use crate::model::keys::MisspeltKeys;
use crate::model::{name_of, Global};
use crate::store::{Cache, Store};

/// Experiments handed to the writer thread at a time.
const BATCH: usize = 256;

/// `run --dry`; returns the exit status.
pub(crate) fn dry_run(settings: &RunSettings, sandbox: &Sandbox) -> Result<i32, Error> {
    if settings.pick.is_some() {
        return dry_picked(settings, sandbox);
    }
    let options = ExpandOptions {
        seed: settings.seed,
        host: host_name(),
        limit: None,
        placeholders: true,
    };
    let (tx, rx) = mpsc::sync_channel::<Vec<Mapping>>(4);
    let (expanded, written) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || write_batches(&rx));
        let mut sink = Stream {
            settings,
            tx: Some(tx),
            batch: Vec::with_capacity(BATCH),
            report: None,
            header_error: None,
            checker: None,
            slurm: None,
            misspelt: MisspeltKeys::default(),
            shadowing: Vec::new(),
            count: 0,
            chains: Chains::default(),
            graph: settings.graph.map(Graph::new),
            checked: None,
        };
        let expanded = config::expand_path_into(
            sandbox,
            &settings.exp,
            &settings.overrides,
            &options,
            &mut sink,
        )
        .map_err(Error::from)
        .and_then(|()| sink.finish());
        drop(sink);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the output thread panicked")));
        (expanded, written)
    });
    let count = expanded?;
    match written {
        Ok(()) => {}
        // `| head` closed the pipe: that is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
        Err(e) => return Err(Error::Output(e)),
    }
    done(settings, count);
    Ok(exit::OK)
}

fn done(settings: &RunSettings, count: usize) {
    let _ = writeln!(
        std::io::stderr(),
        "{count} experiment(s) expanded from {} (dry run: nothing was run)",
        settings.exp.display()
    );
}

/// `--dry --pick`: the experiments picked, in the order asked.
fn dry_picked(settings: &RunSettings, sandbox: &Sandbox) -> Result<i32, Error> {
    let expansion = expand(settings, sandbox)?;
    let global = Global::from_mapping_in(&expansion.global, &settings.exp)?;
    warn_about_keys(&expansion);
    let checker = Slots::new(slot_config(settings, &global)?);
    let slurm = super::attach::slurm_chosen(settings, &global)?;
    for (at, experiment) in expansion.experiments.iter().enumerate() {
        let index = settings.pick.as_ref().map_or(at, |pick| pick[at]);
        check_experiment(index, experiment, &checker)?;
        if slurm {
            super::attach::check_slurm_experiment(&global, index, experiment)?;
        }
    }
    let mut report = Report::new(settings, &global);
    let mut chains = Chains::default();
    for (at, experiment) in expansion.experiments.iter().enumerate() {
        report.add(at, experiment, None);
        chains.add(at, experiment);
    }
    report.finish(&chains);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match crate::yaml::write::write_documents(&mut out, &expansion.experiments) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
        Err(e) => return Err(Error::Output(e)),
    }
    drop(out);
    done(settings, expansion.experiments.len());
    Ok(exit::OK)
}

/// Emit and write each batch, in order, then free it.
fn write_batches(rx: &mpsc::Receiver<Vec<Mapping>>) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut buf = Vec::with_capacity(BATCH * 1024);
    for batch in rx {
        for doc in &batch {
            crate::yaml::write::emit_document(&mut buf, doc).map_err(std::io::Error::other)?;
        }
        out.write_all(&buf)?;
        buf.clear();
    }
    out.flush()
}

/// The streaming sink: checks `Global`, reports the cache, batches the
/// experiments for the writer thread.
struct Stream<'a> {
    settings: &'a RunSettings,
    tx: Option<mpsc::SyncSender<Vec<Mapping>>>,
    batch: Vec<Mapping>,
    report: Option<Report>,
    /// The first error: `Global`, or an experiment that `run` would refuse.
    header_error: Option<Error>,
    checker: Option<Slots>,
    /// `Global`, when the run uses Slurm: each `Slurm:` mapping is checked.
    slurm: Option<Global>,
    misspelt: MisspeltKeys,
    shadowing: Vec<crate::config::Shadowing>,
    count: usize,
    chains: Chains,
    /// `--graph`: printed instead of the experiments.
    graph: Option<Graph>,
    /// What `stored` found for the experiment `experiment` is handed next.
    checked: Option<Verdict>,
}

impl Stream<'_> {
    /// Whether the writer still listens.
    fn flush(&mut self) -> bool {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        match &self.tx {
            Some(tx) => tx.send(batch).is_ok(),
            None => false,
        }
    }

    /// The last batch and the report's summary; the number of experiments.
    fn finish(&mut self) -> Result<usize, Error> {
        if let Some(err) = self.header_error.take() {
            return Err(err);
        }
        self.flush();
        self.tx = None;
        for misspelt in std::mem::take(&mut self.misspelt).finish() {
            let _ = writeln!(std::io::stderr(), "warning: {misspelt}");
        }
        warn_about_shadowing(&self.shadowing);
        if let Some(graph) = self.graph.take() {
            graph.finish();
        }
        if let Some(report) = self.report.take() {
            report.finish(&self.chains);
        }
        Ok(self.count)
    }
}

impl Sink for Stream<'_> {
    fn header(&mut self, global: &Mapping, _defaults: &Mapping) -> bool {
        let checked = Global::from_mapping_in(global, &self.settings.exp)
            .map_err(Error::from)
            .and_then(|global| Ok((slot_config(self.settings, &global)?, global)))
            .and_then(|(slots, global)| {
                let slurm = super::attach::slurm_chosen(self.settings, &global)?;
                Ok((slots, slurm, global))
            });
        match checked {
            Ok((slots, slurm, global)) => {
                self.checker = Some(Slots::new(slots));
                self.slurm = slurm.then(|| global.clone());
                self.report = Some(Report::new(self.settings, &global));
                true
            }
            Err(err) => {
                self.header_error = Some(err);
                false
            }
        }
    }

    fn experiment(&mut self, experiment: Mapping) -> bool {
        // `--dry` checks everything `run` checks. After the first refusal
        // nothing more is printed, but the expansion goes on: an expansion
        // error later in the file wins, as it does for `run`.
        if self.header_error.is_some() {
            return true;
        }
        if let Some(checker) = &self.checker {
            let checked = check_experiment(self.count, &experiment, checker).and_then(|()| {
                self.slurm.as_ref().map_or(Ok(()), |global| {
                    super::attach::check_slurm_experiment(global, self.count, &experiment)
                })
            });
            if let Err(err) = checked {
                self.header_error = Some(err);
                self.tx = None;
                self.batch.clear();
                return true;
            }
        }
        self.misspelt.add(self.count, &experiment);
        let checked = self.checked.take();
        if let Some(report) = self.report.as_mut() {
            report.add(self.count, &experiment, checked);
        }
        let parents = self.chains.add(self.count, &experiment);
        if let Some(graph) = self.graph.as_mut() {
            graph.add(self.count, &parents, &self.chains);
            self.count += 1;
            return true;
        }
        self.count += 1;
        self.batch.push(experiment);
        self.batch.len() < BATCH || self.flush()
    }

    fn stored(&mut self, experiment: &Mapping) -> Option<Mapping> {
        if self.graph.is_some() {
            // The graph shows what waits for what, cached or not.
            return None;
        }
        let verdict = self.report.as_mut()?.check(experiment);
        let stored = match &verdict {
            Verdict::Cached(document) => Some(document.clone()),
            _ => None,
        };
        self.checked = Some(verdict);
        stored
    }

    fn shadowing(&mut self, found: Vec<crate::config::Shadowing>) {
        self.shadowing = found;
    }

    /// `ft: grid 3×2 × zip 2 = 12 points × Repeat 3 = 36 experiments`, in
    /// order with the report's lines.
    fn sweep(&mut self, summary: &str) {
        match self.report.as_mut() {
            Some(report) => {
                let _ = writeln!(report.stderr, "{summary}");
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{summary}");
            }
        }
    }
}

/// `--dry`'s report on stderr: which experiments are cached and which
/// would run (a line each when a store exists), then a summary.
struct Report {
    cache: Option<Cache>,
    /// No report at all (`--no-store`).
    quiet: bool,
    pick: Option<Vec<usize>>,
    rerun: bool,
    cached: usize,
    to_run: usize,
    skipped: usize,
    waiting: usize,
    stderr: std::io::BufWriter<std::io::Stderr>,
}

/// What the report says of one experiment.
enum Verdict {
    Skip,
    /// It waits for results of earlier experiments.
    Waits,
    Cached(Mapping),
    Run,
}

impl Report {
    fn new(settings: &RunSettings, global: &Global) -> Self {
        let mut stderr = std::io::BufWriter::new(std::io::stderr());
        let cache = if settings.no_store {
            None
        } else {
            match Store::open_existing(&global.store_path()) {
                Ok(store) => store,
                Err(e) => {
                    let _ = writeln!(stderr, "warning: {e}");
                    None
                }
            }
            .map(|store| Cache::new(store, identifier(settings), settings.rerun, host_name()))
        };
        Self {
            cache,
            quiet: settings.no_store,
            pick: settings.pick.clone(),
            rerun: settings.rerun,
            cached: 0,
            to_run: 0,
            skipped: 0,
            waiting: 0,
            stderr,
        }
    }

    /// What `run` would do with `experiment` (looked up in the store).
    fn check(&mut self, experiment: &Mapping) -> Verdict {
        if experiment.get("Name").and_then(Value::as_str) == Some("skip") {
            return Verdict::Skip;
        }
        if experiment.contains_key(crate::model::keys::WAITS_FOR) {
            return Verdict::Waits;
        }
        match self.cache.as_mut().map(|cache| cache.check(experiment)) {
            Some(Ok((_, Some(document)))) if !self.rerun => Verdict::Cached(document),
            _ => Verdict::Run,
        }
    }

    /// Count `experiment` (number `at`) and say what `run` would do with
    /// it; `checked`: what [`Report::check`] said already.
    fn add(&mut self, at: usize, experiment: &Mapping, checked: Option<Verdict>) {
        if self.quiet {
            return;
        }
        let verdict = checked.unwrap_or_else(|| self.check(experiment));
        let what = match verdict {
            Verdict::Skip => {
                self.skipped += 1;
                "skip"
            }
            Verdict::Waits => {
                self.waiting += 1;
                "waits"
            }
            Verdict::Cached(_) => {
                self.cached += 1;
                "cached"
            }
            Verdict::Run => {
                self.to_run += 1;
                "would run"
            }
        };
        if self.cache.is_none() {
            // No store yet: nothing can be cached, and a line per
            // experiment would only repeat "would run".
            return;
        }
        // The index as `--pick` counts it.
        let index = self.pick.as_ref().map_or(at, |pick| pick[at]);
        let name = name_of(experiment);
        let _ = writeln!(self.stderr, "{index:>5} {what:<9} {name}");
    }

    fn finish(mut self, chains: &Chains) {
        if self.quiet {
            return;
        }
        let mut summary = format!("{} cached, {} to run", self.cached, self.to_run);
        if self.waiting > 0 {
            let _ = std::fmt::Write::write_fmt(
                &mut summary,
                format_args!(", {} waiting for results", self.waiting),
            );
        }
        if self.skipped > 0 {
            let _ = std::fmt::Write::write_fmt(
                &mut summary,
                format_args!(", {} skipped", self.skipped),
            );
        }
        if self.cache.is_none() {
            summary.push_str(" (no results store yet)");
        }
        let _ = writeln!(self.stderr, "{summary}");
        if let Some(chain) = chains.summary() {
            let _ = writeln!(self.stderr, "{chain}");
        }
        let _ = self.stderr.flush();
    }
}
