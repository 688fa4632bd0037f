//! The part of expansion that needs no history: `Global` and the overrides,
//! merging a document over the defaults, the `Repeat` copies and the runner
//! keys (steps 1–3 of `pipeline.rs`).

use crate::model::global::{MAX_EXPERIMENTS, MAX_REPEAT};
use crate::model::{keys, Global};
use std::fmt::Write as _;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rustc_hash::FxHashSet as HashSet;
use yaml_serde::{Mapping, Value};

use super::error::{ConfigError, Location};
use super::load::{kind, SourceText};
use super::merge::merge_over;
use super::names::{referenced_names, Names};
use super::overrides::{apply_override, Override};

/// Keys the runner adds to every expanded experiment, in this order.
pub const RUNNER_KEYS: [&str; 4] = keys::EXPANSION_KEYS;

/// Added (`true`, after `HOST`) to an experiment whose `RND_IDX` was
/// written by the person (in the experiment, the default config or an
/// override) rather than drawn: only then is `RND_IDX` part of the cache
/// identity. The marker itself is not, so the identities of experiments
/// stored before it existed do not change.
pub const RND_IDX_GIVEN: &str = "RND_IDX_GIVEN";

/// Settings that change expansion without being in the file.
#[derive(Debug, Clone, Default)]
pub struct ExpandOptions {
    /// Seed for `RND_IDX`; random when `None`.
    pub seed: Option<u64>,
    /// Value of `HOST`.
    pub host: String,
    /// Stop after this many experiments (`explain --pick`, `run --pick`):
    /// the rest of the file is neither expanded nor checked.
    pub limit: Option<usize>,
    /// `--dry`: a value that waits for the results of an earlier experiment
    /// is printed as `<waits for NAME.KEY>` instead of its `parse` text.
    pub placeholders: bool,
}

/// The default config, split: `Global` and the defaults proper, both after
/// the overrides, and `Global.repeat`.
pub(crate) struct Header {
    pub(crate) global: Mapping,
    pub(crate) defaults: Mapping,
    pub(crate) repeat: u64,
    /// `Global.max_experiments`.
    pub(crate) max_experiments: u64,
}

/// Apply overrides, split off `Global`, check it and read `Global.repeat`.
pub(crate) fn prepare(
    source: &SourceText,
    mut defaults: Mapping,
    overrides: &[Override],
) -> Result<Header, ConfigError> {
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
    if defaults.contains_key(keys::SWEEP) {
        return Err(ConfigError::Invalid {
            location: source.location(0, &[keys::SWEEP]),
            message: "`Sweep` belongs in an experiment document, not in the default config \
                      (`--sweep key=v1,v2` adds an axis to every experiment)"
                .to_owned(),
        });
    }
    // Every key of `Global` is checked here, with its place in the file;
    // expansion itself needs only `repeat` and `max_experiments`.
    let checked = Global::from_mapping(&global, Some(source))?;
    Ok(Header {
        global,
        defaults,
        repeat: checked.repeat,
        max_experiments: checked.max_experiments,
    })
}

