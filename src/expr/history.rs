//! `E`: the read-only history of experiments expanded before the current one.
//!
//! The history is a registered Rhai type with indexers and no setters, so a
//! script can neither change it nor make the host copy it: pushing it into a
//! scope is one `Arc` clone, and `E[-1]` costs the same whether the history
//! holds ten entries or ten thousand (see `CRATES.md`, design C).
//!
//! Each entry is an [`Experiment`]: the expanded YAML mapping, converted to a
//! Rhai map only when a script first reads it, and then shared (an `Arc`), so
//! `E[-1].x` never deep-copies the previous experiment.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, ImmutableString, Map, Position};
use yaml_serde::{Mapping, Value};

use super::convert::{mapping_to_map, yaml_to_dynamic};

/// One experiment as seen from a script: `E[-1]`. Read-only: it has getters
/// (`.key`, `["key"]`, `keys()`, `len`, `in`, `to_map()`) and no setters.
/// A key is converted to a Rhai value only when it is read.
#[derive(Clone)]
pub struct Experiment {
    yaml: Arc<Mapping>,
}

impl Experiment {
    pub(crate) fn yaml(&self) -> &Mapping {
        &self.yaml
    }

    pub(crate) fn get(&self, key: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        match self.yaml.get(key) {
            Some(value) => Ok(yaml_to_dynamic(value)),
            None => Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("the experiment has no key `{key}`").into(),
                Position::NONE,
            ))),
        }
    }

    pub(crate) fn to_map(&self) -> Map {
        mapping_to_map(&self.yaml)
    }
}

struct Entry {
    experiment: Experiment,
}

impl Entry {
    fn experiment(&self) -> Experiment {
        self.experiment.clone()
    }
}

#[derive(Default)]
struct Inner {
    items: Vec<Entry>,
    by_name: HashMap<String, usize>,
}

/// The experiments expanded so far, oldest first.
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
        self.push_shared(Arc::new(experiment.clone()));
    }

    /// [`History::push`] without copying the experiment.
    pub fn push_shared(&mut self, experiment: Arc<Mapping>) {
        if Arc::get_mut(&mut self.inner).is_none() {
            let items = self
                .inner
                .items
                .iter()
                .map(|e| Entry {
                    experiment: e.experiment.clone(),
                })
                .collect();
            self.inner = Arc::new(Inner {
                items,
                by_name: self.inner.by_name.clone(),
            });
        }
        let inner = Arc::get_mut(&mut self.inner).expect("unique after the copy above");
        if let Some(Value::String(name)) = experiment.get("Name") {
            inner.by_name.insert(name.clone(), inner.items.len());
        }
        inner.items.push(Entry {
            experiment: Experiment { yaml: experiment },
        });
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
        Ok(self.inner.items[at as usize].experiment())
    }

    pub(crate) fn get_name(
        &self,
        name: &ImmutableString,
    ) -> Result<Experiment, Box<EvalAltResult>> {
        match self.inner.by_name.get(name.as_str()) {
            Some(&at) => Ok(self.inner.items[at].experiment()),
            None => Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("no earlier experiment is named `{name}` in the history `E`").into(),
                Position::NONE,
            ))),
        }
    }
}
