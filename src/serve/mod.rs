//! The web page: `cool-runner serve` and `run --serve`.
//!
//! A small synchronous HTTP server (`tiny_http`): a few worker threads
//! answer requests from the runs held in memory ([`data::Runs`]); one
//! poller thread follows the store read-only (`store::StoreReader`) and the
//! queue file, and pushes an event to every open page (server-sent events,
//! [`events`]) when something changed. Pages are rendered on the server
//! ([`html`]) and work without JavaScript; the small script compiled into
//! the binary ([`assets`]) only replaces parts of the page on events and
//! form changes. The JSON API ([`api`]) answers the same queries.

mod api;
mod assets;
mod compact;
mod events;
mod html;
mod parallel;
mod plot;
mod poll;
mod query;
mod route;
mod security;
mod tally;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use crate::error::Error;
use crate::expr::Sandbox;
use crate::store::StoreReader;

pub(crate) mod data;

/// What to serve and where.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    pub(crate) store: PathBuf,
    /// The queue file (`Global.queue`); `None` when it is not known (no
    /// `--exp`) or kept in the runner's memory.
    pub(crate) queue: Option<PathBuf>,
    /// Whether the queue is known at all (`--exp` or `run --serve`).
    pub(crate) queue_known: bool,
    pub(crate) host: IpAddr,
    pub(crate) port: u16,
    /// Read the store as soon as the server listens (`serve`), rather than
    /// when the first page connects (`run --serve`: a runner nobody looks
    /// at keeps no runs in memory; every experiment's `fork` would copy
    /// them).
    pub(crate) read_at_start: bool,
}

/// An answer kept: the runs' generation, the query (and whether the plot
/// is in it), the answer.
pub(crate) type Answered = (u64, (query::Params, bool), Arc<query::Answer>);

/// State shared by the worker threads and the poller.
pub(crate) struct Shared {
    pub(crate) config: ServeConfig,
    pub(crate) runs: RwLock<data::Runs>,
    /// The store changed and was not read yet (no page was open).
    pub(crate) dirty: std::sync::atomic::AtomicBool,
    /// Bumped whenever the runs change.
    pub(crate) seq: std::sync::atomic::AtomicU64,
    /// Why the store cannot be read now, if it cannot.
    pub(crate) store_error: Mutex<Option<String>>,
    pub(crate) reader: Mutex<Option<StoreReader>>,
    pub(crate) sandbox: Sandbox,
    pub(crate) events: events::Events,
    pub(crate) security: security::Security,
    /// The last answers, by the runs' generation, their query and whether
    /// they include the plot.
    pub(crate) answers: Mutex<Vec<Answered>>,
    /// Selections kept up to date as runs finish ([`query::Selection`]).
    pub(crate) selections: Mutex<Vec<query::Selection>>,
    /// Set once the poller has read the store a first time: answers wait
    /// for it, so that the first page shows the runs already stored.
    pub(crate) caught_up: (Mutex<bool>, std::sync::Condvar),
}

impl Shared {
    /// The poller read the store (or found none) for the first time.
    pub(crate) fn set_caught_up(&self) {
        let (done, changed) = &self.caught_up;
        *done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        changed.notify_all();
    }

    /// Wait until [`Shared::set_caught_up`] (at most `CATCH_UP`).
    pub(crate) fn wait_caught_up(&self) {
        let (done, changed) = &self.caught_up;
        let guard = done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = changed.wait_timeout_while(guard, CATCH_UP, |done| !*done);
    }
}

/// The longest a request waits for the first read of the store.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(30);

/// A server that is listening (its threads serve until the process ends).
pub(crate) struct Server;

/// How many requests are answered at once (server-sent event streams are
/// held by the event thread, not by a worker).
const WORKERS: usize = 4;

/// Bind, print the URL on stderr and serve on background threads.
///
/// Only the poller's thread starts here; it starts the HTTP server's
/// threads (`tiny_http`'s and the workers) when the first connection
/// arrives ([`poll::follow`]). With `run --serve` and no page open the
/// runner process so keeps one thread more, not ten: every experiment's
/// `fork` copies the runner's memory mappings, and each thread brings
/// its own (stack, signal stack, `malloc` arena).
pub(crate) fn start(config: ServeConfig) -> Result<Server, Error> {
    let bind = SocketAddr::new(config.host, config.port);
    let listener = std::net::TcpListener::bind(bind).map_err(|e| {
        Error::Usage(format!(
            "cannot listen on {bind}: {e}; hint: `--port 0` picks a free port"
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Usage(format!("cannot listen on {bind}: {e}")))?;
    let security = security::Security::new(addr);
    let url = security.url();
    let shared = Arc::new(Shared {
        config,
        runs: RwLock::new(data::Runs::fresh()),
        dirty: std::sync::atomic::AtomicBool::new(false),
        seq: std::sync::atomic::AtomicU64::new(0),
        store_error: Mutex::new(None),
        reader: Mutex::new(None),
        sandbox: Sandbox::new(),
        events: events::Events::default(),
        security,
        answers: Mutex::new(Vec::new()),
        selections: Mutex::new(Vec::new()),
        caught_up: (Mutex::new(false), std::sync::Condvar::new()),
    });
    let poller = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("web-poll".to_owned())
        .spawn(move || poll::follow(&poller, listener))
        .map_err(|e| Error::Other(e.into()))?;
    eprintln!("serving {url}");
    if let Some(note) = shared.security.note() {
        eprintln!("{note}");
    }
    Ok(Server)
}

/// Start the HTTP server on `listener` and its workers (from the poller,
/// once a connection is waiting or at once with `read_at_start`).
pub(crate) fn start_workers(
    shared: &Arc<Shared>,
    listener: std::net::TcpListener,
) -> Result<(), String> {
    let http =
        Arc::new(tiny_http::Server::from_listener(listener, None).map_err(|e| e.to_string())?);
    for i in 0..WORKERS {
        let (http, shared) = (Arc::clone(&http), Arc::clone(shared));
        std::thread::Builder::new()
            .name(format!("web-{i}"))
            .stack_size(crate::expr::EVAL_STACK_SIZE)
            .spawn(move || {
                while let Ok(request) = http.recv() {
                    route::handle(&shared, request);
                }
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
