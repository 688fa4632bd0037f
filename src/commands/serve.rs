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
    };
    crate::serve::start(config)?;
    loop {
        std::thread::park();
    }
}

#[cfg(not(feature = "web"))]
pub(crate) fn serve(_args: &ServeArgs) -> Result<i32, Error> {
    Err(Error::Usage(
        "this cool-runner was built without the `web` feature; rebuild with \
         `cargo build --release --features web` (it is on by default)"
            .to_owned(),
    ))
}
