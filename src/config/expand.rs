//! Expansion: defaults, repeats, runner keys and `parse` expressions (SPEC §1–2).
//!
//! Order of work for one experiment document:
//! 1. merge it over the default config (its keys first, then the defaults);
//! 2. copy it `Repeat` times (1, 1, 2, 2), before any expression runs;
//! 3. add `REP`, `GLOBAL_REP`, `RND_IDX`, `HOST` (visible to every expression);
//! 4. evaluate keys in merged order; each evaluated key is pushed into the
//!    Rhai scope, so an expression sees earlier keys of its own level and of
//!    every enclosing level, and the deepest binding wins (Rhai searches the
//!    scope from the end). Leaving a mapping rewinds the scope to its start.
//! 5. push the result onto the history `E`.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yaml_serde::{Mapping, Value};

use super::error::{ConfigError, Location};
use super::load::{kind, ExperimentFile, SourceText};
use super::merge::merge_over;
use super::overrides::{apply_override, Override};
use crate::expr::{
    dynamic_to_yaml, yaml_to_dynamic, CompiledExpr, Dynamic, History, Sandbox, Scope,
};

/// Keys the runner adds to every expanded experiment, in this order.
pub const RUNNER_KEYS: [&str; 4] = ["REP", "GLOBAL_REP", "RND_IDX", "HOST"];

const PARSE_PREFIX: &str = "parse ";

/// Settings that change expansion without being in the file.
#[derive(Debug, Clone, Default)]
pub struct ExpandOptions {
    /// Seed for `RND_IDX`; random when `None`.
    pub seed: Option<u64>,
    /// Value of `HOST`.
    pub host: String,
}

/// The result of expanding a whole file.
#[derive(Debug, Clone)]
pub struct Expansion {
    /// `Global`, after overrides.
    pub global: Mapping,
    /// The default config without `Global`, after overrides.
    pub defaults: Mapping,
    /// The expanded experiments, in queue order.
    pub experiments: Vec<Mapping>,
}

/// Expand every document of `file` after applying `overrides`.
pub fn expand_file(
    sandbox: &Sandbox,
    file: &ExperimentFile,
    overrides: &[Override],
    options: &ExpandOptions,
) -> Result<Expansion, ConfigError> {
    let mut defaults = file.defaults.clone();
    for o in overrides {
        apply_override(&mut defaults, o)?;
    }
    let global = match defaults.remove("Global") {
        Some(Value::Mapping(global)) => global,
        other => {
            return Err(ConfigError::Invalid {
                location: file.source.location(0, &["Global"]),
                message: format!(
                    "`Global` must be a mapping, found {}",
                    other.as_ref().map_or("nothing", kind)
                ),
            })
        }
    };
    let repeat = positive_int(global.get("repeat"), 1).map_err(|found| ConfigError::Invalid {
        location: file.source.location(0, &["Global", "repeat"]),
        message: format!("`Global.repeat` must be an integer of at least 1, found {found}"),
    })?;

    let mut expander = Expander::new(
        sandbox,
        Some(file.source.clone()),
        defaults.clone(),
        options,
    );
    let mut experiments = Vec::with_capacity(file.experiments.len());
    for global_rep in 0..repeat {
        expander.start_global_rep(global_rep);
        for (i, doc) in file.experiments.iter().enumerate() {
            experiments.extend(expander.expand_document(i + 1, doc)?);
        }
    }
    Ok(Expansion {
        global,
        defaults,
        experiments,
    })
}

/// `Some(n)` with n ≥ 1, or the text of what was found instead.
fn positive_int(value: Option<&Value>, default: u64) -> Result<u64, String> {
    match value {
        None => Ok(default),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if n >= 1 => Ok(n),
            _ => Err(format!("`{n}`")),
        },
        Some(other) => Err(match other {
            Value::String(s) => format!("the string `{s}`"),
            other => kind(other).to_owned(),
        }),
    }
}

