//! `Sweep:` blocks: grid, zip and seeded random search written in the
//! experiment file, and `run --sweep key=v1,v2`.
//!
//! A document's sweep is read once into a [`Plan`]: its blocks in the order
//! written (the first outermost), each a factor of a mixed-radix number.
//! Point *i* is decoded into one value per swept key without any list of
//! points ([`Plan::document`]), so a sweep streams through the expansion and
//! its size is known (with overflow checks) before anything is expanded.
//!
//! Rules (see the README's "Sweeps"):
//! * the swept keys take the place of the `Sweep` key in the document
//!   (at its start for `--sweep` alone); a dotted path `model.depth` sets a
//!   nested key, merged deeply with the default config afterwards;
//! * a key set both by the sweep and by the experiment itself, or twice by
//!   the sweep, is an error; so is a dotted path through a default value
//!   that is not a mapping, and sweeping a runner key;
//! * swept values are plain values: a `parse` expression is refused (write
//!   it after `Sweep`, where it sees the swept keys).

mod axis;
mod random;

use yaml_serde::{Mapping, Value};

use self::axis::{value_text, Values};
use self::random::{point_rng, Dist, DistError, DISTRIBUTIONS};
use super::error::{ConfigError, Location};
use super::load::{kind, SourceText};
use super::merge::merge_over;
use super::names::PARSE_PREFIX;
use super::overrides::Override;
use super::prepare::RND_IDX_GIVEN;
use crate::model::keys;

/// The key of the sweep in an experiment document.
pub(crate) const SWEEP: &str = keys::SWEEP;
/// The blocks a `Sweep` may hold.
const BLOCKS: [&str; 3] = ["grid", "zip", "random"];
/// The generators an axis may be instead of a list.
const GENERATORS: [&str; 3] = ["range", "linspace", "geomspace"];
/// The keys of a `random` block.
const RANDOM_KEYS: [&str; 3] = ["n", "seed", "space"];

/// One swept key and its values.
#[derive(Debug, Clone)]
struct Axis {
    path: Vec<String>,
    values: Values,
}

/// One key of a `random` block.
#[derive(Debug, Clone)]
struct Drawn {
    path: Vec<String>,
    dist: Dist,
}

#[derive(Debug, Clone)]
enum Block {
    /// Every combination, the last axis fastest; `cli` for `--sweep`.
    Grid { axes: Vec<Axis>, cli: bool },
    /// Walked together.
    Zip { axes: Vec<Axis>, len: u64 },
    /// `n` points drawn from generators seeded with `seed`.
    Random { n: u64, seed: u64, keys: Vec<Drawn> },
}

impl Block {
    /// The lengths of this block's factors, outermost first.
    fn factors(&self) -> Vec<u64> {
        match self {
            Self::Grid { axes, .. } => axes.iter().map(|a| a.values.len()).collect(),
            Self::Zip { len, .. } => vec![*len],
            Self::Random { n, .. } => vec![*n],
        }
    }

    fn describe(&self) -> String {
        let sizes = |axes: &[Axis]| {
            axes.iter()
                .map(|a| a.values.len().to_string())
                .collect::<Vec<_>>()
                .join("×")
        };
        match self {
            Self::Grid { axes, cli: false } => format!("grid {}", sizes(axes)),
            Self::Grid { axes, cli: true } => format!("--sweep {}", sizes(axes)),
            Self::Zip { len, .. } => format!("zip {len}"),
            Self::Random { n, seed, .. } => format!("random {n} (seed {seed})"),
        }
    }
}

/// A document's sweep, ready to give point after point.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    blocks: Vec<Block>,
    /// The length of every factor, outermost first.
    factors: Vec<u64>,
    points: u64,
    document: u64,
    /// Whether the document has a `Sweep` key (else the swept keys go first).
    in_document: bool,
}

