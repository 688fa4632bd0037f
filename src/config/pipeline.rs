//! Expansion of a whole experiment file: the one path that the binary, the
//! benchmark and the property tests use.
//!
//! Order of work for one experiment document:
//! 1. merge it over the default config (its keys first, then the defaults);
//! 2. copy it `Repeat` times (1, 1, 2, 2), before any expression runs —
//!    for a document with a sweep (`sweep.rs`), steps 1–3 are done for each
//!    point in turn, made from the point's index, never from a list;
//! 3. add `REP`, `GLOBAL_REP`, `RND_IDX`, `HOST` (visible to every expression);
//! 4. evaluate keys in merged order (`evaluate.rs`);
//! 5. push the result onto the history `E`.
//!
//! Steps 1–3 (`prepare.rs`) run on a second thread, together with parsing,
//! one document ahead of evaluation on the calling thread.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{mpsc, Arc};

use yaml_serde::{Mapping, Value};

use super::error::{ConfigError, Location};
use super::evaluate::Expander;
use super::load::{check_defaults, check_document, SourceText};
use super::overrides::{apply_override, Override, Shadowing};
use super::prepare::{positive_int, prepare, ExpandOptions, Header, Prepared, Preparer};
use super::sweep::{Context, Plan, SWEEP};
use crate::expr::Sandbox;
use crate::model::keys;
use crate::yaml::read::stream_documents;

/// The result of expanding a whole file.
#[derive(Debug, Clone)]
pub struct Expansion {
    /// `Global`, after overrides.
    pub global: Mapping,
    /// The default config without `Global`, after overrides.
    pub defaults: Mapping,
    /// The expanded experiments, in queue order.
    pub experiments: Vec<Mapping>,
    /// The `+key=value` overrides that some experiments set themselves
    /// (counted over the file's documents, not when `limit` stopped early).
    pub shadowing: Vec<Shadowing>,
    /// `E` at the end of each global repetition (pipelines: the runner
    /// evaluates the keys that wait for results in it).
    pub histories: Vec<crate::expr::History>,
}

/// Read the file at `path` and expand it ([`expand_text`]).
pub fn expand_path(
    sandbox: &Sandbox,
    path: &Path,
    overrides: &[Override],
    options: &ExpandOptions,
) -> Result<Expansion, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    expand_text(sandbox, path, text, overrides, options)
}

/// Parse and expand the text of an experiment file (`path` is used in
/// messages) after applying `overrides`. Parsing runs on a second thread,
/// one document ahead of expansion. Errors keep the order of a whole-file
/// parse: a YAML or structural error anywhere in the file wins over an
/// expression error.
pub fn expand_text(
    sandbox: &Sandbox,
    path: &Path,
    text: String,
    overrides: &[Override],
    options: &ExpandOptions,
) -> Result<Expansion, ConfigError> {
    let mut collect = Collect::default();
    expand_text_into(sandbox, path, text, overrides, options, &mut collect)?;
    let (global, defaults) = collect.header.unwrap_or_default();
    let mut experiments = collect.experiments;
    let waits = super::awaits::mark_parents(&mut experiments);
    Ok(Expansion {
        global,
        defaults,
        experiments,
        shadowing: collect.shadowing,
        // Only the keys that wait are evaluated in them later.
        histories: if waits { collect.histories } else { Vec::new() },
    })
}

/// Receives an expansion as it is made, in order: the header, then each
/// experiment as soon as it is evaluated (nothing else keeps it: `E` holds
/// its own compact copy). Returning false stops the expansion.
pub trait Sink {
    /// `Global` and the default config (without `Global`), after overrides.
    fn header(&mut self, global: &Mapping, defaults: &Mapping) -> bool;
    /// The next expanded experiment, in queue order.
    fn experiment(&mut self, experiment: Mapping) -> bool;
    /// The `+key=value` overrides that some experiments set themselves,
    /// once the whole file has been read (never when `limit` stopped early).
    fn shadowing(&mut self, _found: Vec<Shadowing>) {}
    /// A document with a sweep is about to be expanded (first global
    /// repetition only): `ft: grid 3×2 × zip 2 = 12 points × Repeat 3 = 36
    /// experiments`.
    fn sweep(&mut self, _summary: &str) {}
    /// `E` of each global repetition, once the expansion is complete;
    /// asked for by returning true from [`Sink::wants_histories`].
    fn histories(&mut self, _histories: Vec<crate::expr::History>) {}
    /// The stored `done` run of `experiment`, if its results are to be
    /// used by the experiments after it (`--dry` with a results store: a
    /// pipeline's cached stage). Called before [`Sink::experiment`].
    fn stored(&mut self, _experiment: &Mapping) -> Option<Mapping> {
        None
    }
    /// Whether to keep `E` of every global repetition for
    /// [`Sink::histories`] (it is a small part of the experiments' size).
    fn wants_histories(&self) -> bool {
        false
    }
}

