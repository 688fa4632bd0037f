//! `cool-runner status`: what runs now and what ran, from the results store.
//! It only reads, so it is safe next to working runners (WAL readers never
//! block them).

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use indexmap::IndexMap;
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::commands::run::host_name;
use crate::error::{exit, Error};
use crate::model::{keys, Global};
use crate::store::{Store, DEFAULT_PATH};
use crate::yaml::stream::{parse_piece, split};

/// The store `--store`, else `Global.store` of `--exp`, else the default
/// names: the one `status` and `log` read.
pub(crate) fn store_path(store: Option<&PathBuf>, exp: Option<&PathBuf>) -> Result<PathBuf, Error> {
    Ok(match (store, exp) {
        (Some(path), _) => path.clone(),
        (None, Some(exp)) => global_of(exp)?.store_path(),
        (None, None) => PathBuf::from(DEFAULT_PATH),
    })
}

/// `Global` of an experiment file.
pub(crate) fn global_of(exp: &Path) -> Result<Global, Error> {
    let file = crate::config::load_file(exp)?;
    let global = match file.defaults.get(keys::GLOBAL) {
        Some(yaml_serde::Value::Mapping(global)) => global.clone(),
        _ => yaml_serde::Mapping::new(),
    };
    Ok(Global::from_mapping(&global, Some(&file.source))?)
}

/// Open the existing store at `path`; none is bad input.
pub(crate) fn open_store(path: &Path) -> Result<Store, Error> {
    Store::open_existing(path)
        .map_err(|e| Error::Other(e.into()))?
        .ok_or_else(|| {
            Error::Usage(format!(
                "no results store at `{}`; hint: run experiments first, or give `--store PATH`",
                path.display()
            ))
        })
}

/// Run `status`; prints to stdout.
pub(crate) fn status(args: &StatusArgs) -> Result<i32, Error> {
    let path = store_path(args.store.as_ref(), args.exp.as_ref())?;
    let store = open_store(&path)?;
    let queue = match &args.exp {
        Some(exp) => Some(QueueView::read(global_of(exp)?.queue.as_deref())),
        None => None,
    };
    let view =
        View::read(&store, args.last, &Local::now(), queue).map_err(|e| Error::Other(e.into()))?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&view).map_err(|e| Error::Other(e.into()))?;
        json.push('\n');
        json
    } else {
        view.render()
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(Error::Output)?;
    Ok(exit::OK)
}

/// What `status` shows (`--json` writes it as it is).
#[derive(Debug, Serialize)]
struct View {
    store: String,
    running: Vec<Running>,
    /// Runs in the store by status, most frequent first.
    counts: IndexMap<String, i64>,
    total: i64,
    /// With `--exp`: the queue file's pending experiments.
    queue: Option<QueueView>,
    /// Newest first.
    last_finished: Vec<Ended>,
}

#[derive(Debug, Serialize)]
struct Running {
    id: i64,
    name: String,
    slot: Option<i64>,
    host: String,
    pid: Option<String>,
    started_at: String,
    elapsed: Option<f64>,
    /// Its runner (on this host) is gone.
    stale: bool,
    /// A Slurm job: its id and what `squeue` says of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    slurm: Option<SlurmJob>,
}

/// A run's Slurm job, as `squeue` sees it now.
#[derive(Debug, Serialize)]
struct SlurmJob {
    job_id: Option<String>,
    /// `PENDING`, `RUNNING`, ...; `None` when `squeue` did not answer.
    state: Option<String>,
    node: Option<String>,
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct Ended {
    id: i64,
    name: String,
    status: String,
    exit_code: Option<i64>,
    started_at: String,
    finished_at: Option<String>,
    elapsed: Option<f64>,
}

/// The pending experiments of the queue file (`Global.queue`).
#[derive(Debug, Serialize)]
pub(crate) struct QueueView {
    /// `None`: the queue is kept in the runner's memory (`Global.queue: null`).
    pub(crate) path: Option<String>,
    /// Documents waiting in the file (one may expand to several experiments).
    pub(crate) pending: usize,
    /// The `Name`s of the first few, in the order they will run.
    pub(crate) next: Vec<String>,
    /// Why the file could not be read.
    pub(crate) error: Option<String>,
    /// Pipelines: how many pending experiments wait for earlier ones.
    pub(crate) waiting: usize,
    /// The first few of them: `Name` and the `Name`s they wait for.
    pub(crate) waits: Vec<(String, Vec<String>)>,
}

/// How many of the pending names `status` shows.
const NEXT: usize = 5;

impl QueueView {
    /// Count the documents of the queue file without parsing them all.
    fn read(path: Option<&Path>) -> Self {
        Self::read_first(path, NEXT)
    }

