//! The results store and result cache: every run recorded in an embedded
//! SQLite database, and experiments whose identity has a `done` run skipped.

mod cache;
mod db;
mod identity;

pub use cache::Cache;
pub use db::{Ending, NewRun, RunRow, Store, StoreError, DEFAULT_PATH};
pub use identity::{canonical, file_writes_rnd_idx, Identifier, Identity, VOLATILE_KEYS};
