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

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::path::Path;
use std::sync::{mpsc, Arc};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yaml_serde::{Mapping, Value};

use super::error::{ConfigError, Location};
use super::load::{check_defaults, check_document, kind, ExperimentFile, SourceText};
use super::merge::merge_over;
use super::overrides::{apply_override, Override};
use crate::expr::{
    dynamic_to_yaml, yaml_to_dynamic, CompiledExpr, Dynamic, History, Sandbox, Scope,
};
use crate::yaml::read::stream_documents;

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
    let (global, defaults, repeat) = prepare(&file.source, file.defaults.clone(), overrides)?;
    let mut expander = Expander::new(
        sandbox,
        Some(file.source.clone()),
        defaults.clone(),
        options,
    );
    let mut shared = Vec::with_capacity(file.experiments.len());
    for global_rep in 0..repeat {
        expander.start_global_rep(global_rep);
        for (i, doc) in file.experiments.iter().enumerate() {
            shared.extend(expander.expand_shared(i + 1, doc)?);
        }
    }
    Ok(finish(expander, shared, global, defaults))
}

/// Read, parse and expand the file at `path`. Parsing runs on a second
/// thread, one document ahead of expansion. Errors keep the order of a
/// whole-file parse: a YAML or structural error anywhere in the file wins
/// over an expression error.
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
    let source = Arc::new(SourceText::new(path.to_owned(), text));
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Stage>(256);
        let producer_source = Arc::clone(&source);
        scope.spawn(move || prepare_stream(&producer_source, overrides, options, &tx));
        let mut expander: Option<Expander<'_>> = None;
        let mut header = None;
        let mut shared = Vec::new();
        let mut failure = None;
        for stage in &rx {
            match stage {
                Stage::Header {
                    global,
                    defaults,
                    preparer,
                } => {
                    let mut e = Expander::new(sandbox, None, defaults.clone(), options);
                    e.source = Some(Arc::clone(&source));
                    e.preparer = *preparer;
                    expander = Some(e);
                    header = Some((global, defaults));
                }
                Stage::GlobalRep(rep) => {
                    if let Some(e) = expander.as_mut() {
                        e.start_global_rep(rep);
                    }
                }
                Stage::Prepared(prepared) => {
                    let Some(e) = expander.as_mut() else { continue };
                    match e.evaluate_prepared(prepared) {
                        Ok(done) => shared.extend(done),
                        Err(err) => {
                            failure = Some(err);
                            break;
                        }
                    }
                }
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
            for stage in &rx {
                if let Stage::Malformed(later) = stage {
                    return Err(later);
                }
            }
            return Err(err);
        }
        match (expander, header) {
            (Some(expander), Some((global, defaults))) => {
                Ok(finish(expander, shared, global, defaults))
            }
            _ => Err(ConfigError::Invalid {
                location: Location {
                    path: path.to_owned(),
                    ..Location::default()
                },
                message: "internal error: the expansion pipeline stopped early".to_owned(),
            }),
        }
    })
}

/// What the parsing thread hands to the evaluating one, in file order.
enum Stage {
    Header {
        global: Mapping,
        defaults: Mapping,
        preparer: Box<Preparer>,
    },
    GlobalRep(u64),
    Prepared(Prepared),
    /// YAML or structural error: wins over any expression error.
    Malformed(ConfigError),
    /// Any other error (overrides, `Global`, `Repeat`).
    Failed(ConfigError),
}

