//! Evaluation of `parse` values (step 4 of `pipeline.rs`): each evaluated
//! key is pushed into the Rhai scope, so an expression sees earlier keys of
//! its own level and of every enclosing level, and the deepest binding wins
//! (Rhai searches the scope from the end). Leaving a mapping rewinds the
//! scope to its start. The result is pushed onto the history `E`.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use yaml_serde::{Mapping, Value};

use super::error::{ConfigError, Location};
use super::load::SourceText;
use super::merge::merge_over;
use super::names::{
    has_expressions, has_expressions_in, join_path, referenced_names, Names, PARSE_PREFIX,
};
use super::prepare::{positive_int, ExpandOptions, Prepared, Preparer, RUNNER_KEYS};
use super::sweep::{Context, Plan, SWEEP};
use crate::expr::{
    discover, dynamic_to_yaml, take_awaited, yaml_to_dynamic, Awaited, CompiledExpr, Dynamic,
    ExprError, History, Sandbox, Scope,
};
use crate::model::keys;
use crate::queue::QueueEntry;

/// Expands experiment documents one at a time, keeping the history `E`.
///
/// The runner keeps one to expand experiments added to the queue file while
/// it works, with `E` as it is when they are taken.
pub struct Expander<'s> {
    sandbox: &'s Sandbox,
    source: Option<Arc<SourceText>>,
    defaults: Mapping,
    history: History,
    preparer: Preparer,
    produced: usize,
    compiled: HashMap<String, CompiledExpr>,
    /// `--seed`, else drawn once: for `random` sweeps without a `seed`.
    sweep_seed: u64,
    /// Histories of the global repetitions before the current one (kept
    /// only with `keep_histories`: the runner evaluates waiting keys in them).
    past: Vec<History>,
    keep_histories: bool,
    placeholders: bool,
}

/// Where the evaluation currently is, for error messages.
struct Ctx {
    document: usize,
    experiment: usize,
    name: Option<String>,
    path: Vec<String>,
    /// Keys (paths) that wait for results of earlier experiments.
    deferred: Vec<(Vec<String>, Awaited)>,
}

impl Ctx {
    fn new(document: usize, experiment: usize, name: Option<String>) -> Self {
        Self {
            document,
            experiment,
            name,
            path: Vec::new(),
            deferred: Vec::new(),
        }
    }

    /// Whether `src` reads a key of this experiment that waits: then it
    /// waits too (for the same earlier experiment).
    fn reads_deferred(&self, src: &str) -> Option<Awaited> {
        if self.deferred.is_empty() {
            return None;
        }
        let words = super::names::words(src);
        self.deferred
            .iter()
            .find(|(path, _)| path.last().is_some_and(|k| words.contains(k.as_str())))
            .map(|(_, awaited)| awaited.clone())
    }
}

impl<'s> Expander<'s> {
    /// `defaults` is the default config without `Global`.
    pub fn new(
        sandbox: &'s Sandbox,
        source: Option<SourceText>,
        defaults: Mapping,
        options: &ExpandOptions,
    ) -> Self {
        Self::with_source(sandbox, source.map(Arc::new), defaults, options)
    }

    pub(crate) fn with_source(
        sandbox: &'s Sandbox,
        source: Option<Arc<SourceText>>,
        defaults: Mapping,
        options: &ExpandOptions,
    ) -> Self {
        Self {
            sandbox,
            preparer: Preparer::new(source.clone(), defaults.clone(), options),
            source,
            defaults,
            history: History::new(),
            produced: 0,
            compiled: HashMap::default(),
            sweep_seed: options.seed.unwrap_or_else(rand::random),
            past: Vec::new(),
            keep_histories: false,
            placeholders: options.placeholders,
        }
    }

    /// Keep the history of every global repetition ([`Expander::histories`]).
    pub(crate) fn keep_histories(&mut self) {
        self.keep_histories = true;
    }

    /// Start global repetition `global_rep`: the history `E` is emptied.
    pub fn start_global_rep(&mut self, global_rep: u64) {
        self.preparer.global_rep = global_rep;
        if self.keep_histories && global_rep > 0 {
            self.past.push(std::mem::take(&mut self.history));
        }
        self.history.clear();
    }

    /// The history of each global repetition, the current one last.
    pub(crate) fn histories(&mut self) -> Vec<History> {
        let mut all = std::mem::take(&mut self.past);
        all.push(std::mem::take(&mut self.history));
        all
    }

