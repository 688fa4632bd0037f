//! `StoreReader`: a read-only view of the results store for the web page
//! (`cool-runner serve`). It never writes: it opens the file read-only,
//! notices commits of other processes through `PRAGMA data_version`, and
//! reads only rows it has not seen (by rowid) and rows that were running,
//! so that following a store of 100,000 runs costs a few small queries.
//! The runner's schema and its writes are untouched (no index is added).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::db::StoreError;

/// One row, as the web page shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredRun {
    pub id: i64,
    pub index: i64,
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
    /// The expanded experiment, JSON.
    pub experiment: String,
    /// The log document, JSON, once the run ended.
    pub document: Option<String>,
    /// What the identity was computed from, JSON.
    pub parts: String,
    pub identity: String,
    pub run_dir: Option<String>,
}

pub(crate) struct StoreReader {
    conn: Connection,
    path: PathBuf,
    file: Option<(u64, u64)>,
    data_version: Option<i64>,
}

const COLUMNS: &str = "id, idx, name, status, exit_code, started_at, finished_at, elapsed, \
    host, pid, runner_pid, slot, experiment, document, parts, identity, run_dir";

impl StoreReader {
    /// Open the store at `path` read-only; `None` while there is no file.
    pub(crate) fn open(path: &Path) -> Result<Option<Self>, StoreError> {
        let Some(file) = file_id(path) else {
            return Ok(None);
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| err(path, &e))?;
        conn.busy_timeout(Duration::from_secs(2))
            .map_err(|e| err(path, &e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| err(path, &e))?;
        if version > 1 {
            return Err(err(
                path,
                &format!("written by a newer cool-runner (schema version {version})"),
            ));
        }
        Ok(Some(Self {
            conn,
            path: path.to_owned(),
            file: Some(file),
            data_version: None,
        }))
    }

    /// Whether the file was deleted or replaced since it was opened.
    pub(crate) fn is_gone(&self) -> bool {
        file_id(&self.path) != self.file
    }

    /// Whether anyone committed since the last call (true the first time).
    pub(crate) fn changed(&mut self) -> Result<bool, StoreError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| err(&self.path, &e))?;
        Ok(self.data_version.replace(version) != Some(version))
    }

    /// Rows with an id above `after`, oldest first, at most `limit`.
    pub(crate) fn rows_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredRun>, StoreError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM runs WHERE id > ?1 ORDER BY id LIMIT ?2"),
            rusqlite::params![after, limit as i64],
        )
    }

    /// The rows with these ids (those that were running), oldest first.
    pub(crate) fn rows_with_ids(&self, ids: &[i64]) -> Result<Vec<StoredRun>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM runs WHERE id IN ({}) ORDER BY id",
                list.join(",")
            ),
            [],
        )
    }

    fn query(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<StoredRun>, StoreError> {
        let mut stmt = match self.conn.prepare_cached(sql) {
            Ok(stmt) => stmt,
            // A store being created has no table yet: no rows.
            Err(e) if e.to_string().contains("no such table") => return Ok(Vec::new()),
            Err(e) => return Err(err(&self.path, &e)),
        };
        let rows = stmt
            .query_map(params, |r| {
                Ok(StoredRun {
                    id: r.get(0)?,
                    index: r.get(1)?,
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
                    experiment: r.get(12)?,
                    document: r.get(13)?,
                    parts: r.get(14)?,
                    identity: r.get(15)?,
                    run_dir: r.get(16)?,
                })
            })
            .map_err(|e| err(&self.path, &e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(&self.path, &e))
    }
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.len() > 0)
        .map(|m| (m.dev(), m.ino()))
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
    use crate::store::{Ending, NewRun, Store};

    #[test]
    fn reads_new_and_finished_rows_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        assert!(StoreReader::open(&path).unwrap().is_none(), "no file yet");
        let store = Store::open(&path).unwrap();
        let run = NewRun {
            identity: "x",
            index: 0,
            name: "a",
            started_at: "2026-01-01T00:00:00.000+00:00",
            host: "h",
            pid: "1",
            slot: 1,
            experiment: "{\"lr\":0.1}",
            parts: "{}",
            run_dir: None,
            log_path: None,
        };
        let id = store.insert(&run).unwrap();
        let mut reader = StoreReader::open(&path).unwrap().unwrap();
        assert!(reader.changed().unwrap());
        assert!(!reader.changed().unwrap());
        let rows = reader.rows_after(0, 10).unwrap();
        assert_eq!((rows.len(), rows[0].status.as_str()), (1, "running"));
        let ending = Ending {
            status: "done",
            exit_code: Some(0),
            finished_at: "2026-01-01T00:00:01.000+00:00",
            elapsed: 1.0,
            results: "{}",
            document: "{\"lr\":0.1,\"ACC\":1}",
        };
        store.finish(id, &ending).unwrap();
        assert!(reader.changed().unwrap(), "another connection's commit");
        assert!(reader.rows_after(id, 10).unwrap().is_empty());
        let again = reader.rows_with_ids(&[id]).unwrap();
        assert_eq!(again[0].status, "done");
        assert!(!reader.is_gone());
        std::fs::remove_file(&path).unwrap();
        assert!(reader.is_gone());
    }
}
