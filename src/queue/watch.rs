//! Watching the queue file for edits.
//!
//! Editors save by writing a temporary file and renaming it over the
//! original, which replaces the inode: a watch on the file itself dies at
//! the first such save. So the *parent directory* is watched and events are
//! filtered by file name (both paths of a rename count). Callers get a bare
//! "queue changed" callback and never see `notify` types; if the native
//! watcher cannot be set up (inotify limits), a polling one takes over.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Config, Event, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};

/// How often the fallback watcher looks at the directory.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Keeps the watch alive; dropping it stops watching.
pub(crate) struct QueueWatcher {
    _watch: Box<dyn Watcher + Send>,
}

#[derive(Debug, thiserror::Error)]
#[error("failed to watch `{path}` for edits: {message}", path = path.display())]
pub(crate) struct WatchError {
    pub path: PathBuf,
    pub message: String,
}

impl QueueWatcher {
    /// Call `on_change` (from a background thread) whenever `file` may have
    /// changed: written, replaced, created or deleted.
    pub(crate) fn new(
        file: &Path,
        on_change: impl Fn() + Send + Sync + 'static,
    ) -> Result<Self, WatchError> {
        let error = |message: String| WatchError {
            path: file.to_owned(),
            message,
        };
        let absolute = std::path::absolute(file).map_err(|e| error(e.to_string()))?;
        let dir = absolute
            .parent()
            .map(Path::to_owned)
            .ok_or_else(|| error("it has no parent directory".to_owned()))?;
        let name: OsString = absolute
            .file_name()
            .ok_or_else(|| error("it has no file name".to_owned()))?
            .to_owned();
        let on_change = std::sync::Arc::new(on_change);
        let handler = {
            let on_change = on_change.clone();
            let name = name.clone();
            move |event: notify::Result<Event>| {
                let Ok(event) = event else { return };
                // A writer closing the file counts: the runner waits for a
                // file open for writing to be closed (`file.rs`).
                let closed = matches!(
                    event.kind,
                    EventKind::Access(AccessKind::Close(AccessMode::Write))
                );
                if event.kind.is_access() && !closed {
                    return;
                }
                if event
                    .paths
                    .iter()
                    .any(|p| p.file_name() == Some(name.as_os_str()))
                {
                    on_change();
                }
            }
        };
        match RecommendedWatcher::new(handler, Config::default()) {
            Ok(mut watcher) => match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    return Ok(Self {
                        _watch: Box::new(watcher),
                    })
                }
                Err(e) => eprintln!("warning: {}; polling instead", error(e.to_string())),
            },
            Err(e) => eprintln!("warning: {}; polling instead", error(e.to_string())),
        }
        let handler = move |event: notify::Result<Event>| {
            let Ok(event) = event else { return };
            if event
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name.as_os_str()))
            {
                on_change();
            }
        };
        let mut watcher = PollWatcher::new(
            handler,
            Config::default()
                .with_poll_interval(POLL_INTERVAL)
                .with_compare_contents(true),
        )
        .map_err(|e| error(e.to_string()))?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| error(e.to_string()))?;
        Ok(Self {
            _watch: Box::new(watcher),
        })
    }
}
