//! The Slack transport (feature `slack`): a background thread that owns a
//! tokio `current_thread` runtime and a slack-morphism client, and posts
//! each queued message with `chat.postMessage`.
//!
//! The caller never waits: messages go through a bounded channel, and a full
//! channel drops the message with a warning. Each request has its own
//! timeout. Every failure (no connection, an HTTP error, `ok: false`, a
//! timeout) is one warning line and nothing else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::{
    SlackApiChatPostMessageRequest, SlackApiToken, SlackApiTokenValue, SlackChannelId, SlackClient,
    SlackClientHyperConnector, SlackMessageContent,
};

use super::bounded::Bounded;
use super::warnings::Warner;

/// How long `Drop` waits for unsent messages when `shutdown` was not called.
const DROP_DEADLINE: Duration = Duration::from_secs(5);

/// One message for the worker.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) text: String,
    /// What the message is about, for warnings (``experiment #3 `small` ``).
    pub(crate) about: String,
}

/// Everything the worker needs; the token stays inside it.
pub(crate) struct Connection {
    pub(crate) token: String,
    pub(crate) api_url: String,
    pub(crate) channel: String,
    pub(crate) request_timeout: Duration,
}

/// The sending end, held by the `Notifier`.
#[derive(Debug)]
pub(crate) struct Outbox {
    sender: Option<SyncSender<Outgoing>>,
    /// Messages queued or being posted.
    pending: Arc<AtomicUsize>,
    /// Disconnected when the worker has finished.
    finished: Receiver<()>,
    thread: Option<JoinHandle<()>>,
    warner: Warner,
}

impl Outbox {
    pub(crate) const SUPPORTED: bool = true;

    /// Start the worker thread.
    pub(crate) fn start(
        connection: Connection,
        capacity: usize,
        warner: Warner,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel(capacity.max(1));
        let (finished_tx, finished) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name("slack-notifier".to_owned())
            .spawn({
                let pending = Arc::clone(&pending);
                let warner = warner.clone();
                move || {
                    worker(&connection, &receiver, &pending, &warner);
                    drop(finished_tx);
                }
            })?;
        Ok(Self {
            sender: Some(sender),
            pending,
            finished,
            thread: Some(thread),
            warner,
        })
    }

    /// Queue a message; never blocks.
    pub(crate) fn send(&self, message: Outgoing) {
        let Some(sender) = &self.sender else {
            return;
        };
        self.pending.fetch_add(1, Ordering::SeqCst);
        match sender.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(message)) => {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                self.warner.warn(&format!(
                    "too many messages waiting; dropped the message about {}",
                    message.about
                ));
            }
            Err(TrySendError::Disconnected(message)) => {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                self.warner.warn(&format!(
                    "the sending thread has stopped; dropped the message about {}",
                    message.about
                ));
            }
        }
    }

    /// Let the worker post what is queued, waiting at most `deadline`.
    /// Messages still unsent then are given up, with one warning.
    pub(crate) fn shutdown(&mut self, deadline: Duration) {
        let Some(sender) = self.sender.take() else {
            return;
        };
        drop(sender);
        match self.finished.recv_timeout(deadline) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(thread) = self.thread.take() {
                    if thread.join().is_err() {
                        self.warner.warn("the sending thread panicked");
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                // The thread is left to the end of the process.
                let unsent = self.pending.load(Ordering::SeqCst);
                self.warner.warn(&format!(
                    "gave up on {unsent} unsent message(s) after waiting {:.1} s",
                    deadline.as_secs_f64()
                ));
            }
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.shutdown(DROP_DEADLINE);
    }
}