    /// The history `E` as it is now.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The experiment at `at` of `E` finished (its log document): later
    /// expressions read its results.
    pub(crate) fn finish(&mut self, at: usize, document: &Mapping) {
        self.history.finish(at, document);
    }

    /// Record an experiment that was expanded elsewhere so that later
    /// expressions see it in `E`.
    pub fn record(&mut self, experiment: &Mapping) {
        self.history.push(experiment);
    }

    /// Expand one experiment document (`document` is its index in the file,
    /// for messages) into its `Repeat` copies: merge over the defaults,
    /// copy, add the runner keys, evaluate. A document with a `Sweep` gives
    /// the copies of every point, in order (`--sweep` axes are for the
    /// file's documents only).
    pub fn expand_document(
        &mut self,
        document: usize,
        doc: &Mapping,
    ) -> Result<Vec<Mapping>, ConfigError> {
        let ctx = Context {
            source: self.source.as_deref(),
            document,
            defaults: &self.defaults,
            cli: &[],
            seed: self.sweep_seed,
        };
        let Some(plan) = Plan::read(&ctx, doc)? else {
            let prepared = self.preparer.prepare(document, doc)?;
            return self.evaluate_prepared(prepared);
        };
        let written = doc
            .get(keys::REPEAT)
            .or_else(|| self.defaults.get(keys::REPEAT));
        let repeat = positive_int(written, 1).unwrap_or(1);
        let location = self.location(document, &[SWEEP]);
        self.preparer
            .check_sweep(location, &plan.describe(), plan.points(), repeat, 1)?;
        let mut out = Vec::new();
        for point in 0..plan.points() {
            let prepared =
                self.preparer
                    .prepare_point(document, &plan.document(doc, point), Some(point))?;
            out.extend(self.evaluate_prepared(prepared)?);
        }
        Ok(out)
    }

    /// Expand the head of the queue: a document written by a person is
    /// expanded fully ([`Expander::expand_document`]); one the runner
    /// expanded already only has its remaining `parse` values evaluated
    /// ([`Expander::evaluate_expanded`]). Either way it is recorded in `E`.
    pub(crate) fn expand_queued(
        &mut self,
        entry: &QueueEntry,
    ) -> Result<Vec<Mapping>, ConfigError> {
        match entry {
            QueueEntry::Raw(doc) => self.expand_document(0, doc),
            QueueEntry::Expanded(doc) => self.evaluate_expanded(doc).map(|e| vec![e]),
        }
    }

    /// Evaluate the expressions of an experiment that already carries the
    /// runner keys (a person may have edited it in the queue file), after
    /// merging it over the defaults again; then record it in `E`. No
    /// `Repeat` copies are made and no runner key is added.
    pub fn evaluate_expanded(&mut self, doc: &Mapping) -> Result<Mapping, ConfigError> {
        let (experiment, names, mut ctx) = self.queued(doc);
        let experiment = self.evaluate(experiment, &names, &mut ctx)?;
        self.produced += 1;
        self.preparer.produced += 1;
        Ok(experiment)
    }

    /// A queued experiment merged over the defaults again, the names its
    /// expressions read, and where it is for messages.
    fn queued(&self, doc: &Mapping) -> (Mapping, Names, Ctx) {
        let experiment = merge_over(doc, &self.defaults);
        let name = experiment
            .get("Name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let names = Names {
            own: referenced_names(&experiment),
            defaults: Arc::default(),
        };
        (experiment, names, Ctx::new(0, self.produced, name))
    }

    /// Evaluate the keys of a queued experiment that waited for results
    /// (`WAITS_FOR`), with `E` as `history` shows it (the experiment's own
    /// view, its parents finished). Nothing is recorded in `E`. `Err(Ok)`:
    /// a key still waits, for this earlier experiment.
    pub(crate) fn evaluate_waiting(
        &mut self,
        doc: &Mapping,
        history: History,
    ) -> Result<Mapping, Result<Awaited, ConfigError>> {
        let (mut experiment, names, mut ctx) = self.queued(doc);
        self.evaluate_in(&mut experiment, &names, &mut ctx, history)
            .map_err(Err)?;
        if let Some((_, awaited)) = ctx.deferred.into_iter().next() {
            return Err(Ok(awaited));
        }
        Ok(experiment)
    }

