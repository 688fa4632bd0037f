//! The runner's vocabulary, typed once: `Global` (the settings of the
//! default config), an experiment's runner keys (`JobSpec`), and the key
//! names the runner reads and writes (`keys`).

pub(crate) mod duration;
pub(crate) mod experiment;
pub(crate) mod global;
pub(crate) mod keys;
pub(crate) mod slurm;

pub(crate) use experiment::{label, name_of, JobSpec};
pub(crate) use global::Global;