#[derive(Default)]
struct Collect {
    header: Option<(Mapping, Mapping)>,
    experiments: Vec<Mapping>,
    shadowing: Vec<Shadowing>,
    histories: Vec<crate::expr::History>,
}

impl Sink for Collect {
    fn wants_histories(&self) -> bool {
        true
    }
    fn header(&mut self, global: &Mapping, defaults: &Mapping) -> bool {
        self.header = Some((global.clone(), defaults.clone()));
        true
    }
    fn experiment(&mut self, experiment: Mapping) -> bool {
        self.experiments.push(experiment);
        true
    }
    fn shadowing(&mut self, found: Vec<Shadowing>) {
        self.shadowing = found;
    }
    fn histories(&mut self, histories: Vec<crate::expr::History>) {
        self.histories = histories;
    }
}

/// [`expand_path`], handing each experiment to `sink` as it is evaluated
/// instead of collecting them.
pub fn expand_path_into(
    sandbox: &Sandbox,
    path: &Path,
    overrides: &[Override],
    options: &ExpandOptions,
    sink: &mut dyn Sink,
) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    expand_text_into(sandbox, path, text, overrides, options, sink)
}

/// [`expand_text`], handing each experiment to `sink`. An error may come
/// after some experiments were handed over.
pub fn expand_text_into(
    sandbox: &Sandbox,
    path: &Path,
    text: String,
    overrides: &[Override],
    options: &ExpandOptions,
    sink: &mut dyn Sink,
) -> Result<(), ConfigError> {
    let source = Arc::new(SourceText::new(path.to_owned(), text));
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Stage>(256);
        let producer = Producer::new(Arc::clone(&source), overrides, options, tx);
        scope.spawn(move || producer.run());
        evaluate_stream(rx, sandbox, &source, options, sink)
    })
}

/// What the parsing thread hands to the evaluating one, in file order.
enum Stage {
    Header {
        global: Mapping,
        defaults: Mapping,
    },
    GlobalRep(u64),
    /// The summary of a sweep, before its points.
    Sweep(String),
    Prepared(Prepared),
    /// After the first global repetition: which overrides experiments shadow.
    Shadowing(Vec<Shadowing>),
    /// YAML or structural error: wins over any expression error.
    Malformed(ConfigError),
    /// Any other error (overrides, `Global`, `Repeat`).
    Failed(ConfigError),
}

