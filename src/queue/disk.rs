//! The queue file on disk: cheap version stamps, whole reads, and atomic
//! writes that notice a person's save made at the same moment.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::api::QueueError;

/// What identifies one version of the file cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.ino, self.len, self.mtime, self.mtime_nsec
        )
    }
}

impl Stamp {
    /// The four numbers `Display` writes.
    pub(crate) fn parse(words: &[&str]) -> Option<Self> {
        let [ino, len, mtime, nsec] = words else {
            return None;
        };
        Some(Self {
            ino: ino.parse().ok()?,
            len: len.parse().ok()?,
            mtime: mtime.parse().ok()?,
            mtime_nsec: nsec.parse().ok()?,
        })
    }
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        ino: meta.ino(),
        len: meta.len(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
    }
}

/// The stamp of the file now, `None` when it is missing.
pub(crate) fn current_stamp(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| stamp(&m))
}

/// What [`write`] did.
pub(crate) enum Written {
    /// Written; the new file's stamp.
    Done(Stamp),
    /// Not written: the file had changed.
    Changed,
    /// Written, but someone wrote into the old file at the same moment:
    /// their text, to be put back and merged.
    Raced(String),
}

/// Remove temporary files left by a runner killed while writing the
/// queue (`.<name>.XXXXXX.tmp` next to it). One runner per queue file,
/// so none of them is being written now.
pub(crate) fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with(&prefix) && file.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The whole file and its stamp; `None` when it is missing.
pub(crate) fn read(path: &Path) -> Result<Option<(String, Stamp)>, QueueError> {
    let io = |source| QueueError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    let mut text = String::with_capacity(meta.len() as usize + 1);
    std::io::Read::read_to_string(&mut file, &mut text).map_err(io)?;
    Ok(Some((text, stamp(&meta))))
}

/// Write `text` atomically (a temporary file in the same directory,
/// fsync'ed, renamed over `path`), unless the file no longer has the stamp
/// `expect` (when given).
pub(crate) fn write(
    path: &Path,
    text: &str,
    expect: Option<Stamp>,
    before_rename: &mut dyn FnMut(Stamp) -> Result<(), QueueError>,
) -> Result<Written, QueueError> {
    let io = |source| QueueError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "queue".into(), |n| n.to_string_lossy());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    // The inode and mtime survive the rename: this is the new file's stamp.
    let new = stamp(&tmp.as_file().metadata().map_err(io)?);
    // Held across the rename: a person's `echo >> q.yaml` that opened the
    // old file before the check and wrote before the rename completed is
    // caught here and merged (a write even later, into the replaced
    // file, cannot be seen; the window is microseconds).
    let mut old = expect.and_then(|_| std::fs::File::open(path).ok());
    if expect.is_some() && current_stamp(path) != expect {
        return Ok(Written::Changed);
    }
    before_rename(new)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    if let Some(old) = &mut old {
        if old.metadata().ok().map(|m| stamp(&m)) != expect {
            if let Some(theirs) = settled_text(old) {
                return Ok(Written::Raced(theirs));
            }
        }
    }
    Ok(Written::Done(new))
}

/// The text of a replaced file that someone wrote into at the moment it
/// was replaced, once their write is over: a `truncate` then `write` (as
/// `std::fs::write` or a shell's `>` does) seen between the two would be an
/// empty file, read as "everything removed". It has settled when it stays
/// the same for [`SETTLE`] and nobody has it open for writing (waited for
/// at most [`SETTLE_AT_MOST`]).
fn settled_text(old: &mut std::fs::File) -> Option<String> {
    let started = std::time::Instant::now();
    let mut last = old.metadata().ok()?;
    loop {
        std::thread::sleep(SETTLE);
        let now = old.metadata().ok()?;
        let busy = super::lock::file_open_for_writing(&now);
        if stamp(&now) == stamp(&last) && (!busy || started.elapsed() > SETTLE_AT_MOST) {
            break;
        }
        last = now;
    }
    let mut theirs = String::new();
    std::io::Seek::rewind(old).ok()?;
    std::io::Read::read_to_string(old, &mut theirs).ok()?;
    Some(theirs)
}

/// How long a write racing a rewrite must stay unchanged.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(50);
/// The longest the runner waits for such a writer to close the file.
const SETTLE_AT_MOST: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    /// A person's `std::fs::write` (truncate, then write) into the file at
    /// the moment the runner replaces it: the runner must see their text,
    /// not the empty file between the two steps (which read as "every
    /// experiment removed", an intermittent failure of
    /// `queue::removed_experiments_do_not_run`).
    #[test]
    fn a_truncate_then_write_racing_a_rewrite_is_read_once_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.yaml");
        std::fs::write(&path, "---\nName: a\n---\nName: b\n").unwrap();
        let expect = current_stamp(&path);
        let theirs = "---\nName: c\n";
        let mut writer = None;
        let written = write(&path, "---\nName: b\n", expect, &mut |_| {
            // Truncated now, written a little later, into the old file.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .unwrap();
            writer = Some(std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                file.write_all(theirs.as_bytes()).unwrap();
            }));
            Ok(())
        })
        .unwrap();
        writer.unwrap().join().unwrap();
        match written {
            Written::Raced(text) => assert_eq!(text, theirs),
            _ => panic!("the racing write was not noticed"),
        }
    }
}