    /// The same, with the names of the first `first` (the web page).
    pub(crate) fn read_first(path: Option<&Path>, first: usize) -> Self {
        let mut view = Self {
            path: path.map(|p| p.display().to_string()),
            pending: 0,
            next: Vec::new(),
            error: None,
            waiting: 0,
            waits: Vec::new(),
        };
        let Some(path) = path else {
            return view;
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return view,
            Err(err) => {
                view.error = Some(err.to_string());
                return view;
            }
        };
        for piece in split(&text) {
            let has_content = piece.text.lines().any(|l| {
                let l = l.trim();
                !(l.is_empty() || l.starts_with('#') || l.starts_with("---") || l == "...")
            });
            if !has_content {
                continue;
            }
            view.pending += 1;
            if piece.text.contains("\nWAITS_FOR:") {
                view.waiting += 1;
                if view.waits.len() < first {
                    if let Ok(Some(yaml_serde::Value::Mapping(doc))) = parse_piece(&piece) {
                        view.waits.push(waits_of(&doc));
                    }
                }
            }
            if view.next.len() < first {
                let name = match parse_piece(&piece) {
                    Ok(Some(yaml_serde::Value::Mapping(doc))) => doc
                        .get(keys::NAME)
                        .and_then(yaml_serde::Value::as_str)
                        .map_or_else(|| "(no Name)".to_owned(), str::to_owned),
                    _ => "(not yet valid YAML)".to_owned(),
                };
                view.next.push(name);
            }
        }
        view
    }
}

/// A waiting experiment's `Name` and the `Name`s (or `E[i]`) it waits for.
fn waits_of(doc: &yaml_serde::Mapping) -> (String, Vec<String>) {
    let name = doc
        .get(keys::NAME)
        .and_then(yaml_serde::Value::as_str)
        .unwrap_or("(no Name)")
        .to_owned();
    let parents = match doc.get(keys::WAITS_FOR) {
        Some(yaml_serde::Value::Mapping(waits)) => waits
            .iter()
            .map(|(at, parent)| match parent.as_str() {
                Some(parent) => parent.to_owned(),
                None => format!("E[{}]", at.as_u64().unwrap_or_default()),
            })
            .collect(),
        _ => Vec::new(),
    };
    (name, parents)
}

impl View {
    fn read(
        store: &Store,
        last: usize,
        now: &DateTime<Local>,
        queue: Option<QueueView>,
    ) -> Result<Self, crate::store::StoreError> {
        let here = host_name();
        let rows = store.running()?;
        let mut slurm = slurm_jobs(&rows);
        let running = rows
            .into_iter()
            .map(|row| Running {
                elapsed: DateTime::parse_from_rfc3339(&row.started_at)
                    .ok()
                    .map(|t| (*now - t.with_timezone(&Local)).as_seconds_f64()),
                slurm: slurm.remove(&row.id),
                stale: row.host == here
                    && !alive(row.runner_pid)
                    && !row.pid.as_deref().is_some_and(|p| p.starts_with("slurm:")),
                id: row.id,
                name: row.name,
                slot: row.slot,
                host: row.host,
                pid: row.pid,
                started_at: row.started_at,
            })
            .collect();
        let counts: IndexMap<String, i64> = store.counts()?.into_iter().collect();
        let last_finished = store
            .last_finished(last)?
            .into_iter()
            .map(|row| Ended {
                id: row.id,
                name: row.name,
                status: row.status,
                exit_code: row.exit_code,
                started_at: row.started_at,
                finished_at: row.finished_at,
                elapsed: row.elapsed,
            })
            .collect();
        Ok(Self {
            store: store.path().display().to_string(),
            running,
            total: counts.values().sum(),
            counts,
            queue,
            last_finished,
        })
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "store: {}", self.store);
        if self.running.is_empty() {
            let _ = writeln!(out, "running: nothing");
        } else {
            let _ = writeln!(out, "running ({}):", self.running.len());
            let width = self.running.iter().map(|r| r.name.len()).max().unwrap_or(0);
            for row in &self.running {
                let _ = writeln!(
                    out,
                    "  {:<width$}  slot {}  host {}  pid {}  {}{}",
                    row.name,
                    row.slot.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    row.host,
                    row.slurm.as_ref().map_or_else(
                        || row.pid.as_deref().unwrap_or("-").to_owned(),
                        SlurmJob::render
                    ),
                    row.elapsed.map_or_else(|| "?".to_owned(), seconds),
                    if row.stale {
                        "  (stale: its runner is gone)"
                    } else {
                        ""
                    },
                );
            }
        }
        if let Some(queue) = &self.queue {
            queue.render(&mut out);
        }
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let _ = writeln!(
            out,
            "runs: {}{}",
            self.total,
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        );
        if !self.last_finished.is_empty() {
            let _ = writeln!(out, "last finished:");
            for row in &self.last_finished {
                let _ = writeln!(out, "  {}", finished_line(row));
            }
        }
        out
    }
}

