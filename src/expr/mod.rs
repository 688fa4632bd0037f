//! Expressions: the only place that names `rhai::`.
//!
//! `parse ...` values in experiment files and `--filter`/`--sort` expressions
//! of `filter` are evaluated here, in one sandboxed engine.

mod compact;
mod convert;
mod document;
mod engine;
mod format;
mod history;
mod keys;
mod limits;
#[cfg(test)]
mod proptests;
mod sandbox;
mod to_yaml;
mod translate;

pub use convert::{key_name, yaml_to_dynamic};
pub use document::{BoundDocument, DocumentExpr, DOCUMENT};
pub use history::{awaiting, discover, take_awaited, Awaited, Experiment, History};
pub use limits::EVAL_STACK_SIZE;
pub use rhai::Dynamic;
pub use sandbox::{CompiledExpr, ExprError, Sandbox, Scope};
pub use to_yaml::dynamic_to_yaml;
pub use translate::translate;