/// What reading a sweep needs besides the document.
pub(crate) struct Context<'a> {
    pub(crate) source: Option<&'a SourceText>,
    /// The document's index in the file.
    pub(crate) document: usize,
    /// The default config (without `Global`).
    pub(crate) defaults: &'a Mapping,
    /// `--sweep` axes, added to every document of the file.
    pub(crate) cli: &'a [Override],
    /// `--seed`, or a seed drawn once per run: for `random` blocks without
    /// their own `seed`.
    pub(crate) seed: u64,
}

impl Context<'_> {
    fn error(&self, path: &[&str], message: String) -> ConfigError {
        let location = match self.source {
            Some(source) => source.location(self.document, path),
            None => Location {
                document: Some(self.document),
                key: (!path.is_empty()).then(|| path.join(".")),
                ..Location::default()
            },
        };
        ConfigError::Invalid { location, message }
    }

    /// The line of a key of the document itself (not a nested one).
    fn line(&self, path: &[&str]) -> Option<usize> {
        self.source?.own_key_line(self.document, path)
    }
}

impl Plan {
    /// The sweep of `doc` (its `Sweep` key and the `--sweep` axes), or
    /// `None` when it has neither.
    pub(crate) fn read(ctx: &Context<'_>, doc: &Mapping) -> Result<Option<Self>, ConfigError> {
        let sweep = doc.get(SWEEP);
        if sweep.is_none() && ctx.cli.is_empty() {
            return Ok(None);
        }
        let mut blocks = match sweep {
            Some(value) => read_blocks(ctx, value)?,
            None => Vec::new(),
        };
        if !ctx.cli.is_empty() {
            blocks.push(Block::Grid {
                axes: ctx
                    .cli
                    .iter()
                    .map(|o| Axis {
                        path: o.path.clone(),
                        values: Values::List(match &o.value {
                            Value::Sequence(items) => items.clone(),
                            other => vec![other.clone()],
                        }),
                    })
                    .collect(),
                cli: true,
            });
        }
        check_paths(ctx, doc, &blocks)?;
        let factors: Vec<u64> = blocks.iter().flat_map(Block::factors).collect();
        let points = factors
            .iter()
            .try_fold(1_u64, |n, &len| n.checked_mul(len))
            .ok_or_else(|| {
                ctx.error(
                    &[SWEEP],
                    format!(
                        "the sweep ({}) has more than {} points",
                        describe(&blocks),
                        u64::MAX
                    ),
                )
            })?;
        Ok(Some(Self {
            blocks,
            factors,
            points,
            document: ctx.document as u64,
            in_document: sweep.is_some(),
        }))
    }

    /// How many points the sweep has.
    pub(crate) fn points(&self) -> u64 {
        self.points
    }

    /// `grid 3×2 × zip 2 × random 20 (seed 7) × --sweep 2`
    pub(crate) fn describe(&self) -> String {
        describe(&self.blocks)
    }

    /// The swept keys of point `point` (< `points`), nested along dotted
    /// paths, in block and axis order.
    fn swept(&self, point: u64) -> Mapping {
        let mut index = vec![0_u64; self.factors.len()];
        let mut rest = point;
        for (slot, len) in index.iter_mut().zip(&self.factors).rev() {
            *slot = rest % len;
            rest /= len;
        }
        let mut index = index.into_iter();
        let mut out = Mapping::new();
        for block in &self.blocks {
            match block {
                Block::Grid { axes, .. } => {
                    for axis in axes {
                        let k = index.next().unwrap_or_default();
                        set_path(&mut out, &axis.path, axis.values.get(k));
                    }
                }
                Block::Zip { axes, .. } => {
                    let k = index.next().unwrap_or_default();
                    for axis in axes {
                        set_path(&mut out, &axis.path, axis.values.get(k));
                    }
                }
                Block::Random { seed, keys, .. } => {
                    let k = index.next().unwrap_or_default();
                    let mut rng = point_rng(*seed, self.document, k);
                    for drawn in keys {
                        set_path(&mut out, &drawn.path, drawn.dist.draw(&mut rng));
                    }
                }
            }
        }
        out
    }