impl QueueView {
    /// `pending (12 in .cool-runner/q.yaml): a, b, c, d, e, …`
    fn render(&self, out: &mut String) {
        let Some(path) = &self.path else {
            let _ = writeln!(
                out,
                "pending: kept in the runner's memory (`Global.queue: null`), not visible here"
            );
            return;
        };
        if let Some(error) = &self.error {
            let _ = writeln!(out, "pending: cannot read `{path}`: {error}");
            return;
        }
        let _ = write!(out, "pending: {} in {path}", self.pending);
        if !self.next.is_empty() {
            let more = if self.pending > self.next.len() {
                ", …"
            } else {
                ""
            };
            let _ = write!(out, ", next: {}{more}", self.next.join(", "));
        }
        out.push('\n');
        if self.waiting > 0 {
            let shown: Vec<String> = self
                .waits
                .iter()
                .map(|(name, parents)| format!("{name} (for {})", parents.join(", ")))
                .collect();
            let more = if self.waiting > shown.len() {
                ", …"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "waiting for earlier experiments: {}: {}{more}",
                self.waiting,
                shown.join(", ")
            );
        }
    }
}

/// The Slurm jobs of the running rows (their run directories name them),
/// with one `squeue` call for all.
fn slurm_jobs(rows: &[crate::store::RunRow]) -> std::collections::HashMap<i64, SlurmJob> {
    use crate::executor::slurm::files::ID_FILE;
    let ids: Vec<(i64, Option<String>)> = rows
        .iter()
        .filter(|r| r.pid.as_deref().is_some_and(|p| p.starts_with("slurm:")))
        .map(|r| {
            let id = r.run_dir.as_ref().and_then(|d| {
                std::fs::read_to_string(Path::new(d).join(ID_FILE))
                    .ok()
                    .map(|s| s.trim().to_owned())
            });
            (r.id, id)
        })
        .collect();
    let known: Vec<String> = ids.iter().filter_map(|(_, id)| id.clone()).collect();
    let live = if known.is_empty() {
        None
    } else {
        crate::executor::slurm::live_states(&known)
    };
    ids.into_iter()
        .map(|(row, job_id)| {
            let listed = job_id
                .as_ref()
                .and_then(|id| live.as_ref().and_then(|l| l.get(id)));
            let job = SlurmJob {
                state: listed.map(|l| l.state.clone()),
                node: listed.map(|l| l.node.clone()).filter(|n| !n.is_empty()),
                reason: listed.map(|l| l.reason.clone()).filter(|r| r != "None"),
                job_id,
            };
            (row, job)
        })
        .collect()
}

impl SlurmJob {
    /// `slurm 12_3 RUNNING on n1` (the pid column of `status`).
    fn render(&self) -> String {
        let mut text = format!(
            "slurm {} {}",
            self.job_id.as_deref().unwrap_or("(not submitted)"),
            self.state.as_deref().unwrap_or("(squeue did not answer)")
        );
        if let Some(node) = &self.node {
            let _ = write!(text, " on {node}");
        }
        if let Some(reason) = &self.reason {
            let _ = write!(text, " ({reason})");
        }
        text
    }
}

fn finished_line(row: &Ended) -> String {
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

pub(crate) fn seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        let s = s.round() as u64;
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

/// Whether process `pid` exists on this machine.
pub(crate) fn alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(errno) => errno == nix::errno::Errno::EPERM,
    }
}