/// Expands experiment documents one at a time, keeping the history `E`.
///
/// The runner keeps one to expand experiments added to the queue file while
/// it works, with `E` as it is when they are taken.
pub struct Expander<'s> {
    sandbox: &'s Sandbox,
    source: Option<SourceText>,
    defaults: Mapping,
    history: History,
    rng: StdRng,
    host: String,
    global_rep: u64,
    produced: usize,
    compiled: HashMap<String, CompiledExpr>,
}

/// Where the evaluation currently is, for error messages.
struct Ctx {
    document: usize,
    experiment: usize,
    name: Option<String>,
    path: Vec<String>,
}

impl<'s> Expander<'s> {
    /// `defaults` is the default config without `Global`.
    pub fn new(
        sandbox: &'s Sandbox,
        source: Option<SourceText>,
        defaults: Mapping,
        options: &ExpandOptions,
    ) -> Self {
        let rng = match options.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Self {
            sandbox,
            source,
            defaults,
            history: History::new(),
            rng,
            host: options.host.clone(),
            global_rep: 0,
            produced: 0,
            compiled: HashMap::new(),
        }
    }

    /// Start global repetition `global_rep`: the history `E` is emptied.
    pub fn start_global_rep(&mut self, global_rep: u64) {
        self.global_rep = global_rep;
        self.history.clear();
    }

    /// The history `E` as it is now.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Record an experiment that was expanded elsewhere (e.g. taken from a
    /// queue file) so that later expressions see it in `E`.
    pub fn record(&mut self, experiment: &Mapping) {
        let name = experiment
            .get("Name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.history
            .push(name, yaml_to_dynamic(&Value::Mapping(experiment.clone())));
    }

    /// Expand one experiment document (`document` is its index in the file,
    /// for messages) into its `Repeat` copies.
    pub fn expand_document(
        &mut self,
        document: usize,
        doc: &Mapping,
    ) -> Result<Vec<Mapping>, ConfigError> {
        let merged = merge_over(doc, &self.defaults);
        let name = merged
            .get("Name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let repeat = positive_int(merged.get("Repeat"), 1).map_err(|found| {
            let mut location = self.location(document, &["Repeat"]);
            location.experiment = Some(self.produced);
            location.name.clone_from(&name);
            ConfigError::Invalid {
                location,
                message: format!(
                    "`Repeat` must be an integer of at least 1, found {found} \
                     (it is read before expressions are evaluated, so it cannot be `parse`)"
                ),
            }
        })?;
        let rnd_idx = match merged.get("RND_IDX") {
            Some(_) => None,
            None => Some(self.rng.gen_range(100_000..=999_999_i64)),
        };
        let mut out = Vec::with_capacity(repeat as usize);
        for rep in 0..repeat {
            let mut experiment = merged.clone();
            set(&mut experiment, "REP", Value::from(rep));
            set(&mut experiment, "GLOBAL_REP", Value::from(self.global_rep));
            if let Some(rnd_idx) = rnd_idx {
                set(&mut experiment, "RND_IDX", Value::from(rnd_idx));
            }
            set(&mut experiment, "HOST", Value::from(self.host.as_str()));
            let mut ctx = Ctx {
                document,
                experiment: self.produced,
                name: name.clone(),
                path: Vec::new(),
            };
            self.evaluate(&mut experiment, &mut ctx)?;
            self.produced += 1;
            out.push(experiment);
        }
        Ok(out)
    }

