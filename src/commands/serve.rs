//! `cool-runner serve`: the web page of a results store, until Ctrl-C.

use crate::cli::ServeArgs;
use crate::error::Error;

/// Run `serve`: serves until the process is stopped.
#[cfg(feature = "web")]
pub(crate) fn serve(args: &ServeArgs) -> Result<i32, Error> {
    use crate::commands::status::{global_of, store_path};
    let store = store_path(args.store.as_ref(), args.exp.as_ref())?;
    let queue = match &args.exp {
        Some(exp) => global_of(exp)?.queue,
        None => None,
    };
    let config = crate::serve::ServeConfig {
        store,
        queue,
        queue_known: args.exp.is_some(),
        host: args.host,
        port: args.port,
        read_at_start: true,
    };
    crate::serve::start(config)?;
    loop {
        std::thread::park();
    }
}

/// `run --serve PORT`: the same server on background threads, for the
/// run's store and queue file, while the run goes on.
#[cfg(feature = "web")]
pub(crate) fn serve_run(
    global: &crate::model::Global,
    no_store: bool,
    port: u16,
) -> Result<(), Error> {
    if no_store {
        return Err(Error::Usage(
            "`--serve` shows the results store, which `--no-store` turns off; drop one of them"
                .to_owned(),
        ));
    }
    let config = crate::serve::ServeConfig {
        store: global.store_path(),
        queue: global.queue.clone(),
        queue_known: true,
        host: std::net::IpAddr::from([127, 0, 0, 1]),
        port,
        read_at_start: false,
    };
    crate::serve::start(config).map(drop)
}

/// After `run --serve` in a terminal: keep the page up until Enter, to
/// look at the results (Ctrl-C belongs to the run's handlers until then).
pub(crate) fn linger() {
    use std::io::IsTerminal as _;
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return;
    }
    eprintln!("the run is over; the web page stays up until you press Enter");
    let _ = std::io::stdin().read_line(&mut String::new());
}

#[cfg(not(feature = "web"))]
pub(crate) fn serve_run(
    _global: &crate::model::Global,
    _no_store: bool,
    _port: u16,
) -> Result<(), Error> {
    serve(&ServeArgs {
        store: None,
        exp: None,
        port: 0,
        host: std::net::IpAddr::from([127, 0, 0, 1]),
    })
    .map(drop)
}

#[cfg(not(feature = "web"))]
pub(crate) fn serve(_args: &ServeArgs) -> Result<i32, Error> {
    Err(Error::Usage(
        "this cool-runner was built without the `web` feature; rebuild with \
         `cargo build --release --features web` (it is on by default)"
            .to_owned(),
    ))
}
