//! `E`: the read-only history of experiments expanded before the current one.
//!
//! The history is a registered Rhai type with indexers and no setters, so a
//! script can neither change it nor make the host copy it: pushing it into a
//! scope is one `Arc` clone, and `E[-1]` costs the same whether the history
//! holds ten entries or ten thousand (see `CRATES.md`, design C).
//!
//! Each entry is an [`Experiment`]: the expanded experiment as compact bytes
//! (`compact.rs`), a key decoded into a Rhai value only when a script reads
//! it, so `E[-1].x` never converts the rest of the previous experiment.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, ImmutableString, Map, Position};
use yaml_serde::{Mapping, Value};

use super::compact::{encode, Compact, Keys};

/// One experiment as seen from a script: `E[-1]`. Read-only: it has getters
/// (`.key`, `["key"]`, `keys()`, `len`, `in`, `to_map()`) and no setters.
/// A key is decoded into a Rhai value only when it is read.
#[derive(Clone)]
pub struct Experiment {
    compact: Compact,
    /// Its position in `E`.
    at: usize,
    /// Its results are in (it finished, or is a stored run): a missing
    /// result key is then an error, not something to wait for.
    finished: bool,
    name: Option<Arc<str>>,
}

/// An expression read a result that an earlier experiment does not have
/// yet: the key that reads it waits until that experiment has finished
/// (pipelines, see `config/evaluate.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaited {
    /// The earlier experiment's position in `E`.
    pub at: usize,
    /// Its `Name`, if it has one.
    pub name: Option<String>,
    /// The result key read.
    pub key: String,
}

thread_local! {
    /// What the last evaluation on this thread waited for (set by the
    /// indexer that found a result missing, read by the evaluator).
    static AWAITED: std::cell::RefCell<Option<Awaited>> = const { std::cell::RefCell::new(None) };
}

thread_local! {
    /// While [`discover`] runs: every result read that is not there yet.
    static DISCOVERED: std::cell::RefCell<Option<Vec<Awaited>>> = const { std::cell::RefCell::new(None) };
}

/// Take what the last failed evaluation on this thread waited for, if it
/// failed because a result is not there yet.
pub fn take_awaited() -> Option<Awaited> {
    AWAITED.with(|a| a.borrow_mut().take())
}

/// Whether the last evaluation on this thread stopped at a result that is
/// not there yet ([`take_awaited`] says which).
pub fn awaiting() -> bool {
    AWAITED.with(|a| a.borrow().is_some())
}

/// Run `evaluate` with every result that is not there yet read as `0`
/// instead of stopping at the first: which results does the expression
/// read? (An evaluation stops at the first missing result, so a key that
/// reads three finished experiments would otherwise name only one.)
pub fn discover(evaluate: impl FnOnce()) -> Vec<Awaited> {
    DISCOVERED.with(|d| *d.borrow_mut() = Some(Vec::new()));
    evaluate();
    let found = DISCOVERED
        .with(|d| d.borrow_mut().take())
        .unwrap_or_default();
    let _ = take_awaited();
    found
}

impl Experiment {
    /// The whole experiment as YAML (a script returned `E[i]` itself).
    pub(crate) fn to_mapping(&self) -> Mapping {
        self.compact.to_mapping()
    }

    pub(crate) fn key_names(&self) -> Vec<String> {
        self.compact.key_names()
    }

    pub(crate) fn len(&self) -> usize {
        self.compact.len()
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.compact.contains(key)
    }

    pub(crate) fn get(&self, key: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        let value = self.compact.get(key);
        // A key of its own that waited for results is computed when it
        // starts: reading it waits for it too.
        let deferred = !self.finished
            && value
                .as_ref()
                .and_then(Dynamic::read_lock::<ImmutableString>)
                .is_some_and(|s| s.starts_with("parse "));
        if let (Some(value), false) = (value, deferred) {
            return Ok(value);
        }
        let who = match &self.name {
            Some(name) => format!("`{name}` (E[{}])", self.at),
            None => format!("E[{}]", self.at),
        };
        let message = if !deferred && !crate::model::keys::is_upper_case(key) {
            format!("the experiment has no key `{key}`")
        } else if self.finished {
            format!("{who} finished without the result `{key}`")
        } else {
            let awaited = Awaited {
                at: self.at,
                name: self.name.as_deref().map(str::to_owned),
                key: key.to_owned(),
            };
            let discovering = DISCOVERED.with(|d| match d.borrow_mut().as_mut() {
                Some(found) => {
                    found.push(awaited.clone());
                    true
                }
                None => false,
            });
            if discovering {
                return Ok(Dynamic::from(0 as rhai::INT));
            }
            AWAITED.with(|a| *a.borrow_mut() = Some(awaited));
            format!("waits for the result `{key}` of {who}")
        };
        Err(Box::new(EvalAltResult::ErrorRuntime(
            message.into(),
            Position::NONE,
        )))
    }

    pub(crate) fn to_map(&self) -> Map {
        self.compact.to_map()
    }
}