    /// Evaluate the copies of a prepared document, in order, each recorded
    /// in `E`.
    pub(crate) fn evaluate_prepared(
        &mut self,
        prepared: Prepared,
    ) -> Result<Vec<Mapping>, ConfigError> {
        let mut out = Vec::with_capacity(prepared.copies.len());
        for experiment in prepared.copies {
            let mut ctx = Ctx::new(prepared.document, self.produced, prepared.name.clone());
            out.push(self.evaluate(experiment, &prepared.names, &mut ctx)?);
            self.produced += 1;
        }
        Ok(out)
    }

    /// Evaluate every `parse` value in place, then record the experiment
    /// in `E`. Only keys whose names occur in some expression (`names`) are
    /// converted and pushed into the scope: the others cannot be read.
    fn evaluate(
        &mut self,
        mut experiment: Mapping,
        names: &Names,
        ctx: &mut Ctx,
    ) -> Result<Mapping, ConfigError> {
        self.evaluate_in(&mut experiment, names, ctx, self.history.clone())?;
        let at = self.history.len();
        let parents = self.after(&experiment, ctx)?;
        if parents.is_empty() {
            self.history.push(&experiment);
            return Ok(experiment);
        }
        super::awaits::mark_waiting(&mut experiment, at, &parents, &self.history);
        self.history.push(&experiment);
        if self.placeholders {
            super::awaits::placeholders(&mut experiment, &ctx.deferred);
        }
        Ok(experiment)
    }

    /// The positions in `E` of the experiments this one waits for: those
    /// its waiting keys read, and those its `After` names.
    fn after(&self, experiment: &Mapping, ctx: &Ctx) -> Result<Vec<usize>, ConfigError> {
        let mut parents: Vec<usize> = ctx.deferred.iter().map(|(_, a)| a.at).collect();
        for name in super::awaits::after_names(experiment)
            .map_err(|message| self.invalid(ctx, keys::AFTER, message))?
        {
            match self.history.position_of(&name) {
                Some(at) => parents.push(at),
                None => {
                    let message = format!(
                        "no earlier experiment is named `{name}` (`After` names experiments \
                         before this one, as `E[\"{name}\"]` finds them)"
                    );
                    return Err(self.invalid(ctx, keys::AFTER, message));
                }
            }
        }
        parents.sort_unstable();
        parents.dedup();
        Ok(parents)
    }

    fn invalid(&self, ctx: &Ctx, key: &str, message: String) -> ConfigError {
        let mut location = self.location(ctx.document, &[key]);
        location.key = Some(key.to_owned());
        location.experiment = Some(ctx.experiment);
        location.name.clone_from(&ctx.name);
        ConfigError::Invalid { location, message }
    }

    /// Evaluate every `parse` value of `experiment` in place with `E` =
    /// `history`; keys that wait for results keep their text and are
    /// listed in `ctx.deferred`.
    fn evaluate_in(
        &mut self,
        experiment: &mut Mapping,
        names: &Names,
        ctx: &mut Ctx,
        history: History,
    ) -> Result<(), ConfigError> {
        if has_expressions_in(experiment) {
            let mut scope = Scope::new();
            scope.push_constant("E", history);
            // The runner keys are visible to every expression, wherever they sit.
            for key in RUNNER_KEYS.into_iter().chain([keys::SWEEP_IDX]) {
                if !names.contains(key) {
                    continue;
                }
                if let Some(value) = experiment.get(key).filter(|v| !has_expressions(v)) {
                    scope.push_constant_dynamic(key, yaml_to_dynamic(value));
                }
            }
            self.eval_mapping(experiment, &mut scope, names, ctx)?;
        }
        Ok(())
    }

    fn eval_mapping(
        &mut self,
        map: &mut Mapping,
        scope: &mut Scope,
        names: &Names,
        ctx: &mut Ctx,
    ) -> Result<(), ConfigError> {
        for (key, value) in map.iter_mut() {
            let wanted = match key {
                Value::String(k) => names.contains(k.as_str()),
                _ => false,
            };
            let waiting = ctx.deferred.len();
            let computed = if has_expressions(value) {
                ctx.path.push(crate::expr::key_name(key));
                let computed = self.eval_value(value, scope, names, ctx)?;
                ctx.path.pop();
                computed
            } else {
                None
            };
            // A key that waits is not in the scope: what reads it waits too.
            if wanted && ctx.deferred.len() == waiting {
                let dynamic = computed.unwrap_or_else(|| yaml_to_dynamic(value));
                scope.push_constant_dynamic(crate::expr::key_name(key), dynamic);
            }
        }
        Ok(())
    }

