//! The one integration-test binary: runs the built `cool-runner` on real
//! files in a temporary directory per test.

mod test;

mod cache;
mod expand;
mod fuzz;
mod parallel;
mod queue;
mod run;
mod signals;
