//! The poller: follows the store (read-only) and the queue file, and tells
//! the open pages what changed.

use std::net::TcpListener;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::data::Run;
use super::events::format_event;
use super::Shared;
use crate::store::StoreReader;

/// How often the store is looked at (one `PRAGMA data_version`).
const POLL: Duration = Duration::from_millis(50);
/// While runs keep arriving, the open pages are told at most this often
/// (the first change after a quiet spell is read at once): each `runs`
/// event makes every page fetch four parts, work the runner's process
/// pays for with `run --serve`.
const GAP: Duration = Duration::from_millis(200);
/// How often running experiments' output is pushed while some run.
const TICK: Duration = Duration::from_secs(1);
/// Rows read per query while catching up.
const BATCH: usize = 5_000;

/// Start the HTTP server (at once, or with `run --serve` when the first
/// connection is waiting), then follow the store until the process ends.
pub(crate) fn follow(shared: &Arc<Shared>, listener: TcpListener) {
    if !shared.config.read_at_start {
        // Nobody can be told anything before a page connects: sleep in
        // `poll` until then (no wake-ups, no store read, no threads).
        wait_for_connection(&listener);
    }
    if let Err(e) = super::start_workers(shared, listener) {
        eprintln!("cool-runner: the web page stops: {e}");
        return;
    }
    let mut last_tick = Instant::now();
    let mut queue_stamp = None;
    let mut warmed = false;
    let mut told: Option<Instant> = None;
    loop {
        if shared.events.count() == 0 && is_caught_up(shared) {
            // No page is open: only note that the store changed; the next
            // request reads it ([`catch_up`]). A runner with `run --serve`
            // and nobody looking pays one `PRAGMA data_version` a poll.
            note_change(shared);
        } else if told.is_none_or(|at| at.elapsed() >= GAP) && catch_up(shared) {
            told = Some(Instant::now());
        }
        shared.set_caught_up();
        if !warmed {
            // The first page's answer (its selection and plot), ready
            // before the first person asks.
            warmed = true;
            let runs = shared
                .runs
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = super::route::answer(shared, &runs, &super::query::Params::parse(""), true);
        }
        if shared.config.queue_known {
            let stamp = shared.config.queue.as_deref().map(queue_stamp_of);
            if stamp != queue_stamp {
                queue_stamp = stamp;
                let seq = shared.seq.load(Ordering::SeqCst);
                shared.events.send(&format_event("queue", seq, "{}"));
            }
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            let running = !shared
                .runs
                .read()
                .map_or(true, |r| r.running_ids().is_empty());
            if running {
                let seq = shared.seq.load(Ordering::SeqCst);
                shared.events.send(&format_event("running", seq, "{}"));
            } else {
                shared.events.send(": keep-alive\n\n");
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Block until a connection is waiting on `listener` (it stays there for
/// the HTTP server to accept).
fn wait_for_connection(listener: &TcpListener) {
    loop {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => {}
            // Readable, or an error the server's accept will meet too.
            _ => return,
        }
    }
}

fn is_caught_up(shared: &Shared) -> bool {
    *shared
        .caught_up
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Remember whether the store changed, without reading it.
fn note_change(shared: &Shared) {
    let mut reader = shared
        .reader
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let changed = match reader.as_mut() {
        Some(reader) => reader.is_gone() || reader.changed().unwrap_or(true),
        // No store yet: look for it now and then.
        None => true,
    };
    if changed {
        shared.dirty.store(true, Ordering::SeqCst);
    }
}

/// Read what changed in the store and tell the open pages; whether
/// anything did.
pub(crate) fn catch_up(shared: &Shared) -> bool {
    let changed = match refresh(shared) {
        Ok(changed) => {
            set_error(shared, None);
            changed
        }
        Err(message) => {
            set_error(shared, Some(message));
            false
        }
    };
    if changed {
        let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
        shared
            .events
            .send(&format_event("runs", seq, &summary_json(shared)));
    }
    changed
}

fn queue_stamp_of(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn set_error(shared: &Shared, message: Option<String>) {
    let mut error = shared
        .store_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *error = message;
}

/// `{"seq": N, "total": N, "running": N}`
pub(crate) fn summary_json(shared: &Shared) -> String {
    let runs = shared
        .runs
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    serde_json::json!({
        "seq": shared.seq.load(Ordering::SeqCst),
        "total": runs.all().len(),
        "running": runs.running_ids().len(),
    })
    .to_string()
}

/// Read what changed in the store; whether anything did.
fn refresh(shared: &Shared) -> Result<bool, String> {
    let mut reader = shared
        .reader
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut changed = false;
    if reader.as_ref().is_some_and(StoreReader::is_gone) {
        *reader = None;
        *shared
            .runs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = super::data::Runs::fresh();
        changed = true;
    }
    if reader.is_none() {
        match StoreReader::open(&shared.config.store) {
            Ok(Some(opened)) => *reader = Some(opened),
            Ok(None) => return Ok(changed),
            Err(e) => return Err(e.to_string()),
        }
    }
    let Some(reader) = reader.as_mut() else {
        return Ok(changed);
    };
    let noted = shared.dirty.swap(false, Ordering::SeqCst);
    if !reader.changed().map_err(|e| e.to_string())? && !noted {
        return Ok(changed);
    }
    let (running, mut after) = {
        let runs = shared
            .runs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (runs.running_ids().to_vec(), runs.max_id())
    };
    let updated = reader.rows_with_ids(&running).map_err(|e| e.to_string())?;
    let mut rows: Vec<Run> = updated.into_iter().map(Run::from_stored).collect();
    loop {
        let new = reader.rows_after(after, BATCH).map_err(|e| e.to_string())?;
        let full = new.len() == BATCH;
        after = new.last().map_or(after, |r| r.id);
        rows.extend(new.into_iter().map(Run::from_stored));
        if !rows.is_empty() {
            changed = true;
            let batch = std::mem::take(&mut rows);
            shared
                .runs
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .apply(batch);
        }
        if !full {
            break;
        }
        // Let the pages see the runs read so far.
        let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
        shared
            .events
            .send(&format_event("runs", seq, &summary_json(shared)));
    }
    Ok(changed)
}