/// The second stage: evaluate what the first one prepared, in order, and
/// hand each experiment to `sink`. It owns `rx`: returning early (an error,
/// `limit`, the sink stopping) drops it, which stops the parsing thread.
fn evaluate_stream(
    rx: mpsc::Receiver<Stage>,
    sandbox: &Sandbox,
    source: &Arc<SourceText>,
    options: &ExpandOptions,
    sink: &mut dyn Sink,
) -> Result<(), ConfigError> {
    let mut expander: Option<Expander<'_>> = None;
    let mut produced = 0usize;
    let limit = options.limit.unwrap_or(usize::MAX);
    let mut failure = None;
    for stage in &rx {
        match stage {
            Stage::Header { global, defaults } => {
                if !sink.header(&global, &defaults) {
                    return Ok(());
                }
                let mut made =
                    Expander::with_source(sandbox, Some(Arc::clone(source)), defaults, options);
                if sink.wants_histories() {
                    made.keep_histories();
                }
                expander = Some(made);
            }
            Stage::GlobalRep(rep) => {
                if let Some(expander) = expander.as_mut() {
                    expander.start_global_rep(rep);
                }
            }
            Stage::Prepared(prepared) => {
                let Some(expander) = expander.as_mut() else {
                    continue;
                };
                match expander.evaluate_prepared(prepared) {
                    Ok(done) => {
                        let base = expander.history().len() - done.len();
                        for (i, experiment) in done.into_iter().enumerate() {
                            if let Some(document) = sink.stored(&experiment) {
                                expander.finish(base + i, &document);
                            }
                            // Dropping the channel stops the parsing thread.
                            if produced >= limit || !sink.experiment(experiment) {
                                hand_histories(expander, sink);
                                return Ok(());
                            }
                            produced += 1;
                        }
                        if produced >= limit {
                            hand_histories(expander, sink);
                            return Ok(());
                        }
                    }
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
            Stage::Shadowing(found) => sink.shadowing(found),
            Stage::Sweep(summary) => sink.sweep(&summary),
            // A document that cannot be parsed or is not a mapping is
            // reported before anything else, as a whole-file parse would.
            Stage::Malformed(err) => return Err(err),
            Stage::Failed(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    if let Some(err) = failure {
        // A malformed document later in the file wins.
        return Err(rx
            .into_iter()
            .find_map(|stage| match stage {
                Stage::Malformed(later) => Some(later),
                _ => None,
            })
            .unwrap_or(err));
    }
    if let Some(expander) = expander.as_mut() {
        hand_histories(expander, sink);
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            location: Location {
                path: source.path.clone(),
                ..Location::default()
            },
            message: "internal error: the expansion pipeline stopped early".to_owned(),
        })
    }
}

/// Give the sink `E` of every global repetition, if it wants them.
fn hand_histories(expander: &mut Expander<'_>, sink: &mut dyn Sink) {
    if sink.wants_histories() {
        sink.histories(expander.histories());
    }
}

/// The first stage: parse, check, merge and copy every document, and send
/// it on. Stops preparing at the first error but keeps parsing, so that a
/// malformed document later in the file is still found.
struct Producer<'a> {
    source: Arc<SourceText>,
    overrides: &'a [Override],
    options: &'a ExpandOptions,
    tx: mpsc::SyncSender<Stage>,
    /// Index of the next document in the file.
    index: usize,
    /// `Global.repeat` and the preparer of the file's documents, once the
    /// default config has been read.
    started: Option<(u64, Preparer)>,
    failed: bool,
    /// The documents (and their sweeps), kept for global repetitions after
    /// the first.
    kept: Vec<(usize, Mapping, Option<Arc<Plan>>)>,
    /// The `--sweep` axes.
    cli_sweeps: Vec<Override>,
    /// `--seed`, else drawn once: for `random` blocks without a `seed`.
    sweep_seed: u64,
    /// Per `+key=value` override (not `Global`): how many experiments set
    /// the key themselves; and how many experiments there are.
    shadowed: Vec<usize>,
    experiments: usize,
}

impl<'a> Producer<'a> {
    fn new(
        source: Arc<SourceText>,
        overrides: &'a [Override],
        options: &'a ExpandOptions,
        tx: mpsc::SyncSender<Stage>,
    ) -> Self {
        Self {
            source,
            overrides,
            options,
            tx,
            index: 0,
            started: None,
            failed: false,
            kept: Vec::new(),
            cli_sweeps: overrides.iter().filter(|o| o.sweep).cloned().collect(),
            sweep_seed: options.seed.unwrap_or_else(rand::random),
            shadowed: vec![0; overrides.len()],
            experiments: 0,
        }
    }

    /// Whether the evaluating side still listens.
    fn send(&self, stage: Stage) -> bool {
        self.tx.send(stage).is_ok()
    }

    fn run(mut self) {
        let source = Arc::clone(&self.source);
        let parsed = stream_documents(&source.text, &source.path, 0, 0, |doc| self.document(doc));
        match parsed {
            Err(err) => {
                self.send(Stage::Malformed(err));
            }
            Ok(()) if self.started.is_none() && !self.failed => {
                // No document at all (or only empty ones).
                if let Err(err) = check_defaults(&source, None) {
                    self.send(Stage::Malformed(err));
                }
            }
            Ok(()) if !self.failed => {
                self.send(Stage::Shadowing(self.shadowing()));
                self.global_repetitions();
            }
            Ok(()) => {}
        }
    }

    /// One parsed document; false stops parsing.
    fn document(&mut self, doc: Value) -> bool {
        let at = self.index;
        self.index += 1;
        let map = match check_document(&self.source, at, doc) {
            Ok(Some(map)) => map,
            Ok(None) => return true,
            Err(err) => {
                self.send(Stage::Malformed(err));
                return false;
            }
        };
        if self.failed {
            return true;
        }
        if self.started.is_none() {
            return self.header(map);
        }
        let original = map.clone();
        let prepared = self.set_in_every(map).and_then(|map| {
            let plan = self.plan(at, &map)?;
            Ok((map, plan))
        });
        let (map, plan) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                self.failed = true;
                return self.send(Stage::Failed(err));
            }
        };
        let Some((repeat, _)) = self.started.as_ref() else {
            return false;
        };
        if *repeat > 1 {
            self.kept.push((at, map.clone(), plan.clone()));
        }
        self.prepare_document(at, &map, Some(&original), plan.as_deref())
    }

    /// Which overrides (by index) `doc` (before `++`) sets itself.
    fn shadows(&self, doc: &Mapping) -> Vec<bool> {
        self.overrides
            .iter()
            .map(|o| !o.every && !o.sweep && o.path[0] != "Global" && o.is_set_in(doc))
            .collect()
    }

    /// The sweep of document `at`, if it has one.
    fn plan(&self, at: usize, map: &Mapping) -> Result<Option<Arc<Plan>>, ConfigError> {
        let Some((_, preparer)) = self.started.as_ref() else {
            return Ok(None);
        };
        let ctx = Context {
            source: Some(&self.source),
            document: at,
            defaults: preparer.defaults(),
            cli: &self.cli_sweeps,
            seed: self.sweep_seed,
        };
        Ok(Plan::read(&ctx, map)?.map(Arc::new))
    }

    /// Prepare document `at` (every point of its sweep, if any) and send
    /// it on. `original` (the document before `++`, first global
    /// repetition only) counts the overrides it shadows. False when the
    /// evaluating side stopped listening; `failed` is set on an error.
    fn prepare_document(
        &mut self,
        at: usize,
        map: &Mapping,
        original: Option<&Mapping>,
        plan: Option<&Plan>,
    ) -> bool {
        let Some(plan) = plan else {
            let shadows = original.map(|doc| self.shadows(doc));
            return self.prepare_one(at, map, None, shadows.as_deref());
        };
        if original.is_some() {
            match self.sweep_summary(at, map, plan) {
                Ok(summary) => {
                    if !self.send(Stage::Sweep(summary)) {
                        return false;
                    }
                }
                Err(err) => {
                    self.failed = true;
                    return self.send(Stage::Failed(err));
                }
            }
        }
        // A point's keys are those of every point: count once.
        let shadows = original.map(|doc| self.shadows(&plan.document(doc, 0)));
        for point in 0..plan.points() {
            let doc = plan.document(map, point);
            if !self.prepare_one(at, &doc, Some(point), shadows.as_deref()) {
                return false;
            }
            if self.failed {
                // Keep parsing: a malformed document later still wins.
                return true;
            }
        }
        true
    }

    /// Prepare one document (or sweep point) and send it on.
    fn prepare_one(
        &mut self,
        at: usize,
        doc: &Mapping,
        point: Option<u64>,
        shadows: Option<&[bool]>,
    ) -> bool {
        let Some((_, preparer)) = self.started.as_mut() else {
            return false;
        };
        let stage = match preparer.prepare_point(at, doc, point) {
            Ok(ready) => {
                if let Some(shadows) = shadows {
                    self.experiments += ready.copies.len();
                    for (count, &shadows) in self.shadowed.iter_mut().zip(shadows) {
                        *count += if shadows { ready.copies.len() } else { 0 };
                    }
                }
                Stage::Prepared(ready)
            }
            Err(err) => {
                self.failed = true;
                Stage::Failed(err)
            }
        };
        self.send(stage)
    }

    /// Check the size of a sweep against `Global.max_experiments` and say
    /// what it expands to: `ft: grid 3×2 = 6 points × Repeat 3 = 18
    /// experiments`.
    fn sweep_summary(&self, at: usize, map: &Mapping, plan: &Plan) -> Result<String, ConfigError> {
        let Some((rounds, preparer)) = self.started.as_ref() else {
            return Ok(String::new());
        };
        let written = map
            .get(keys::REPEAT)
            .or_else(|| preparer.defaults().get(keys::REPEAT));
        // A bad `Repeat` is reported by `prepare` with its own message.
        let repeat = positive_int(written, 1).unwrap_or(1);
        let path: &[&str] = if map.contains_key(SWEEP) {
            &[SWEEP]
        } else {
            &[]
        };
        let plain_name = map
            .get(keys::NAME)
            .and_then(Value::as_str)
            .filter(|name| !name.starts_with(super::names::PARSE_PREFIX));
        let mut location = self.source.location(at, path);
        location.experiment = Some(preparer.produced);
        location.name = plain_name.map(str::to_owned);
        let described = plan.describe();
        preparer.check_sweep(location, &described, plan.points(), repeat, *rounds)?;
        let name = plain_name.map_or_else(|| format!("document {at}"), str::to_owned);
        let experiments = plan.points() * repeat;
        let mut summary = format!(
            "{name}: {described} = {} points × Repeat {repeat} = {experiments} experiments",
            plan.points()
        );
        if *rounds > 1 {
            let _ = write!(
                summary,
                " × Global.repeat {rounds} = {} experiments",
                experiments * rounds
            );
        }
        Ok(summary)
    }

    /// Apply the `++key=value` overrides to a document of the file.
    fn set_in_every(&self, mut map: Mapping) -> Result<Mapping, ConfigError> {
        for o in self.overrides.iter().filter(|o| o.every) {
            apply_override(&mut map, o)?;
        }
        Ok(map)
    }

    /// The overrides that some experiments shadow.
    fn shadowing(&self) -> Vec<Shadowing> {
        self.overrides
            .iter()
            .zip(&self.shadowed)
            .filter(|(_, &shadowed)| shadowed > 0)
            .map(|(o, &shadowed)| Shadowing {
                arg: o.arg.clone(),
                shadowed,
                of: self.experiments,
            })
            .collect()
    }

    /// The default config: `Global`, overrides and the preparer.
    fn header(&mut self, map: Mapping) -> bool {
        let to_defaults: Vec<Override> = self
            .overrides
            .iter()
            .filter(|o| !o.every && !o.sweep)
            .cloned()
            .collect();
        let checked = check_defaults(&self.source, Some(map))
            .and_then(|defaults| prepare(&self.source, defaults, &to_defaults));
        match checked {
            Ok(Header {
                global,
                defaults,
                repeat,
                max_experiments,
            }) => {
                let mut preparer = Preparer::new(
                    Some(Arc::clone(&self.source)),
                    defaults.clone(),
                    self.options,
                );
                preparer.max_experiments = max_experiments;
                self.started = Some((repeat, preparer));
                self.send(Stage::Header { global, defaults })
            }
            Err(err) => {
                self.failed = true;
                self.send(Stage::Failed(err))
            }
        }
    }

    /// Global repetitions 1.. of the kept documents.
    fn global_repetitions(&mut self) {
        let Some((repeat, preparer)) = self.started.as_mut() else {
            return;
        };
        let repeat = *repeat;
        if let Err(err) = preparer.check_rounds(repeat) {
            self.tx.send(Stage::Failed(err)).ok();
            return;
        }
        let kept = std::mem::take(&mut self.kept);
        for global_rep in 1..repeat {
            if let Some((_, preparer)) = self.started.as_mut() {
                preparer.global_rep = global_rep;
            }
            if self.tx.send(Stage::GlobalRep(global_rep)).is_err() {
                return;
            }
            for (at, map, plan) in &kept {
                if !self.prepare_document(*at, map, None, plan.as_deref()) || self.failed {
                    return;
                }
            }
        }
    }
}
