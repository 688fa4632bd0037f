//! Typed views of what the experiment file says: the runner's keys of an
//! experiment.

pub(crate) mod experiment;

pub(crate) use experiment::{name_of, JobSpec};
