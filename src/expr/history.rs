//! `E`: the read-only history of experiments expanded before the current one.
//!
//! The history is a registered Rhai type with indexers and no setters, so a
//! script can neither change it nor make the host copy it: pushing it into a
//! scope is one `Arc` clone, and `E[-1]` costs the same whether the history
//! holds ten entries or ten thousand (see `CRATES.md`, design C).

use std::collections::HashMap;
use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, ImmutableString, Position};

#[derive(Clone, Default)]
struct Inner {
    items: Vec<Dynamic>,
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

    /// Append an expanded experiment (a Rhai map) under its `Name`.
    ///
    /// Between evaluations no script holds a clone, so this normally appends
    /// in place; if a clone is still alive it is copied once (correct, slower).
    pub fn push(&mut self, name: Option<String>, item: Dynamic) {
        let inner = Arc::make_mut(&mut self.inner);
        if let Some(name) = name {
            inner.by_name.insert(name, inner.items.len());
        }
        inner.items.push(item);
    }

    /// Empty the history (start of a new global repetition).
    pub fn clear(&mut self) {
        self.inner = Arc::default();
    }

    pub(crate) fn get_index(&self, index: i64) -> Result<Dynamic, Box<EvalAltResult>> {
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
        Ok(self.inner.items[at as usize].clone())
    }

    pub(crate) fn get_name(&self, name: &ImmutableString) -> Result<Dynamic, Box<EvalAltResult>> {
        match self.inner.by_name.get(name.as_str()) {
            Some(&at) => Ok(self.inner.items[at].clone()),
            None => Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("no earlier experiment is named `{name}` in the history `E`").into(),
                Position::NONE,
            ))),
        }
    }
}
