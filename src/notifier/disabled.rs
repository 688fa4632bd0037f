//! The transport of a build without the `slack` feature: it cannot be
//! started, so the `Notifier` warns once and stays off. Keeping the same
//! names as `slack.rs` keeps the rest of the module free of `cfg`s.

use std::convert::Infallible;
use std::time::Duration;

use super::warnings::Warner;

#[derive(Debug)]
#[expect(
    dead_code,
    reason = "built by the notifier, read only by the real transport"
)]
pub(crate) struct Outgoing {
    pub(crate) text: String,
    pub(crate) about: String,
}

#[expect(
    dead_code,
    reason = "built by the notifier, read only by the real transport"
)]
pub(crate) struct Connection {
    pub(crate) token: String,
    pub(crate) api_url: String,
    pub(crate) channel: String,
    pub(crate) request_timeout: Duration,
}

/// Never built: `start` always fails.
#[derive(Debug)]
pub(crate) struct Outbox(Infallible);

impl Outbox {
    pub(crate) const SUPPORTED: bool = false;

    pub(crate) fn start(
        _connection: Connection,
        _capacity: usize,
        _warner: Warner,
    ) -> std::io::Result<Self> {
        Err(std::io::Error::other("this build has no Slack support"))
    }

    pub(crate) fn send(&self, _message: Outgoing) {
        match self.0 {}
    }

    pub(crate) fn shutdown(&mut self, _deadline: Duration) {
        match self.0 {}
    }
}