#[derive(Default, Clone)]
struct Inner {
    items: Vec<Arc<[u8]>>,
    /// Positions of each `Name`, in order.
    by_name: HashMap<Arc<str>, Vec<usize>>,
    names: Vec<Option<Arc<str>>>,
    /// `finished[i]`: the results of `items[i]` are in it.
    finished: Vec<bool>,
    keys: Arc<Keys>,
}

/// The experiments expanded so far, oldest first, each as compact bytes
/// (`compact.rs`): a few hundred bytes per experiment instead of a tree.
///
/// A view ([`History::view`]) shows only the first entries: `E` as it was
/// when a later experiment was expanded, for the keys of it that waited
/// for results.
#[derive(Clone, Default)]
pub struct History {
    inner: Arc<Inner>,
    /// Only the first `limit` entries are visible (`None`: all).
    limit: Option<usize>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "History({} experiment(s))", self.len())
    }
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        let all = self.inner.items.len();
        self.limit.map_or(all, |limit| limit.min(all))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `E` as the experiment at position `at` saw it: the entries before it.
    #[must_use]
    pub fn view(&self, at: usize) -> History {
        History {
            inner: Arc::clone(&self.inner),
            limit: Some(at),
        }
    }

    /// Put the finished experiment at `at` (its log document: configuration,
    /// results, `STATUS`, `TIME_ELAPSED`, `RUN_DIR`) in place of what was
    /// expanded; scripts that read it from now on see its results.
    pub fn finish(&mut self, at: usize, document: &Mapping) {
        let inner = Arc::make_mut(&mut self.inner);
        if at >= inner.items.len() {
            return;
        }
        inner.items[at] = encode(document, Arc::make_mut(&mut inner.keys));
        inner.finished[at] = true;
    }

    /// Whether the experiment at `at` has finished ([`History::finish`]).
    pub fn is_finished(&self, at: usize) -> bool {
        self.inner.finished.get(at).copied().unwrap_or(false)
    }

    /// The experiment at `at` as expanded (or finished), as YAML.
    pub fn mapping(&self, at: usize) -> Option<Mapping> {
        let bytes = self.inner.items.get(at)?;
        Some(Compact::new(Arc::clone(bytes), Arc::clone(&self.inner.keys)).to_mapping())
    }

    /// The `Name` of the experiment at `at`.
    pub fn name(&self, at: usize) -> Option<&str> {
        self.inner.names.get(at)?.as_deref()
    }

    /// The position of the latest experiment named `name` before the end
    /// of the view.
    pub fn position_of(&self, name: &str) -> Option<usize> {
        let positions = self.inner.by_name.get(name)?;
        let end = self.len();
        let before = positions.partition_point(|&p| p < end);
        before.checked_sub(1).map(|i| positions[i])
    }

    fn entry(&self, at: usize) -> Experiment {
        Experiment {
            compact: Compact::new(
                Arc::clone(&self.inner.items[at]),
                Arc::clone(&self.inner.keys),
            ),
            at,
            finished: self.inner.finished[at],
            name: self.inner.names[at].clone(),
        }
    }

    /// Append an expanded experiment under its `Name`.
    ///
    /// Between evaluations no script holds a clone of the history, so this
    /// appends in place; a clone still alive (a script returned `E`) makes
    /// it start a fresh copy of the index, which is correct, only slower.
    pub fn push(&mut self, experiment: &Mapping) {
        debug_assert!(self.limit.is_none(), "a view is read-only");
        let inner = Arc::make_mut(&mut self.inner);
        let compact = encode(experiment, Arc::make_mut(&mut inner.keys));
        let at = inner.items.len();
        let name: Option<Arc<str>> = match experiment.get("Name") {
            Some(Value::String(name)) => Some(Arc::from(name.as_str())),
            _ => None,
        };
        if let Some(name) = &name {
            inner.by_name.entry(Arc::clone(name)).or_default().push(at);
        }
        inner.names.push(name);
        inner.finished.push(false);
        inner.items.push(compact);
    }

    /// Empty the history (start of a new global repetition).
    pub fn clear(&mut self) {
        self.inner = Arc::default();
        self.limit = None;
    }

    pub(crate) fn get_index(&self, index: i64) -> Result<Experiment, Box<EvalAltResult>> {
        let len = self.len() as i64;
        let at = if index < 0 { len + index } else { index };
        if at < 0 || at >= len {
            let what = if len == 0 {
                "the history `E` is empty (this is the first experiment of its repetition)"
                    .to_owned()
            } else {
                format!("`E[{index}]` is out of range: the history `E` holds {len} experiment(s)")
            };
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                what.into(),
                Position::NONE,
            )));
        }
        Ok(self.entry(at as usize))
    }

    pub(crate) fn get_name(
        &self,
        name: &ImmutableString,
    ) -> Result<Experiment, Box<EvalAltResult>> {
        match self.position_of(name.as_str()) {
            Some(at) => Ok(self.entry(at)),
            None => Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("no earlier experiment is named `{name}` in the history `E`").into(),
                Position::NONE,
            ))),
        }
    }
}