    /// The document of point `point`: `doc` with its `Sweep` key replaced
    /// by the swept keys (they go first when `doc` has no `Sweep`); a
    /// dotted path into a mapping the document sets itself lands inside it.
    pub(crate) fn document(&self, doc: &Mapping, point: u64) -> Mapping {
        let mut swept = self.swept(point);
        let mut out = Mapping::with_capacity(doc.len() + swept.len());
        // Dotted paths into the document's own mappings.
        let mut inside = Mapping::new();
        swept.retain(|key, value| {
            if matches!(doc.get(key), Some(Value::Mapping(_))) {
                inside.insert(key.clone(), std::mem::take(value));
                false
            } else {
                true
            }
        });
        if !self.in_document {
            out.extend(std::mem::take(&mut swept));
        }
        for (key, value) in doc {
            if key.as_str() == Some(SWEEP) {
                out.extend(std::mem::take(&mut swept));
                continue;
            }
            let value = match (value, inside.get(key)) {
                (Value::Mapping(own), Some(Value::Mapping(added))) => {
                    Value::Mapping(merge_over(own, added))
                }
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
        out
    }
}

fn describe(blocks: &[Block]) -> String {
    blocks
        .iter()
        .map(Block::describe)
        .collect::<Vec<_>>()
        .join(" × ")
}

/// Set `path` in `map`, creating mappings on the way.
fn set_path(map: &mut Mapping, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut map = map;
    for part in parents {
        let slot = map
            .entry(Value::String(part.clone()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !matches!(slot, Value::Mapping(_)) {
            *slot = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(inner) = slot else {
            return;
        };
        map = inner;
    }
    map.insert(Value::String(last.clone()), value);
}

/// The blocks of a `Sweep` value, in the order written.
fn read_blocks(ctx: &Context<'_>, sweep: &Value) -> Result<Vec<Block>, ConfigError> {
    let Value::Mapping(map) = sweep else {
        return Err(ctx.error(
            &[SWEEP],
            format!(
                "`Sweep` must be a mapping of blocks (`grid`, `zip`, `random`), found {}",
                kind(sweep)
            ),
        ));
    };
    if map.is_empty() {
        return Err(ctx.error(
            &[SWEEP],
            "`Sweep` is empty: give it a `grid`, `zip` or `random` block".to_owned(),
        ));
    }
    let mut blocks = Vec::with_capacity(map.len());
    for (key, value) in map {
        let name = key_text(key);
        let path = [SWEEP, name.as_str()];
        let block = match name.as_str() {
            "grid" => Block::Grid {
                axes: read_axes(ctx, &path, value)?,
                cli: false,
            },
            "zip" => read_zip(ctx, &path, value)?,
            "random" => read_random(ctx, value)?,
            _ => {
                return Err(ctx.error(
                    &path,
                    unknown("block", &format!("Sweep.{name}"), &name, &BLOCKS),
                ))
            }
        };
        blocks.push(block);
    }
    Ok(blocks)
}

/// "unknown block `Sweep.gird`; did you mean `grid`?"
fn unknown(what: &str, written: &str, name: &str, known: &[&str]) -> String {
    let hint = match keys::nearest(name, known) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!(
            "the known ones are {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("unknown {what} `{written}`; {hint}")
}

fn key_text(key: &Value) -> String {
    crate::model::global::key_text(key)
}

/// The axes of a `grid` or `zip` block.
fn read_axes(ctx: &Context<'_>, at: &[&str], value: &Value) -> Result<Vec<Axis>, ConfigError> {
    let block = at[1];
    let Value::Mapping(map) = value else {
        return Err(ctx.error(
            at,
            format!(
                "`{block}` must be a mapping of keys to lists of values, found {}",
                kind(value)
            ),
        ));
    };
    if map.is_empty() {
        return Err(ctx.error(at, format!("`{block}` is empty: give it at least one key")));
    }
    map.iter()
        .map(|(key, values)| {
            let name = key_text(key);
            let path = [at[0], at[1], name.as_str()];
            let values = read_values(values).map_err(|m| ctx.error(&path, m))?;
            Ok(Axis {
                path: split_path(&name).map_err(|m| ctx.error(&path, m))?,
                values,
            })
        })
        .collect()
}

/// A list, or a one-key generator mapping.
fn read_values(value: &Value) -> Result<Values, String> {
    match value {
        Value::Sequence(items) if items.is_empty() => {
            Err("an empty axis: give at least one value".to_owned())
        }
        Value::Sequence(items) => {
            plain(value)?;
            Ok(Values::List(items.clone()))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let Some((name, args)) = map.iter().next() else {
                return Err("an empty generator".to_owned());
            };
            let name = key_text(name);
            let Value::Sequence(args) = args else {
                return Err(format!(
                    "`{name}` takes a list of numbers, found {}",
                    kind(args)
                ));
            };
            match name.as_str() {
                "range" => Values::range(args),
                "linspace" => Values::linspace(args),
                "geomspace" => Values::geomspace(args),
                // numpy's name, which takes exponents.
                "logspace" => Err(
                    "unknown generator `logspace`; did you mean `geomspace`? (it \
                     takes the values, not their exponents: `{geomspace: [1.0e-4, 1.0, 5]}`)"
                        .to_owned(),
                ),
                _ => Err(unknown("generator", &name, &name, &GENERATORS)),
            }
        }
        other => Err(format!(
            "an axis is a list of values or a generator (`{{range: [start, stop, step]}}`, \
             `{{linspace: [start, stop, n]}}`, `{{geomspace: [start, stop, n]}}`), found {} \
             (write `[{}]` for one value)",
            kind(other),
            value_text(other)
        )),
    }
}

/// Refuse `parse` expressions among swept values.
fn plain(value: &Value) -> Result<(), String> {
    match value {
        Value::String(s) if s.starts_with(PARSE_PREFIX) => Err(format!(
            "a swept value cannot be an expression (`{s}`): sweep plain values and compute \
             from them in keys written after `Sweep` (`wd: parse lr * 0.1`)"
        )),
        Value::Sequence(items) => items.iter().try_for_each(plain),
        Value::Mapping(map) => map.values().try_for_each(plain),
        Value::Tagged(tagged) => plain(&tagged.value),
        _ => Ok(()),
    }
}

/// `model.depth` → `["model", "depth"]`.
fn split_path(name: &str) -> Result<Vec<String>, String> {
    let path: Vec<String> = name.split('.').map(str::to_owned).collect();
    if path.iter().any(|p| p.trim().is_empty()) {
        return Err(format!("the key path `{name}` has an empty part"));
    }
    let top = path[0].as_str();
    let runner = [
        keys::REPEAT,
        keys::GLOBAL,
        SWEEP,
        keys::SWEEP_IDX,
        RND_IDX_GIVEN,
    ];
    if runner.contains(&top) || keys::EXPANSION_KEYS.contains(&top) {
        return Err(format!(
            "`{top}` cannot be swept: the runner sets it (sweep a key of your own, or write \
             more documents)"
        ));
    }
    Ok(path)
}

fn read_zip(ctx: &Context<'_>, at: &[&str], value: &Value) -> Result<Block, ConfigError> {
    let axes = read_axes(ctx, at, value)?;
    let len = axes[0].values.len();
    if let Some(other) = axes.iter().find(|a| a.values.len() != len) {
        let (first, second) = (axes[0].path.join("."), other.path.join("."));
        return Err(ctx.error(
            &[at[0], at[1], second.as_str()],
            format!(
                "the lists of `zip` are walked together and must have equal lengths: \
                 `{first}` has {len} values, `{second}` has {}",
                other.values.len()
            ),
        ));
    }
    Ok(Block::Zip { axes, len })
}

fn read_random(ctx: &Context<'_>, value: &Value) -> Result<Block, ConfigError> {
    let at = [SWEEP, "random"];
    let Value::Mapping(map) = value else {
        return Err(ctx.error(
            &at,
            format!(
                "`random` must be a mapping with `n`, `space` and optionally `seed`, found {}",
                kind(value)
            ),
        ));
    };
    for key in map.keys() {
        let name = key_text(key);
        if !RANDOM_KEYS.contains(&name.as_str()) {
            let message = unknown("key", &format!("Sweep.random.{name}"), &name, &RANDOM_KEYS);
            return Err(ctx.error(&[SWEEP, "random", name.as_str()], message));
        }
    }
    let n = match map.get("n") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => n.as_u64().unwrap_or(1),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => {
            return Err(ctx.error(
                &[SWEEP, "random", "n"],
                "`n: 0` is an empty axis".to_owned(),
            ))
        }
        found => {
            let found =
                found.map_or_else(|| "nothing".to_owned(), |v| format!("`{}`", value_text(v)));
            return Err(ctx.error(
                &[SWEEP, "random", "n"],
                format!("`random` needs `n`, the number of points (an integer ≥ 1), found {found}"),
            ));
        }
    };
    let seed = match map.get("seed") {
        None => ctx.seed,
        Some(Value::Number(s)) if s.as_u64().is_some() => s.as_u64().unwrap_or_default(),
        Some(other) => {
            return Err(ctx.error(
                &[SWEEP, "random", "seed"],
                format!(
                    "`seed` must be an integer ≥ 0, found `{}`",
                    value_text(other)
                ),
            ))
        }
    };
    let keys = read_space(ctx, map.get("space"))?;
    Ok(Block::Random { n, seed, keys })
}

/// The keys of `random.space` and their distributions.
fn read_space(ctx: &Context<'_>, space: Option<&Value>) -> Result<Vec<Drawn>, ConfigError> {
    let space = match space {
        Some(Value::Mapping(space)) if !space.is_empty() => space,
        _ => {
            return Err(ctx.error(
                &[SWEEP, "random", "space"],
                "`random` needs a `space`: a mapping of keys to distributions \
                 (`{uniform: [0, 1]}`, `{loguniform: [1.0e-5, 1.0e-1]}`, `{randint: [2, 8]}`, \
                 `{choice: [adam, sgd]}`)"
                    .to_owned(),
            ))
        }
    };
    space
        .iter()
        .map(|(key, value)| {
            let name = key_text(key);
            let at = [SWEEP, "random", "space", name.as_str()];
            let dist = Dist::parse(value).map_err(|e| {
                let message = match e {
                    DistError::Unknown(d) => unknown("distribution", &d, &d, &DISTRIBUTIONS),
                    DistError::Shape => format!(
                        "a distribution is one of {} (`{{uniform: [0, 1]}}`), or a list to \
                         choose from; found `{}`",
                        DISTRIBUTIONS.join(", "),
                        value_text(value)
                    ),
                    DistError::Bad(message) => message,
                };
                ctx.error(&at, message)
            })?;
            if let Dist::Choice(items) = &dist {
                plain(&Value::Sequence(items.clone())).map_err(|m| ctx.error(&at, m))?;
            }
            Ok(Drawn {
                path: split_path(&name).map_err(|m| ctx.error(&at, m))?,
                dist,
            })
        })
        .collect()
}

/// Where an axis is written, for messages: its path in the file, or the
/// `--sweep` argument.
struct Origin {
    path: Vec<String>,
    /// `Sweep.grid.lr`, or `None` for `--sweep`.
    written: Option<Vec<String>>,
    arg: String,
}

fn origins(ctx: &Context<'_>, blocks: &[Block]) -> Vec<Origin> {
    let mut out = Vec::new();
    let mut cli = ctx.cli.iter();
    for block in blocks {
        let (name, paths): (&str, Vec<&Vec<String>>) = match block {
            Block::Grid { axes, .. } => ("grid", axes.iter().map(|a| &a.path).collect()),
            Block::Zip { axes, .. } => ("zip", axes.iter().map(|a| &a.path).collect()),
            Block::Random { keys, .. } => ("random", keys.iter().map(|d| &d.path).collect()),
        };
        let from_cli = matches!(block, Block::Grid { cli: true, .. });
        for path in paths {
            let dotted = path.join(".");
            let written = if from_cli {
                None
            } else if name == "random" {
                Some(vec![
                    SWEEP.into(),
                    name.into(),
                    "space".into(),
                    dotted.clone(),
                ])
            } else {
                Some(vec![SWEEP.into(), name.into(), dotted.clone()])
            };
            let arg = match written {
                Some(ref w) => format!("`{}`", w.join(".")),
                None => cli
                    .next()
                    .map_or_else(|| "`--sweep`".to_owned(), |o| format!("`{}`", o.arg)),
            };
            out.push(Origin {
                path: path.clone(),
                written,
                arg,
            });
        }
    }
    out
}

/// Each swept key once, none set by the experiment itself, none through a
/// default value that is not a mapping.
fn check_paths(ctx: &Context<'_>, doc: &Mapping, blocks: &[Block]) -> Result<(), ConfigError> {
    let origins = origins(ctx, blocks);
    for (i, origin) in origins.iter().enumerate() {
        let at: Vec<&str> = match &origin.written {
            Some(w) => w.iter().map(String::as_str).collect(),
            None => vec![SWEEP],
        };
        let line_of = |path: &[String]| {
            let parts: Vec<&str> = path.iter().map(String::as_str).collect();
            ctx.line(&parts)
                .map_or_else(String::new, |l| format!(" (line {l})"))
        };
        let dotted = origin.path.join(".");
        if let Some(earlier) = origins[..i]
            .iter()
            .find(|o| overlaps(&o.path, &origin.path))
        {
            return Err(ctx.error(
                &at,
                format!(
                    "`{dotted}` is swept twice: by {} and by {}",
                    earlier.arg, origin.arg
                ),
            ));
        }
        if let Some(own) = set_by(doc, &origin.path) {
            let own_parts: Vec<&str> = own.iter().map(String::as_str).collect();
            let (at, by) = match &origin.written {
                Some(w) => (
                    at.clone(),
                    format!("the sweep ({}{})", origin.arg, line_of(w)),
                ),
                None => (own_parts.clone(), origin.arg.clone()),
            };
            let mut err = ctx.error(
                &at,
                format!(
                    "`{dotted}` is set both by {by} and by the experiment itself (`{}`{}); \
                     remove one of them",
                    own.join("."),
                    line_of(&own)
                ),
            );
            if let (None, ConfigError::Invalid { location, .. }) = (&origin.written, &mut err) {
                location.line = ctx.line(&own_parts);
            }
            return Err(err);
        }
        if let Some(scalar) = scalar_on_the_way(ctx.defaults, &origin.path) {
            return Err(ctx.error(
                &at,
                format!(
                    "`{dotted}` cannot be set: `{}` is not a mapping in the default config",
                    scalar.join(".")
                ),
            ));
        }
    }
    Ok(())
}

/// Whether one path is a prefix of the other (or both are the same).
fn overlaps(a: &[String], b: &[String]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// The part of `path` that `doc` sets itself: the whole path, or a prefix
/// holding a value that is not a mapping.
fn set_by(doc: &Mapping, path: &[String]) -> Option<Vec<String>> {
    let mut map = doc;
    for (depth, part) in path.iter().enumerate() {
        match map.get(part.as_str()) {
            None => return None,
            Some(Value::Mapping(inner)) if depth + 1 < path.len() => map = inner,
            Some(_) => return Some(path[..=depth].to_vec()),
        }
    }
    None
}

/// A strict prefix of `path` whose default value is not a mapping.
fn scalar_on_the_way(defaults: &Mapping, path: &[String]) -> Option<Vec<String>> {
    let mut map = defaults;
    for (depth, part) in path[..path.len() - 1].iter().enumerate() {
        match map.get(part.as_str()) {
            None => return None,
            Some(Value::Mapping(inner)) => map = inner,
            Some(_) => return Some(path[..=depth].to_vec()),
        }
    }
    None
}

#[cfg(test)]
mod tests;
