//! The one integration-test binary: runs the built `cool-runner` on real
//! files in a temporary directory per test, and drives the library where
//! the binary cannot reach yet.

mod test;

mod expand;
#[cfg(feature = "slack")]
mod fake_slack;
mod slack;
