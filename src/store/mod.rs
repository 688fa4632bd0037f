//! The results store and result cache: every run recorded in an embedded
//! SQLite database, and experiments whose identity has a `done` run skipped.

mod cache;
mod db;
mod identity;

pub(crate) use cache::{Cache, SharedCache};
pub(crate) use db::{RunRow, Store, StoreError, DEFAULT_PATH};
pub(crate) use identity::{file_writes_rnd_idx, Identifier};
