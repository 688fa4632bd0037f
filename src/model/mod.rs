//! The runner's vocabulary, typed once: `Global` (the settings of the
//! default config) and the key names the runner reads and writes (`keys`).

pub(crate) mod global;
pub(crate) mod keys;

pub(crate) use global::Global;