    /// Evaluate the expressions of an experiment that already carries the
    /// runner keys (taken from a queue file), then record it in `E`. An
    /// experiment without `REP` is a new document and is fully expanded.
    pub fn expand_queued(&mut self, doc: &Mapping) -> Result<Vec<Mapping>, ConfigError> {
        if !doc.contains_key("REP") {
            return self.expand_document(0, doc);
        }
        let mut experiment = merge_over(doc, &self.defaults);
        let mut ctx = Ctx {
            document: 0,
            experiment: self.produced,
            name: experiment
                .get("Name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            path: Vec::new(),
        };
        if has_expressions(&Value::Mapping(experiment.clone())) {
            self.evaluate(&mut experiment, &mut ctx)?;
        } else {
            self.record(&experiment);
        }
        self.produced += 1;
        Ok(vec![experiment])
    }

    fn evaluate(&mut self, experiment: &mut Mapping, ctx: &mut Ctx) -> Result<(), ConfigError> {
        let mut scope = Scope::new();
        scope.push_constant("E", self.history.clone());
        // The runner keys are visible to every expression, wherever they sit.
        for key in RUNNER_KEYS {
            if let Some(value) = experiment.get(key).filter(|v| !has_expressions(v)) {
                scope.push_constant_dynamic(key, yaml_to_dynamic(value));
            }
        }
        let top = scope.len();
        self.eval_mapping(experiment, &mut scope, ctx)?;
        let mut entry = rhai::Map::new();
        // `iter_raw` walks from the newest entry: take this level's.
        for (name, _, value) in scope.iter_raw().take(scope.len() - top) {
            entry.insert(name.into(), value.clone());
        }
        drop(scope);
        let name = experiment
            .get("Name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.history.push(name, Dynamic::from_map(entry));
        Ok(())
    }

    fn eval_mapping(
        &mut self,
        map: &mut Mapping,
        scope: &mut Scope,
        ctx: &mut Ctx,
    ) -> Result<(), ConfigError> {
        for (key, value) in map.iter_mut() {
            let key = crate::expr::key_name(key);
            ctx.path.push(key.clone());
            let dynamic = self.eval_value(value, scope, ctx)?;
            ctx.path.pop();
            scope.push_constant_dynamic(key, dynamic);
        }
        Ok(())
    }

    fn eval_value(
        &mut self,
        value: &mut Value,
        scope: &mut Scope,
        ctx: &mut Ctx,
    ) -> Result<Dynamic, ConfigError> {
        match value {
            Value::String(text) if text.starts_with(PARSE_PREFIX) => {
                let src = text[PARSE_PREFIX.len()..].trim().to_owned();
                let result = self.eval_expr(&src, scope, ctx)?;
                *value = dynamic_to_yaml(&result).map_err(|message| {
                    self.expr_error(
                        ctx,
                        &src,
                        crate::expr::ExprError {
                            message,
                            line: None,
                            column: None,
                        },
                    )
                })?;
                Ok(result)
            }
            Value::Mapping(map) => {
                let mark = scope.len();
                self.eval_mapping(map, scope, ctx)?;
                let mut out = rhai::Map::new();
                for (name, _, value) in scope.iter_raw().take(scope.len() - mark) {
                    out.insert(name.into(), value.clone());
                }
                scope.rewind(mark);
                Ok(Dynamic::from_map(out))
            }
            Value::Sequence(items) => {
                let mut out = rhai::Array::with_capacity(items.len());
                for (i, item) in items.iter_mut().enumerate() {
                    ctx.path.push(format!("[{i}]"));
                    out.push(self.eval_value(item, scope, ctx)?);
                    ctx.path.pop();
                }
                Ok(Dynamic::from_array(out))
            }
            Value::Tagged(tagged) => self.eval_value(&mut tagged.value, scope, ctx),
            other => Ok(yaml_to_dynamic(other)),
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
        self.sandbox
            .eval(&compiled, scope)
            .map_err(|e| self.expr_error(ctx, src, e))
    }

    fn expr_error(&self, ctx: &Ctx, src: &str, source: crate::expr::ExprError) -> ConfigError {
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

/// `a.b[2].c`
fn join_path(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if !part.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(part);
    }
    out
}

/// Set `key` to `value`, keeping its position if it exists, else appending.
fn set(map: &mut Mapping, key: &str, value: Value) {
    if let Some(slot) = map.get_mut(key) {
        *slot = value;
    } else {
        map.insert(Value::String(key.to_owned()), value);
    }
}

/// Whether any string in `value` is a `parse` expression.
pub(crate) fn has_expressions(value: &Value) -> bool {
    match value {
        Value::String(s) => s.starts_with(PARSE_PREFIX),
        Value::Sequence(items) => items.iter().any(has_expressions),
        Value::Mapping(map) => map.values().any(has_expressions),
        Value::Tagged(tagged) => has_expressions(&tagged.value),
        _ => false,
    }
}