/// The first stage of `expand_path`: parse, check, merge and copy every
/// document, and send it on. Stops preparing at the first error but keeps
/// parsing, so that a malformed document later in the file is still found.
fn prepare_stream(
    source: &Arc<SourceText>,
    overrides: &[Override],
    options: &ExpandOptions,
    tx: &mpsc::SyncSender<Stage>,
) {
    let path = source.path.as_path();
    let mut index = 0;
    let mut header: Option<(Mapping, u64)> = None;
    let mut working: Option<Preparer> = None;
    let mut failed = false;
    let mut kept = Vec::new();
    let send = |stage: Stage| tx.send(stage).is_ok();
    let parsed = stream_documents(&source.text, path, 0, 0, |doc| {
        let at = index;
        index += 1;
        let map = match check_document(source, at, doc) {
            Ok(Some(map)) => map,
            Ok(None) => return true,
            Err(err) => {
                send(Stage::Malformed(err));
                return false;
            }
        };
        if failed {
            return true;
        }
        if header.is_none() {
            let checked = check_defaults(source, Some(map))
                .and_then(|defaults| prepare(source, defaults, overrides));
            match checked {
                Ok((global, defaults, repeat)) => {
                    let for_queue =
                        Preparer::new(Some(Arc::clone(source)), defaults.clone(), options);
                    header = Some((defaults.clone(), repeat));
                    working = Some(Preparer::new(
                        Some(Arc::clone(source)),
                        defaults.clone(),
                        options,
                    ));
                    // The evaluating thread gets an identical copy for
                    // documents added to a queue later; this thread keeps
                    // the one that prepares the file's documents.
                    return send(Stage::Header {
                        global,
                        defaults,
                        preparer: Box::new(for_queue),
                    });
                }
                Err(err) => {
                    failed = true;
                    return send(Stage::Failed(err));
                }
            }
        }
        let (_, repeat) = header.as_ref().expect("set above");
        if *repeat > 1 {
            kept.push((at, map.clone()));
        }
        let file_preparer = working.as_mut().expect("set with the header");
        match file_preparer.prepare(at, &map) {
            Ok(ready) => send(Stage::Prepared(ready)),
            Err(err) => {
                failed = true;
                send(Stage::Failed(err))
            }
        }
    });
    match parsed {
        Err(err) => {
            send(Stage::Malformed(err));
            return;
        }
        Ok(()) if header.is_none() && !failed => {
            // No document at all (or only empty ones).
            if let Err(err) = check_defaults(source, None) {
                send(Stage::Malformed(err));
            }
            return;
        }
        Ok(()) => {}
    }
    if failed {
        return;
    }
    let (Some((_, repeat)), Some(file_preparer)) = (header, working.as_mut()) else {
        return;
    };
    for global_rep in 1..repeat {
        file_preparer.global_rep = global_rep;
        if !send(Stage::GlobalRep(global_rep)) {
            return;
        }
        for (at, map) in &kept {
            let stage = match file_preparer.prepare(*at, map) {
                Ok(ready) => Stage::Prepared(ready),
                Err(err) => Stage::Failed(err),
            };
            let stop = matches!(stage, Stage::Failed(_));
            if !send(stage) || stop {
                return;
            }
        }
    }
}

/// Apply overrides, split off `Global` and read `Global.repeat`.
fn prepare(
    source: &SourceText,
    mut defaults: Mapping,
    overrides: &[Override],
) -> Result<(Mapping, Mapping, u64), ConfigError> {
    for o in overrides {
        apply_override(&mut defaults, o)?;
    }
    let global = match defaults.shift_remove("Global") {
        Some(Value::Mapping(global)) => global,
        other => {
            return Err(ConfigError::Invalid {
                location: source.location(0, &["Global"]),
                message: format!(
                    "`Global` must be a mapping, found {}",
                    other.as_ref().map_or("nothing", kind)
                ),
            })
        }
    };
    let repeat = positive_int(global.get("repeat"), 1).map_err(|found| ConfigError::Invalid {
        location: source.location(0, &["Global", "repeat"]),
        message: format!("`Global.repeat` must be an integer of at least 1, found {found}"),
    })?;
    Ok((global, defaults, repeat))
}