    /// Evaluate the expressions inside `value`; returns the Rhai value of a
    /// `parse` result (other values are converted only when needed).
    fn eval_value(
        &mut self,
        value: &mut Value,
        scope: &mut Scope,
        names: &Names,
        ctx: &mut Ctx,
    ) -> Result<Option<Dynamic>, ConfigError> {
        match value {
            Value::String(text) if text.starts_with(PARSE_PREFIX) => {
                let src = text[PARSE_PREFIX.len()..].trim().to_owned();
                if let Some(awaited) = ctx.reads_deferred(&src) {
                    ctx.deferred.push((ctx.path.clone(), awaited));
                    return Ok(None);
                }
                let _ = take_awaited();
                let result = self.eval_expr(&src, scope, ctx);
                let result = match take_awaited() {
                    None => result?,
                    Some(awaited) => {
                        let first = awaited.at;
                        ctx.deferred.push((ctx.path.clone(), awaited));
                        // The other results it reads: wait for them too.
                        if let Some(compiled) = self.compiled.get(&src) {
                            let more = discover(|| {
                                let _ = self.sandbox.eval(compiled, scope);
                            });
                            for other in more.into_iter().filter(|a| a.at != first) {
                                ctx.deferred.push((ctx.path.clone(), other));
                            }
                        }
                        return Ok(None);
                    }
                };
                *value = dynamic_to_yaml(&result).map_err(|message| {
                    let error = ExprError {
                        message,
                        line: None,
                        column: None,
                    };
                    self.expr_error(ctx, &src, error)
                })?;
                Ok(Some(result))
            }
            Value::Mapping(map) => {
                let mark = scope.len();
                self.eval_mapping(map, scope, names, ctx)?;
                scope.rewind(mark);
                Ok(None)
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if has_expressions(item) {
                        ctx.path.push(format!("[{i}]"));
                        self.eval_value(item, scope, names, ctx)?;
                        ctx.path.pop();
                    }
                }
                Ok(None)
            }
            Value::Tagged(tagged) => self.eval_value(&mut tagged.value, scope, names, ctx),
            _ => Ok(None),
        }
    }

    fn eval_expr(
        &mut self,
        src: &str,
        scope: &mut Scope,
        ctx: &Ctx,
    ) -> Result<Dynamic, ConfigError> {
        let compiled = if let Some(compiled) = self.compiled.get(src) {
            compiled.clone()
        } else {
            let compiled = self
                .sandbox
                .compile(src)
                .map_err(|e| self.expr_error(ctx, src, e))?;
            self.compiled.insert(src.to_owned(), compiled.clone());
            compiled
        };
        let result = self.sandbox.eval(&compiled, scope);
        // A result that is not there yet is not an error (the caller takes
        // it): the located message, which searches the file, is not built.
        if result.is_err() && crate::expr::awaiting() {
            return Ok(Dynamic::UNIT);
        }
        result.map_err(|e| self.expr_error(ctx, src, e))
    }

    fn expr_error(&self, ctx: &Ctx, src: &str, source: ExprError) -> ConfigError {
        let path: Vec<&str> = ctx
            .path
            .iter()
            .filter(|p| !p.starts_with('['))
            .map(String::as_str)
            .collect();
        let mut location = self.location(ctx.document, &path);
        // A key that is not in the experiment's own document came from the
        // default config.
        if location.line.is_none() && ctx.document != 0 {
            if let Some(source) = &self.source {
                if let Some(line) = source.key_line(0, &path) {
                    location.line = Some(line);
                    location.document = Some(0);
                }
            }
        }
        location.key = Some(join_path(&ctx.path));
        location.experiment = Some(ctx.experiment);
        location.name.clone_from(&ctx.name);
        ConfigError::Expr {
            location,
            expr: format!("{PARSE_PREFIX}{src}"),
            source,
        }
    }

    fn location(&self, document: usize, path: &[&str]) -> Location {
        match &self.source {
            Some(source) => source.location(document, path),
            None => Location {
                document: Some(document),
                key: (!path.is_empty()).then(|| path.join(".")),
                ..Location::default()
            },
        }
    }
}
