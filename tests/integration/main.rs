//! The one integration-test binary: runs the built `cool-runner` on real
//! files in a temporary directory per test, and drives the library where
//! the binary cannot reach yet.

// Helpers serve test modules that some feature sets leave out, and `pub` in
// the helpers is for reading, not for export.
#![allow(dead_code, unreachable_pub)]

mod test;

#[cfg(feature = "web")]
mod browser;
mod cache;
mod cli;
mod collect;
mod corpus;
mod display;
mod expand;
#[cfg(feature = "slack")]
mod fake_slack;
mod filter;
mod fuzz;
mod hostile;
mod issue12;
mod parallel;
mod pipelines;
mod queue;
mod queue_crash;
mod reliability;
mod run;
mod sandbox;
mod screen;
mod signals;
mod slack;
mod slurm;
mod surprises;
mod sweeps;
#[cfg(feature = "web")]
mod web;