fn finish(
    expander: Expander<'_>,
    shared: Vec<Arc<Mapping>>,
    global: Mapping,
    defaults: Mapping,
) -> Expansion {
    // Dropping the history leaves each experiment with one owner: no copy.
    drop(expander);
    let experiments = shared.into_iter().map(Arc::unwrap_or_clone).collect();
    Expansion {
        global,
        defaults,
        experiments,
    }
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
    source: Option<Arc<SourceText>>,
    defaults: Mapping,
    history: History,
    preparer: Preparer,
    produced: usize,
    compiled: HashMap<String, CompiledExpr>,
}

/// The part of expansion that needs no history: merging a document over
/// the defaults, the `Repeat` copies and the runner keys. It owns the
/// `RND_IDX` generator, so it can run on another thread, ahead of
/// evaluation, and still give the same values in the same order.
struct Preparer {
    source: Option<Arc<SourceText>>,
    defaults: Mapping,
    /// Names used by the default config's expressions.
    default_names: Arc<HashSet<String>>,
    rng: StdRng,
    host: String,
    global_rep: u64,
    produced: usize,
}

/// One document, merged and copied, ready for evaluation.
struct Prepared {
    document: usize,
    name: Option<String>,
    names: Names,
    copies: Vec<Mapping>,
}

impl Preparer {
    fn new(source: Option<Arc<SourceText>>, defaults: Mapping, options: &ExpandOptions) -> Self {
        let rng = match options.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Self {
            source,
            default_names: Arc::new(referenced_names(&defaults)),
            defaults,
            rng,
            host: options.host.clone(),
            global_rep: 0,
            produced: 0,
        }
    }

    fn prepare(&mut self, document: usize, doc: &Mapping) -> Result<Prepared, ConfigError> {
        let merged = merge_over(doc, &self.defaults);
        let name = merged
            .get("Name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let repeat = positive_int(merged.get("Repeat"), 1).map_err(|found| {
            let mut location = match &self.source {
                Some(source) => source.location(document, &["Repeat"]),
                None => Location {
                    document: Some(document),
                    key: Some("Repeat".to_owned()),
                    ..Location::default()
                },
            };
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
        // The merged document's keys come from `doc` or from the defaults,
        // so the names its expressions use are among those of both.
        let names = Names {
            own: referenced_names(doc),
            defaults: Arc::clone(&self.default_names),
        };
        let mut copies = Vec::with_capacity(repeat as usize);
        let mut merged = Some(merged);
        for rep in 0..repeat {
            // The last copy takes the merged mapping itself.
            let mut experiment = if rep + 1 == repeat {
                merged.take().unwrap_or_default()
            } else {
                merged.clone().unwrap_or_default()
            };
            set(&mut experiment, "REP", Value::from(rep));
            set(&mut experiment, "GLOBAL_REP", Value::from(self.global_rep));
            if let Some(rnd_idx) = rnd_idx {
                set(&mut experiment, "RND_IDX", Value::from(rnd_idx));
            }
            set(&mut experiment, "HOST", Value::from(self.host.as_str()));
            copies.push(experiment);
        }
        self.produced += copies.len();
        Ok(Prepared {
            document,
            name,
            names,
            copies,
        })
    }
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
        let source = source.map(Arc::new);
        Self {
            sandbox,
            preparer: Preparer::new(source.clone(), defaults.clone(), options),
            source,
            defaults,
            history: History::new(),
            produced: 0,
            compiled: HashMap::default(),
        }
    }

    /// Start global repetition `global_rep`: the history `E` is emptied.
    pub fn start_global_rep(&mut self, global_rep: u64) {
        self.preparer.global_rep = global_rep;
        self.history.clear();
    }

    /// The history `E` as it is now.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Record an experiment that was expanded elsewhere (e.g. taken from a
    /// queue file) so that later expressions see it in `E`.
    pub fn record(&mut self, experiment: &Mapping) {
        self.history.push(experiment);
    }

