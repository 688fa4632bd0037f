//! The results store and result cache: every run recorded in an embedded
//! SQLite database, and experiments whose identity has a `done` run skipped.

mod cache;
mod db;
mod identity;
#[cfg(feature = "web")]
mod reader;
mod writer;

pub use cache::Cache;
pub(crate) use cache::SharedCache;
pub use db::{Ending, NewRun, Store, StoreError};
pub(crate) use db::{RunPlace, RunRow, DEFAULT_PATH};
pub use identity::{Identifier, Identity};
#[cfg(feature = "web")]
pub(crate) use reader::{StoreReader, StoredRun};
