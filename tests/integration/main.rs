//! The one integration-test binary: runs the built `cool-runner` on real
//! files in a temporary directory per test.

mod test;

mod collect;
mod expand;
mod filter;
