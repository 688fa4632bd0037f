//! The one integration-test binary: runs the built `cool-runner` on real
//! files in a temporary directory per test.

mod test;

mod expand;
mod fuzz;
mod queue;
mod run;
mod signals;
