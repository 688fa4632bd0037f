//! The one integration-test binary: runs the built `cool-runner` on real
//! files in a temporary directory per test.

// The modules share the helpers of `test.rs` through `pub` items of this
// private binary, and not every module uses every helper.
#![allow(unreachable_pub, dead_code)]

mod test;

mod collect;
mod expand;
mod filter;