    /// Expand one experiment document (`document` is its index in the file,
    /// for messages) into its `Repeat` copies.
    pub fn expand_document(
        &mut self,
        document: usize,
        doc: &Mapping,
    ) -> Result<Vec<Mapping>, ConfigError> {
        Ok(self
            .expand_shared(document, doc)?
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect())
    }

    /// [`Expander::expand_document`], sharing each result with `E`.
    fn expand_shared(
        &mut self,
        document: usize,
        doc: &Mapping,
    ) -> Result<Vec<Arc<Mapping>>, ConfigError> {
        let prepared = self.preparer.prepare(document, doc)?;
        self.evaluate_prepared(prepared)
    }

    /// Evaluate the copies of a prepared document, in order.
    fn evaluate_prepared(&mut self, prepared: Prepared) -> Result<Vec<Arc<Mapping>>, ConfigError> {
        let mut out = Vec::with_capacity(prepared.copies.len());
        for experiment in prepared.copies {
            let mut ctx = Ctx {
                document: prepared.document,
                experiment: self.produced,
                name: prepared.name.clone(),
                path: Vec::new(),
            };
            out.push(self.evaluate(experiment, &prepared.names, &mut ctx)?);
            self.produced += 1;
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
        let experiment = merge_over(doc, &self.defaults);
        let mut ctx = Ctx {
            document: 0,
            experiment: self.produced,
            name: experiment
                .get("Name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            path: Vec::new(),
        };
        let names = Names {
            own: referenced_names(&experiment),
            defaults: Arc::default(),
        };
        let experiment = self.evaluate(experiment, &names, &mut ctx)?;
        self.produced += 1;
        self.preparer.produced += 1;
        Ok(vec![Arc::unwrap_or_clone(experiment)])
    }

    /// Evaluate every `parse` value in place, then record the experiment
    /// in `E`. Only keys whose names occur in some expression (`names`) are
    /// converted and pushed into the scope: the others cannot be read.
    fn evaluate(
        &mut self,
        mut experiment: Mapping,
        names: &Names,
        ctx: &mut Ctx,
    ) -> Result<Arc<Mapping>, ConfigError> {
        if has_expressions_in(&experiment) {
            let mut scope = Scope::new();
            scope.push_constant("E", self.history.clone());
            // The runner keys are visible to every expression, wherever they sit.
            for key in RUNNER_KEYS {
                if !names.contains(key) {
                    continue;
                }
                if let Some(value) = experiment.get(key).filter(|v| !has_expressions(v)) {
                    scope.push_constant_dynamic(key, yaml_to_dynamic(value));
                }
            }
            self.eval_mapping(&mut experiment, &mut scope, names, ctx)?;
        }
        let experiment = Arc::new(experiment);
        self.history.push_shared(Arc::clone(&experiment));
        Ok(experiment)
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
            let computed = if has_expressions(value) {
                ctx.path.push(crate::expr::key_name(key));
                let computed = self.eval_value(value, scope, names, ctx)?;
                ctx.path.pop();
                computed
            } else {
                None
            };
            if wanted {
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

/// The identifiers that expressions of one experiment may read.
struct Names {
    own: HashSet<String>,
    defaults: Arc<HashSet<String>>,
}

impl Names {
    fn contains(&self, name: &str) -> bool {
        self.own.contains(name) || self.defaults.contains(name)
    }
}

/// Every identifier that occurs in a `parse` expression of `map` (an
/// over-approximation: property names and words in strings count too).
fn referenced_names(map: &Mapping) -> HashSet<String> {
    fn walk(value: &Value, out: &mut HashSet<String>) {
        match value {
            Value::String(s) if s.starts_with(PARSE_PREFIX) => {
                let mut word = String::new();
                for c in s[PARSE_PREFIX.len()..].chars().chain([' ']) {
                    if c.is_alphanumeric() || c == '_' {
                        word.push(c);
                    } else if !word.is_empty() {
                        if !word.starts_with(|c: char| c.is_ascii_digit()) {
                            out.insert(std::mem::take(&mut word));
                        }
                        word.clear();
                    }
                }
            }
            Value::Sequence(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Mapping(map) => map.values().for_each(|v| walk(v, out)),
            Value::Tagged(tagged) => walk(&tagged.value, out),
            _ => {}
        }
    }
    let mut out = HashSet::default();
    map.values().for_each(|v| walk(v, &mut out));
    out
}

fn has_expressions_in(map: &Mapping) -> bool {
    map.values().any(has_expressions)
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::config::load::parse_text;

    fn expand_text(text: &str) -> Result<Vec<Mapping>, ConfigError> {
        let sandbox = Sandbox::new();
        let file = parse_text(Path::new("test.yaml"), text.to_owned())?;
        let options = ExpandOptions {
            seed: Some(7),
            host: "testhost".to_owned(),
        };
        expand_file(&sandbox, &file, &[], &options).map(|e| e.experiments)
    }

    fn get<'a>(exp: &'a Mapping, path: &str) -> &'a Value {
        let mut value = exp
            .get(path.split('.').next().unwrap())
            .unwrap_or(&Value::Null);
        for part in path.split('.').skip(1) {
            value = value.get(part).unwrap_or(&Value::Null);
        }
        value
    }

    fn err(text: &str) -> String {
        expand_text(text)
            .expect_err("expected an error")
            .to_string()
    }

    /// The pipelined `expand_path` gives exactly what `expand_file` gives,
    /// including `RND_IDX` values and error precedence.
    #[test]
    fn pipeline_matches_sequential_expansion() {
        use std::fmt::Write;
        let mut text = String::from("Global: {repeat: 2}\nlr: 0.1\nd: parse lr * 2\n");
        for i in 0..50 {
            let _ = write!(
                text,
                "---\nName: e{i}\nRepeat: {}\nv: {i}\nw: parse v + E.len\n",
                1 + i % 3
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new();
        let options = ExpandOptions {
            seed: Some(9),
            host: "h".to_owned(),
        };
        let run = |text: &str| {
            let path = dir.path().join("e.yaml");
            std::fs::write(&path, text).unwrap();
            let piped = expand_path(&sandbox, &path, &[], &options);
            let file = parse_text(&path, text.to_owned());
            let sequential = file.and_then(|f| expand_file(&sandbox, &f, &[], &options));
            (piped, sequential)
        };
        let (piped, sequential) = run(&text);
        assert_eq!(piped.unwrap().experiments, sequential.unwrap().experiments);
        // An expression error, then a malformed document: the YAML error wins.
        let broken = format!("{text}---\nName: x\nz: parse nope\n---\na: [1\n");
        let (piped, sequential) = run(&broken);
        let (piped, sequential) = (piped.unwrap_err(), sequential.unwrap_err());
        assert!(matches!(piped, ConfigError::Yaml { .. }), "{piped}");
        assert_eq!(piped.to_string(), sequential.to_string());
        // Only the expression error.
        let broken = format!("{text}---\nName: x\nz: parse nope\n");
        let (piped, sequential) = run(&broken);
        assert_eq!(
            piped.unwrap_err().to_string(),
            sequential.unwrap_err().to_string()
        );
    }

    #[test]
    fn spec_deeper_level_wins() {
        let exps = expand_text(
            "Global: {}\n---\nabc: 1\nnested:\n   abc: 2\n   nested2:\n      test: parse abc\n",
        )
        .unwrap();
        assert_eq!(get(&exps[0], "nested.nested2.test"), &Value::from(2));
    }

    #[test]
    fn spec_lists_history_and_nested_access() {
        let text = "Global: {}\n---\nlist: [1, 1, 9]\n---\nlist: [2, 3, 4]\nnumber2: parse list[0]\n\
                    number3: parse E[-1].list[2]\nnested: {test: 41}\nincremented: parse nested.test + 1\n";
        let exps = expand_text(text).unwrap();
        assert_eq!(get(&exps[1], "number2"), &Value::from(2));
        assert_eq!(get(&exps[1], "number3"), &Value::from(9));
        assert_eq!(get(&exps[1], "incremented"), &Value::from(42));
    }

    #[test]
    fn spec_default_expressions_resolve_last() {
        let text = "# DEFAULT CONFIG\nGlobal: {}\ntest1: parse test3 - 1\n---\ntest2: 5\ntest3: parse test2 - 1\n";
        let exps = expand_text(text).unwrap();
        assert_eq!(get(&exps[0], "test3"), &Value::from(4));
        assert_eq!(get(&exps[0], "test1"), &Value::from(3));
        let keys: Vec<&str> = exps[0].keys().filter_map(Value::as_str).collect();
        assert_eq!(
            keys,
            [
                "test2",
                "test3",
                "test1",
                "REP",
                "GLOBAL_REP",
                "RND_IDX",
                "HOST"
            ]
        );
    }

    #[test]
    fn spec_history_by_position_and_name_and_brackets() {
        let text = "Global: {}\n---\nName: first\ncfg: {p: {s: 0.5}}\n---\nName: second\n\
                    a: parse E[0].Name\nb: parse E[\"first\"].cfg.p.s\nc: parse E[-1][\"cfg\"][\"p\"][\"s\"] * 2\n";
        let exps = expand_text(text).unwrap();
        assert_eq!(get(&exps[1], "a"), &Value::from("first"));
        assert_eq!(get(&exps[1], "b"), &Value::from(0.5));
        assert_eq!(get(&exps[1], "c"), &Value::from(1.0));
    }

    #[test]
    fn spec_strings_rhai_and_python_forms() {
        let text = "Global: {}\n---\nName: exp4\n---\nName: run7\nmodel: vit\n\
                    a: parse `${Name}/${model}`\nb: parse f\"{Name}/{E[-1].Name}/{model}\"\n";
        let exps = expand_text(text).unwrap();
        assert_eq!(get(&exps[1], "a"), &Value::from("run7/vit"));
        assert_eq!(get(&exps[1], "b"), &Value::from("run7/exp4/vit"));
    }

    #[test]
    fn spec_results_keep_their_type() {
        let text =
            "Global: {}\n---\ni: parse 1 + 1\nf: parse 1 + 0.5\nb: parse 1 < 2\ns: parse \"x\"\n\
                    l: parse [1, 2]\nm: \"parse #{a: 1}\"\nn: parse ()\n";
        let exps = expand_text(text).unwrap();
        assert_eq!(get(&exps[0], "i"), &Value::from(2));
        assert_eq!(get(&exps[0], "f"), &Value::from(1.5));
        assert_eq!(get(&exps[0], "b"), &Value::Bool(true));
        assert_eq!(get(&exps[0], "s"), &Value::from("x"));
        assert!(get(&exps[0], "l").is_sequence());
        assert_eq!(get(&exps[0], "m.a"), &Value::from(1));
        assert_eq!(get(&exps[0], "n"), &Value::Null);
    }

    #[test]
    fn repeat_and_global_repeat_order_and_keys() {
        let text = "Global: {repeat: 2}\n---\nName: a\nRepeat: 2\n---\nName: b\n";
        let exps = expand_text(text).unwrap();
        let order: Vec<(String, u64, u64)> = exps
            .iter()
            .map(|e| {
                (
                    e["Name"].as_str().unwrap().to_owned(),
                    e["REP"].as_u64().unwrap(),
                    e["GLOBAL_REP"].as_u64().unwrap(),
                )
            })
            .collect();
        let expected = [
            ("a", 0, 0),
            ("a", 1, 0),
            ("b", 0, 0),
            ("a", 0, 1),
            ("a", 1, 1),
            ("b", 0, 1),
        ];
        let expected: Vec<(String, u64, u64)> = expected
            .iter()
            .map(|(n, r, g)| ((*n).to_owned(), *r, *g))
            .collect();
        assert_eq!(order, expected);
        // RND_IDX: shared by the copies within one global repetition, six digits.
        assert_eq!(exps[0]["RND_IDX"], exps[1]["RND_IDX"]);
        assert_ne!(exps[0]["RND_IDX"], exps[3]["RND_IDX"]);
        for e in &exps {
            let id = e["RND_IDX"].as_i64().unwrap();
            assert!((100_000..=999_999).contains(&id));
            assert_eq!(e["HOST"], Value::from("testhost"));
        }
    }

    #[test]
    fn history_restarts_at_each_global_repetition() {
        let text =
            "Global: {repeat: 2}\n---\nName: a\nn: parse E.len\n---\nName: b\nn: parse E.len\n";
        let exps = expand_text(text).unwrap();
        let lens: Vec<i64> = exps.iter().map(|e| e["n"].as_i64().unwrap()).collect();
        assert_eq!(lens, [0, 1, 0, 1]);
    }

    #[test]
    fn written_rnd_idx_is_kept_and_seed_is_reproducible() {
        let text = "Global: {}\n---\nRND_IDX: 42\n---\nx: 1\n";
        let a = expand_text(text).unwrap();
        let b = expand_text(text).unwrap();
        assert_eq!(a[0]["RND_IDX"], Value::from(42));
        assert_eq!(a[1]["RND_IDX"], b[1]["RND_IDX"], "same seed, same RND_IDX");
    }

    #[test]
    fn skip_is_expanded_and_visible() {
        let text = "Global: {}\n---\nName: skip\nv: 3\n---\nw: parse E[-1].v\n";
        let exps = expand_text(text).unwrap();
        assert_eq!(exps.len(), 2);
        assert_eq!(get(&exps[1], "w"), &Value::from(3));
    }

    #[test]
    fn later_keys_and_default_keys_are_unknown() {
        let e = err("Global: {}\n---\na: parse b\nb: 1\n");
        assert!(e.contains("unknown variable `b`"), "{e}");
        assert!(e.contains("test.yaml:3"), "{e}");
        assert!(e.contains("key `a`"), "{e}");
        assert!(e.contains("experiment 0"), "{e}");
        let e = err("Global: {}\nlr: 0.1\n---\nName: x\nlr2: parse lr * 2\n");
        assert!(e.contains("unknown variable `lr`"), "{e}");
        assert!(e.contains("experiment 0 `x`"), "{e}");
        assert!(e.contains("key `lr2`"), "{e}");
    }

    #[test]
    fn bad_input_is_reported_with_place() {
        let cases: &[(&str, &[&str])] = &[
            (
                "Global: {}\n---\na: [1, 2\n",
                &["invalid YAML", "test.yaml:"],
            ),
            ("Global: {}\n---\n- 1\n", &["must be a mapping"]),
            ("Global: {}\n---\n42\n", &["must be a mapping"]),
            ("a: 1\n---\nb: 2\n", &["no `Global`"]),
            (
                "Global: {}\n---\nRepeat: 0\n",
                &["`Repeat` must be an integer", "key `Repeat`", ":3"],
            ),
            (
                "Global: {}\n---\nRepeat: two\n",
                &["`Repeat` must be an integer"],
            ),
            (
                "Global: {}\n---\nRepeat: 1.5\n",
                &["`Repeat` must be an integer"],
            ),
            ("Global: {}\n---\nRepeat: parse 2\n", &["cannot be `parse`"]),
            (
                "Global: {repeat: 0}\n---\na: 1\n",
                &["`Global.repeat` must be", "test.yaml:1"],
            ),
            (
                "Global: {repeat: -1}\n---\na: 1\n",
                &["`Global.repeat` must be"],
            ),
            (
                "Global: {}\n---\na: parse 1 +\n",
                &["syntax error", "key `a`", "parse 1 +"],
            ),
            (
                "Global: {}\n---\na: parse E[-1]\n",
                &["history `E` is empty"],
            ),
            (
                "Global: {}\n---\nName: x\n---\na: parse E[\"y\"]\n",
                &["no earlier experiment is named `y`"],
            ),
            (
                "Global: {}\n---\nName: x\n---\na: parse E[-5]\n",
                &["out of range"],
            ),
            ("Global: {}\n---\nm: {a: 1}\nb: parse m.zz\n", &["zz"]),
            (
                "Global: {}\n---\na: parse loop {}\n",
                &["more than", "operations"],
            ),
            (
                "Global: {}\n---\na: parse [].pad(1000000000, 0)\n",
                &["exceeds the sandbox limit"],
            ),
            (
                "Global: {}\n---\na: parse let s = \"xx\"; loop { s += s; }\n",
                &["exceeds the sandbox limit"],
            ),
            (
                "Global: {}\n---\na: parse fn f(x) { f(x + 1) } f(0)\n",
                &["failed to evaluate"],
            ),
            (
                "Global: {}\n---\na: parse import \"os\" as os; 1\n",
                &["failed to evaluate", "import"],
            ),
            ("Global: {}\n---\na: parse eval(\"1\")\n", &["eval"]),
            (
                "Global: {}\n---\na: parse open(\"/etc/passwd\")\n",
                &["open"],
            ),
            ("Global: {}\n---\na: parse E\n", &["cannot be stored"]),
            (
                "Global: {}\n---\nx: {y: 1}\na: parse x.y = 5\n",
                &["failed to evaluate"],
            ),
            (
                "Global: {}\n---\na: parse Name = 5; 1\n",
                &["failed to evaluate"],
            ),
        ];
        for (text, needles) in cases {
            let started = Instant::now();
            let e = err(text);
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "slow error for {text:?}"
            );
            for needle in *needles {
                assert!(
                    e.contains(needle),
                    "{text:?}\n  expected `{needle}` in: {e}"
                );
            }
        }
    }

    #[test]
    fn error_in_default_key_points_at_default_config_line() {
        let e = err("Global: {}\nlr: parse missing * 2\n---\nName: x\n");
        assert!(e.contains("test.yaml:2"), "{e}");
        assert!(e.contains("document 0"), "{e}");
        assert!(e.contains("key `lr`"), "{e}");
    }

    #[test]
    fn expressions_in_lists_and_nested_scopes() {
        let text = "Global: {}\n---\nk: 2\nl: [parse k * 2, {z: parse k + 1}]\nn:\n  k: 10\n  m: {v: parse k}\nafter: parse k\n";
        let exps = expand_text(text).unwrap();
        assert_eq!(exps[0]["l"][0], Value::from(4));
        assert_eq!(exps[0]["l"][1]["z"], Value::from(3));
        assert_eq!(exps[0]["n"]["m"]["v"], Value::from(10));
        assert_eq!(
            exps[0]["after"],
            Value::from(2),
            "the nested k is out of scope again"
        );
    }

    #[test]
    fn queued_documents_see_history_as_it_is_then() {
        let sandbox = Sandbox::new();
        let defaults: Mapping = yaml_serde::from_str("lr: 0.1\n").unwrap();
        let options = ExpandOptions {
            seed: Some(1),
            host: "h".into(),
        };
        let mut expander = Expander::new(&sandbox, None, defaults, &options);
        let first: Mapping = yaml_serde::from_str("Name: a\nREP: 0\nv: 1\n").unwrap();
        expander.expand_queued(&first).unwrap();
        let added: Mapping =
            yaml_serde::from_str("Name: b\nRepeat: 2\nv: parse E[-1].v + 1\n").unwrap();
        let out = expander.expand_queued(&added).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["v"], Value::from(2));
        assert_eq!(
            out[1]["v"],
            Value::from(3),
            "the second copy sees the first"
        );
        assert_eq!(out[0]["lr"], Value::from(0.1), "defaults are merged");
    }
}
