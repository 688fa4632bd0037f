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
        match self.compact.get(key) {
            Some(value) => Ok(value),
            None => Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("the experiment has no key `{key}`").into(),
                Position::NONE,
            ))),
        }
    }

    pub(crate) fn to_map(&self) -> Map {
        self.compact.to_map()
    }
}

#[derive(Default, Clone)]
struct Inner {
    items: Vec<Arc<[u8]>>,
    by_name: HashMap<String, usize>,
    keys: Arc<Keys>,
}

/// The experiments expanded so far, oldest first, each as compact bytes
/// (`compact.rs`): a few hundred bytes per experiment instead of a tree.
#[derive(Clone, Default)]
pub struct History {
    inner: Arc<Inner>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.inner.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.items.is_empty()
    }

    /// Append an expanded experiment under its `Name`.
    ///
    /// Between evaluations no script holds a clone of the history, so this
    /// appends in place; a clone still alive (a script returned `E`) makes
    /// it start a fresh copy of the index, which is correct, only slower.
    pub fn push(&mut self, experiment: &Mapping) {
        let inner = Arc::make_mut(&mut self.inner);
        let compact = encode(experiment, Arc::make_mut(&mut inner.keys));
        if let Some(Value::String(name)) = experiment.get("Name") {
            inner.by_name.insert(name.clone(), inner.items.len());
        }
        inner.items.push(compact);
    }

    /// Empty the history (start of a new global repetition).
    pub fn clear(&mut self) {
        self.inner = Arc::default();
    }

    pub(crate) fn get_index(&self, index: i64) -> Result<Experiment, Box<EvalAltResult>> {
        let len = self.inner.items.len() as i64;
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
        Ok(Experiment {
            compact: Compact::new(
                Arc::clone(&self.inner.items[at as usize]),
                Arc::clone(&self.inner.keys),
            ),
        })
    }

    pub(crate) fn get_name(
        &self,
        name: &ImmutableString,
    ) -> Result<Experiment, Box<EvalAltResult>> {
        match self.inner.by_name.get(name.as_str()) {
            Some(&at) => Ok(Experiment {
                compact: Compact::new(
                    Arc::clone(&self.inner.items[at]),
                    Arc::clone(&self.inner.keys),
                ),
            }),
            None => Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("no earlier experiment is named `{name}` in the history `E`").into(),
                Position::NONE,
            ))),
        }
    }
}