/// The worker thread's body: post each message until the channel closes.
fn worker(
    connection: &Connection,
    receiver: &Receiver<Outgoing>,
    pending: &AtomicUsize,
    warner: &Warner,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            warner.warn(&format!(
                "failed to start the sending thread's runtime ({err}); no message will be sent"
            ));
            return;
        }
    };
    // hyper's client wants a runtime around while it is built.
    let client = {
        let _guard = runtime.enter();
        client(&connection.api_url)
    };
    let token = SlackApiToken::new(SlackApiTokenValue::from(connection.token.clone()));
    let session = client.open_session(&token);
    let channel = SlackChannelId::from(connection.channel.clone());
    while let Ok(message) = receiver.recv() {
        let request = SlackApiChatPostMessageRequest::new(
            channel.clone(),
            SlackMessageContent::new()
                .with_text(crate::secrets::redact(&message.text).into_owned()),
        );
        // `timeout` is built inside the runtime: its timer needs one.
        let posted = runtime.block_on(async {
            tokio::time::timeout(
                connection.request_timeout,
                session.chat_post_message(&request),
            )
            .await
        });
        let problem = match posted {
            Ok(Ok(_)) => None,
            Ok(Err(err)) if accepted_anyway(&err) => None,
            Ok(Err(err)) => Some(describe(&err)),
            Err(_elapsed) => Some(format!(
                "no answer within {:.1} s",
                connection.request_timeout.as_secs_f64()
            )),
        };
        if let Some(problem) = problem {
            warner.warn(&format!(
                "failed to post the message about {} to `{}`: {problem}",
                message.about, connection.channel
            ));
        }
        pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A slack-morphism client for `api_url`. slack-morphism's own
/// `SlackClientHyperConnector::new()` is https-only; this one also speaks
/// plain http, so that tests can point `SLACK_API_URL` at 127.0.0.1.
fn client(api_url: &str) -> BoundedClient {
    SlackClient::new(
        SlackClientHyperConnector::with_connector(Bounded(https_or_http()))
            .with_slack_api_url(api_url),
    )
}

/// The client, its replies bounded (`bounded.rs`).
type BoundedClient = SlackClient<SlackClientHyperConnector<Bounded<HttpsConnector<HttpConnector>>>>;

/// rustls with the system's root certificates, or Mozilla's bundled ones
/// when the system has none (a bare container).
fn https_or_http() -> HttpsConnector<HttpConnector> {
    let builder = HttpsConnectorBuilder::new()
        .with_native_roots()
        .unwrap_or_else(|_| HttpsConnectorBuilder::new().with_webpki_roots());
    builder.https_or_http().enable_http1().build()
}

/// Whether a failed call was in fact a post that Slack accepted: slack-morphism
/// insists on fields of the reply (`message`) that we do not need, so a reply
/// that says `"ok": true` but lacks them is still a success.
fn accepted_anyway(err: &SlackClientError) -> bool {
    let SlackClientError::ProtocolError(protocol) = err else {
        return false;
    };
    protocol
        .json_body
        .as_deref()
        .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .is_some_and(|reply| reply["ok"] == serde_json::Value::Bool(true))
}

/// One short line for a slack-morphism error (its `Display` can carry the
/// whole response body, or a `Debug` dump of the cause).
fn describe(err: &SlackClientError) -> String {
    match err {
        SlackClientError::ApiError(api) => format!("Slack answered `ok: false` ({})", api.code),
        SlackClientError::HttpError(http) => format!("HTTP status {}", http.status_code),
        SlackClientError::RateLimitError(_) => {
            "Slack's rate limit was reached (too many messages at once)".to_owned()
        }
        SlackClientError::ProtocolError(protocol) => {
            format!("unexpected answer ({})", protocol.json_error)
        }
        SlackClientError::HttpProtocolError(http) => match &http.cause {
            Some(cause) => chain(cause.as_ref()),
            None => "HTTP protocol error".to_owned(),
        },
        SlackClientError::SystemError(system) => {
            let mut parts: Vec<String> = system.message.iter().cloned().collect();
            if let Some(cause) = &system.cause {
                parts.push(chain(cause.as_ref()));
            }
            if parts.is_empty() {
                "system error".to_owned()
            } else {
                parts.join(": ")
            }
        }
        other => other.to_string(),
    }
}

/// An error and its sources: `client error (Connect): tcp connect error: ...`.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}
