//! `Store`: the SQLite results store (`.cool-runner/store.sqlite`).
//!
//! One table, `runs`, one row per started module: inserted as `running`
//! when it starts, updated when it ends. WAL mode and a busy timeout let
//! several runner processes (and `status` readers) share one file: readers
//! never block the writer, and writers wait for each other instead of
//! failing. Each write is its own short transaction with
//! `synchronous=NORMAL` (durable at the next checkpoint, never corrupt).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use yaml_serde::Mapping;

/// Where the store lives unless `Global.store` says otherwise.
pub(crate) const DEFAULT_PATH: &str = ".cool-runner/store.sqlite";

/// A failure of the store, with its path.
#[derive(Debug, thiserror::Error)]
#[error("results store `{path}`: {message}")]
pub struct StoreError {
    pub path: PathBuf,
    pub message: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    identity    TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,          -- running, done, failed, interrupted, timeout
    exit_code   INTEGER,
    started_at  TEXT NOT NULL,          -- RFC 3339
    finished_at TEXT,
    elapsed     REAL,
    host        TEXT NOT NULL,
    pid         TEXT,                   -- the module's (executor's job id)
    runner_pid  INTEGER NOT NULL,
    slot        INTEGER,
    experiment  TEXT NOT NULL,          -- the expanded experiment, JSON
    results     TEXT,                   -- what the module wrote, JSON
    document    TEXT,                   -- the YamlLog document, JSON
    parts       TEXT NOT NULL,          -- what the identity was computed from, JSON
    run_dir     TEXT,
    log_path    TEXT
);
CREATE INDEX IF NOT EXISTS runs_identity ON runs(identity, status);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
PRAGMA user_version = 1;
";

/// The files of each distinct `Fingerprint`, stored once and referenced by
/// digest from the rows' `parts` (added to stores of schema version 1
/// without changing it: earlier versions ignore the table).
const FINGERPRINTS: &str = "
CREATE TABLE IF NOT EXISTS fingerprints (
    digest TEXT PRIMARY KEY,            -- blake3 of files
    files  TEXT NOT NULL                -- {path: content hash}, JSON
);
-- `status`: the last finished runs without reading every row.
CREATE INDEX IF NOT EXISTS runs_finished ON runs(finished_at);
";

/// A run being recorded.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub identity: &'a str,
    pub index: usize,
    pub name: &'a str,
    pub started_at: &'a str,
    pub host: &'a str,
    pub pid: &'a str,
    pub slot: usize,
    pub experiment: &'a str,
    pub parts: &'a str,
    pub run_dir: Option<&'a str>,
    pub log_path: Option<&'a str>,
}

/// How a recorded run ended.
#[derive(Debug, Clone)]
pub struct Ending<'a> {
    pub status: &'a str,
    pub exit_code: Option<i32>,
    pub finished_at: &'a str,
    pub elapsed: f64,
    pub results: &'a str,
    pub document: &'a str,
}

/// A row, for `status` and `explain`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunRow {
    pub id: i64,
    pub identity: String,
    pub name: String,
    pub status: String,
    pub exit_code: Option<i64>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub elapsed: Option<f64>,
    pub host: String,
    pub pid: Option<String>,
    pub runner_pid: i64,
    pub slot: Option<i64>,
    pub parts: String,
    pub run_dir: Option<String>,
}

/// Where a run's output is (for `log`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunPlace {
    pub id: i64,
    pub index: i64,
    pub name: String,
    pub status: String,
    pub dir: Option<String>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// (device, inode) of the file opened, to notice it being replaced.
    file: Option<(u64, u64)>,
}