/// `Some(n)` with n ≥ 1, or the text of what was found instead.
pub(crate) fn positive_int(value: Option<&Value>, default: u64) -> Result<u64, String> {
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

/// Merges documents over the defaults, copies them `Repeat` times and adds
/// the runner keys. It owns the `RND_IDX` generator, so it can run on
/// another thread, ahead of evaluation, and still give the same values in
/// the same order.
pub(crate) struct Preparer {
    source: Option<Arc<SourceText>>,
    defaults: Mapping,
    /// Names used by the default config's expressions.
    default_names: Arc<HashSet<String>>,
    rng: StdRng,
    host: String,
    pub(crate) global_rep: u64,
    /// How many experiments have been produced so far (for messages).
    pub(crate) produced: usize,
    /// `Global.max_experiments`.
    pub(crate) max_experiments: u64,
}

/// One document, merged and copied, ready for evaluation.
pub(crate) struct Prepared {
    pub(crate) document: usize,
    pub(crate) name: Option<String>,
    pub(crate) names: Names,
    pub(crate) copies: Vec<Mapping>,
}

impl Preparer {
    pub(crate) fn new(
        source: Option<Arc<SourceText>>,
        defaults: Mapping,
        options: &ExpandOptions,
    ) -> Self {
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
            max_experiments: MAX_EXPERIMENTS,
        }
    }

    /// The default config (without `Global`).
    pub(crate) fn defaults(&self) -> &Mapping {
        &self.defaults
    }

    /// Merge document `document` (its index in the file, for messages) over
    /// the defaults and make its `Repeat` copies with the runner keys.
    pub(crate) fn prepare(
        &mut self,
        document: usize,
        doc: &Mapping,
    ) -> Result<Prepared, ConfigError> {
        self.prepare_point(document, doc, None)
    }

    /// [`Preparer::prepare`] for point `sweep_idx` of a sweep (`doc` is that
    /// point's document): its copies also get `SWEEP_IDX`.
    pub(crate) fn prepare_point(
        &mut self,
        document: usize,
        doc: &Mapping,
        sweep_idx: Option<u64>,
    ) -> Result<Prepared, ConfigError> {
        let merged = merge_over(doc, &self.defaults);
        let name = merged
            .get("Name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let repeat = positive_int(merged.get(keys::REPEAT), 1).map_err(|found| {
            let message = format!(
                "`Repeat` must be an integer of at least 1, found {found} \
                 (it is read before expressions are evaluated, so it cannot be `parse`)"
            );
            self.repeat_error(document, name.as_ref(), message)
        })?;
        // Checked before the copies are allocated.
        if repeat > MAX_REPEAT || self.produced as u64 + repeat > self.max_experiments {
            let message = if repeat > MAX_REPEAT {
                format!("`Repeat: {repeat}` is over the limit of {MAX_REPEAT} repeats")
            } else {
                too_many(self.produced as u64 + repeat, self.max_experiments)
            };
            return Err(self.repeat_error(document, name.as_ref(), message));
        }
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
            if let Some(point) = sweep_idx {
                set(&mut experiment, keys::SWEEP_IDX, Value::from(point));
            }
            if let Some(rnd_idx) = rnd_idx {
                set(&mut experiment, "RND_IDX", Value::from(rnd_idx));
            }
            set(&mut experiment, "HOST", Value::from(self.host.as_str()));
            if rnd_idx.is_none() {
                set(&mut experiment, RND_IDX_GIVEN, Value::Bool(true));
            }
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

    /// Refuse `Global.repeat` rounds of the file (`produced` experiments
    /// each) if they exceed the limit, before any round after the first.
    pub(crate) fn check_rounds(&self, rounds: u64) -> Result<(), ConfigError> {
        let total = (self.produced as u64).saturating_mul(rounds);
        if total <= self.max_experiments {
            return Ok(());
        }
        let message = format!(
            "{} experiments × `Global.repeat: {rounds}`: {}",
            self.produced,
            too_many(total, self.max_experiments)
        );
        Err(self.repeat_error(0, None, message))
    }

    /// Refuse a sweep of `points` points (`repeat` copies each, `rounds`
    /// global repetitions) that would take the file over the limit, before
    /// any of its points is made. `plan` describes the sweep.
    pub(crate) fn check_sweep(
        &self,
        location: Location,
        plan: &str,
        points: u64,
        repeat: u64,
        rounds: u64,
    ) -> Result<(), ConfigError> {
        let total = points
            .checked_mul(repeat)
            .and_then(|n| n.checked_add(self.produced as u64))
            .and_then(|n| n.checked_mul(rounds));
        if total.is_some_and(|total| total <= self.max_experiments) {
            return Ok(());
        }
        let mut product = format!("{points} points × `Repeat: {repeat}`");
        if rounds > 1 {
            let _ = write!(product, " × `Global.repeat: {rounds}`");
        }
        let total = total.map_or_else(|| format!("more than {}", u64::MAX), |t| t.to_string());
        let earlier = if self.produced > 0 {
            format!(" (with the {} experiments before it)", self.produced)
        } else {
            String::new()
        };
        Err(ConfigError::Invalid {
            location,
            message: format!(
                "the sweep ({plan}) would expand to {product}{earlier}: {total} experiments, \
                 over the limit of {} (`Global.max_experiments`)",
                self.max_experiments
            ),
        })
    }

    fn repeat_error(&self, document: usize, name: Option<&String>, message: String) -> ConfigError {
        // Document 0 is the default config: its `Global.repeat`.
        let key: &[&str] = if document == 0 {
            &["Global", "repeat"]
        } else {
            &["Repeat"]
        };
        let mut location = match &self.source {
            Some(source) => source.location(document, key),
            None => Location {
                document: Some(document),
                key: Some(key.join(".")),
                ..Location::default()
            },
        };
        location.experiment = Some(self.produced);
        location.name = name.cloned();
        ConfigError::Invalid { location, message }
    }
}

fn too_many(total: u64, limit: u64) -> String {
    format!(
        "the file would expand to {total} experiments, over the limit of {limit} \
         (`Global.max_experiments`)"
    )
}

/// Set `key` to `value`, keeping its position if it exists, else appending.
fn set(map: &mut Mapping, key: &str, value: Value) {
    if let Some(slot) = map.get_mut(key) {
        *slot = value;
    } else {
        map.insert(Value::String(key.to_owned()), value);
    }
}
