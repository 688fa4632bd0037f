//! `cool-runner status`: what runs now and what ran, from the results store.
//! It only reads, so it is safe next to working runners (WAL readers never
//! block them).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Local};

use crate::cli::StatusArgs;
use crate::commands::run::host_name;
use crate::error::{exit, Error};
use crate::model::{keys, Global};
use crate::store::{RunRow, Store, DEFAULT_PATH};

/// Run `status`; prints to stdout.
pub(crate) fn status(args: &StatusArgs) -> Result<i32, Error> {
    let path = match (&args.store, &args.exp) {
        (Some(path), _) => path.clone(),
        (None, Some(exp)) => {
            let file = crate::config::load_file(exp)?;
            let global = match file.defaults.get(keys::GLOBAL) {
                Some(yaml_serde::Value::Mapping(global)) => global.clone(),
                _ => yaml_serde::Mapping::new(),
            };
            Global::from_mapping(&global, Some(&file.source))?.store_path()
        }
        (None, None) => PathBuf::from(DEFAULT_PATH),
    };
    let store = Store::open_existing(&path)
        .map_err(|e| Error::Other(e.into()))?
        .ok_or_else(|| {
            Error::Usage(format!(
                "no results store at `{}`; hint: run experiments first, or give `--store PATH`",
                path.display()
            ))
        })?;
    let text = render(&store, args.last, &Local::now()).map_err(|e| Error::Other(e.into()))?;
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(Error::Output)?;
    Ok(exit::OK)
}

fn render(
    store: &Store,
    last: usize,
    now: &DateTime<Local>,
) -> Result<String, crate::store::StoreError> {
    let mut out = String::new();
    let _ = writeln!(out, "store: {}", store.path().display());
    let running = store.running()?;
    let here = host_name();
    if running.is_empty() {
        let _ = writeln!(out, "running: nothing");
    } else {
        let _ = writeln!(out, "running ({}):", running.len());
        let width = running.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for row in &running {
            let elapsed = DateTime::parse_from_rfc3339(&row.started_at).map_or_else(
                |_| "?".to_owned(),
                |t| seconds((*now - t.with_timezone(&Local)).as_seconds_f64()),
            );
            let stale = if row.host == here && !alive(row.runner_pid) {
                "  (stale: its runner is gone)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {:<width$}  slot {}  host {}  pid {}  {elapsed}{stale}",
                row.name,
                row.slot.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                row.host,
                row.pid.as_deref().unwrap_or("-"),
            );
        }
    }
    let counts = store.counts()?;
    let total: i64 = counts.iter().map(|c| c.1).sum();
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let _ = writeln!(
        out,
        "runs: {total}{}",
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    );
    let finished = store.last_finished(last)?;
    if !finished.is_empty() {
        let _ = writeln!(out, "last finished:");
        for row in &finished {
            let _ = writeln!(out, "  {}", finished_line(row));
        }
    }
    Ok(out)
}

fn finished_line(row: &RunRow) -> String {
    let mut line = format!(
        "{}  {:<11}  {}  {}",
        row.finished_at.as_deref().unwrap_or("-"),
        row.status,
        row.name,
        row.elapsed.map_or_else(|| "-".to_owned(), seconds)
    );
    if row.status != "done" {
        if let Some(code) = row.exit_code {
            let _ = write!(line, "  exit code {code}");
        }
    }
    line
}

fn seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        let s = s.round() as u64;
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

/// Whether process `pid` exists on this machine.
fn alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(errno) => errno == nix::errno::Errno::EPERM,
    }
}