impl Store {
    /// Open (creating it and its directory if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| err(path, &e))?;
        }
        let conn = Connection::open(path).map_err(|e| err(path, &e))?;
        let mut store = Self {
            conn,
            path: path.to_owned(),
            file: None,
        };
        store.setup()?;
        store.file = file_id(path);
        Ok(store)
    }

    /// Whether the file was deleted, replaced or emptied since it was
    /// opened (SQLite would go on writing to the deleted file, unseen).
    pub(crate) fn is_gone(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&self.path) {
            Ok(meta) => meta.len() == 0 || self.file != Some((meta.dev(), meta.ino())),
            Err(_) => true,
        }
    }

    /// Open the store at its path again, creating it if it is gone: the old
    /// connection is closed first, and a WAL left without its database
    /// (or with an emptied one) is removed, never replayed over a new one.
    pub(crate) fn reopen(&mut self) -> Result<(), StoreError> {
        let orphaned = std::fs::metadata(&self.path).map_or(true, |m| m.len() == 0);
        if orphaned {
            // Unlinked first: closing the old connection checkpoints its
            // WAL into the file it has open, which must not be this path.
            let _ = std::fs::remove_file(&self.path);
        }
        let placeholder = Connection::open_in_memory().map_err(|e| self.error(&e))?;
        drop(std::mem::replace(&mut self.conn, placeholder));
        if orphaned {
            for suffix in ["-wal", "-shm"] {
                let mut side = self.path.clone().into_os_string();
                side.push(suffix);
                let _ = std::fs::remove_file(side);
            }
        }
        *self = Self::open(&self.path)?;
        Ok(())
    }

    /// Open an existing store read-only-ish (for `status`, `explain`, `--dry`):
    /// `None` when there is no file.
    pub(crate) fn open_existing(path: &Path) -> Result<Option<Self>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        Self::open(path).map(Some)
    }

    fn setup(&self) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| self.error(&e))?;
        // WAL: readers and one writer at a time, across processes.
        let _: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| self.error(&e))?;
        self.conn
            .execute_batch("PRAGMA synchronous=NORMAL;")
            .map_err(|e| self.error(&e))?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.error(&e))?;
        if version == 0 {
            self.conn
                .execute_batch(&format!("BEGIN IMMEDIATE;{SCHEMA}{FINGERPRINTS}COMMIT;"))
                .map_err(|e| self.error(&e))?;
        } else if version == 1 {
            self.conn
                .execute_batch(FINGERPRINTS)
                .map_err(|e| self.error(&e))?;
        } else {
            return Err(StoreError {
                path: self.path.clone(),
                message: format!(
                    "written by a newer cool-runner (schema version {version}); \
                     hint: use `--no-store` or another `Global.store`"
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: &dyn std::fmt::Display) -> StoreError {
        err(&self.path, e)
    }

    /// The log document of the latest `done` run with this identity.
    pub(crate) fn cached(&self, identity: &str) -> Result<Option<Mapping>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT document FROM runs WHERE identity = ?1 AND status = 'done' \
                 AND document IS NOT NULL ORDER BY id DESC LIMIT 1",
            )
            .map_err(|e| self.error(&e))?;
        let document: Option<String> = stmt
            .query_row([identity], |r| r.get(0))
            .optional()
            .map_err(|e| self.error(&e))?;
        document
            .map(|d| serde_json::from_str::<Mapping>(&d).map_err(|e| self.error(&e)))
            .transpose()
    }

    /// Delete the `running` rows of the run directory `run_dir`: a Slurm
    /// job followed again (`attach`, a rerun) replaces the row its
    /// submitter left.
    pub(crate) fn forget_running(&self, run_dir: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM runs WHERE status = 'running' AND run_dir = ?1",
                params![run_dir],
            )
            .map(drop)
            .map_err(|e| self.error(&e))
    }

    /// Record a started run; returns its id.
    pub fn insert(&self, run: &NewRun<'_>) -> Result<i64, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO runs (identity, idx, name, status, started_at, host, pid, \
                 runner_pid, slot, experiment, parts, run_dir, log_path) \
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .map_err(|e| self.error(&e))?;
        stmt.execute(params![
            run.identity,
            run.index as i64,
            run.name,
            run.started_at,
            run.host,
            run.pid,
            i64::from(std::process::id()),
            run.slot as i64,
            run.experiment,
            run.parts,
            run.run_dir,
            run.log_path,
        ])
        .map_err(|e| self.error(&e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Keep the files of a `Fingerprint` (once per digest).
    pub(crate) fn save_fingerprint(&self, digest: &str, files: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO fingerprints (digest, files) VALUES (?1, ?2)")
            .and_then(|mut stmt| stmt.execute(params![digest, files]))
            .map_err(|e| self.error(&e))?;
        Ok(())
    }

    /// The files of a stored `Fingerprint`, JSON (for `explain`).
    pub(crate) fn fingerprint_files(&self, digest: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT files FROM fingerprints WHERE digest = ?1")
            .and_then(|mut stmt| stmt.query_row([digest], |r| r.get(0)).optional())
            .map_err(|e| self.error(&e))
    }

    /// Record how run `id` ended; false if there is no such row (the store
    /// was recreated since it started).
    pub fn finish(&self, id: i64, ending: &Ending<'_>) -> Result<bool, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE runs SET status = ?2, exit_code = ?3, finished_at = ?4, elapsed = ?5, \
                 results = ?6, document = ?7 WHERE id = ?1",
            )
            .map_err(|e| self.error(&e))?;
        let changed = stmt
            .execute(params![
                id,
                ending.status,
                ending.exit_code,
                ending.finished_at,
                ending.elapsed,
                ending.results,
                ending.document,
            ])
            .map_err(|e| self.error(&e))?;
        Ok(changed > 0)
    }

    fn rows(&self, sql: &str, param: &dyn rusqlite::ToSql) -> Result<Vec<RunRow>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.error(&e))?;
        let rows = stmt
            .query_map([param], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    identity: r.get(1)?,
                    name: r.get(2)?,
                    status: r.get(3)?,
                    exit_code: r.get(4)?,
                    started_at: r.get(5)?,
                    finished_at: r.get(6)?,
                    elapsed: r.get(7)?,
                    host: r.get(8)?,
                    pid: r.get(9)?,
                    runner_pid: r.get(10)?,
                    slot: r.get(11)?,
                    parts: r.get(12)?,
                    run_dir: r.get(13)?,
                })
            })
            .map_err(|e| self.error(&e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(&e))
    }

    const COLUMNS: &'static str = "id, identity, name, status, exit_code, started_at, \
        finished_at, elapsed, host, pid, runner_pid, slot, parts, run_dir";

    /// Runs marked `running`, oldest first.
    pub(crate) fn running(&self) -> Result<Vec<RunRow>, StoreError> {
        self.rows(
            &format!(
                "SELECT {} FROM runs WHERE status = ?1 ORDER BY id",
                Self::COLUMNS
            ),
            &"running",
        )
    }

    /// The `limit` most recently finished runs, newest first.
    pub(crate) fn last_finished(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        self.rows(
            &format!(
                "SELECT {} FROM runs WHERE finished_at IS NOT NULL \
                 ORDER BY finished_at DESC, id DESC LIMIT ?1",
                Self::COLUMNS
            ),
            &(limit as i64),
        )
    }

    /// The `limit` most recent runs, newest first (for `explain`).
    pub(crate) fn recent(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        self.rows(
            &format!(
                "SELECT {} FROM runs ORDER BY id DESC LIMIT ?1",
                Self::COLUMNS
            ),
            &(limit as i64),
        )
    }

    /// Runs whose name is `name`, or whose index is `name` read as a
    /// number, newest first, with their run directory (for `log`).
    pub(crate) fn run_dirs(&self, name: &str) -> Result<Vec<RunPlace>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, idx, name, status, run_dir FROM runs \
                 WHERE name = ?1 OR CAST(idx AS TEXT) = ?1 ORDER BY name = ?1 DESC, id DESC",
            )
            .map_err(|e| self.error(&e))?;
        let rows = stmt
            .query_map([name], |r| {
                Ok(RunPlace {
                    id: r.get(0)?,
                    index: r.get(1)?,
                    name: r.get(2)?,
                    status: r.get(3)?,
                    dir: r.get(4)?,
                })
            })
            .map_err(|e| self.error(&e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(&e))
    }

    /// The status of run `id` now.
    pub(crate) fn status_of(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT status FROM runs WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.error(&e))
    }

    /// (status, count), most frequent first.
    pub(crate) fn counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY 2 DESC, 1")
            .map_err(|e| self.error(&e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.error(&e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(&e))
    }

    /// Run several writes as one transaction (`examples/store_lookup.rs`
    /// fills a store with it).
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.error(&e))?;
        match f(self) {
            Ok(value) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(|e| self.error(&e))?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn err(path: &Path, e: &dyn std::fmt::Display) -> StoreError {
    StoreError {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<'a>(identity: &'a str, name: &'a str) -> NewRun<'a> {
        NewRun {
            identity,
            index: 0,
            name,
            started_at: "2026-01-01T00:00:00.000+00:00",
            host: "h",
            pid: "42",
            slot: 1,
            experiment: "{}",
            parts: "{}",
            run_dir: None,
            log_path: None,
        }
    }

    fn ending<'a>(status: &'a str, document: &'a str) -> Ending<'a> {
        Ending {
            status,
            exit_code: Some(0),
            finished_at: "2026-01-01T00:00:01.000+00:00",
            elapsed: 1.0,
            results: "{}",
            document,
        }
    }

    #[test]
    fn a_deleted_or_emptied_store_is_noticed_and_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut store = Store::open(&path).unwrap();
        store.insert(&run("x", "first")).unwrap();
        assert!(!store.is_gone());
        for gone in [
            |p: &Path| std::fs::remove_file(p).unwrap(),
            |p: &Path| std::fs::File::create(p).map(drop).unwrap(),
        ] {
            gone(&path);
            assert!(store.is_gone());
            store.reopen().unwrap();
            assert!(!store.is_gone());
            assert_eq!(store.running().unwrap(), [], "a new, empty store");
            let id = store.insert(&run("y", "second")).unwrap();
            assert!(store.finish(id, &ending("done", "{}")).unwrap());
            assert!(!store.finish(id + 100, &ending("done", "{}")).unwrap());
            let again = Store::open(&path).unwrap();
            assert_eq!(again.counts().unwrap(), [("done".to_owned(), 1)]);
        }
    }

    #[test]
    fn only_done_runs_are_cached_and_two_connections_share_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/store.sqlite");
        let a = Store::open(&path).unwrap();
        let b = Store::open(&path).unwrap();
        let mode: String = a
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let failed = a.insert(&run("x", "first")).unwrap();
        assert_eq!(b.running().unwrap().len(), 1, "seen by another connection");
        a.finish(failed, &ending("failed", "{\"STATUS\": \"failed\"}"))
            .unwrap();
        assert_eq!(b.cached("x").unwrap(), None, "failed runs are not reused");
        let done = b.insert(&run("x", "second")).unwrap();
        b.finish(
            done,
            &ending("done", "{\"Name\": \"second\", \"ACC\": 0.5}"),
        )
        .unwrap();
        let doc = a.cached("x").unwrap().unwrap();
        assert_eq!(doc["ACC"], yaml_serde::Value::from(0.5));
        assert_eq!(
            a.counts().unwrap(),
            [("done".to_owned(), 1), ("failed".to_owned(), 1)]
        );
        assert_eq!(a.last_finished(1).unwrap()[0].name, "second");
        assert!(a.running().unwrap().is_empty());
        assert!(Store::open_existing(&dir.path().join("none"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let store = Store::open(&path).unwrap();
        store.conn.execute_batch("PRAGMA user_version = 9").unwrap();
        drop(store);
        let err = Store::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer cool-runner"), "{err}");
    }
}
