//! Who else uses the queue file: the lock that makes a runner its only
//! one, and the processes that have it open for writing (a person's
//! `./gen.py > q.yaml` still in progress).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::api::QueueError;
use super::journal::sidecar;

/// An advisory `flock` on `.<name>.lock` next to the queue file, held
/// for the whole run; the file holds the holder's pid.
#[derive(Debug)]
pub(crate) struct QueueLock {
    path: PathBuf,
    _lock: Flock<File>,
}

impl QueueLock {
    /// Take the lock of `queue`, or say which runner holds it.
    pub(crate) fn acquire(queue: &Path) -> Result<Self, QueueError> {
        let path = sidecar(queue, "lock");
        let io = |source| QueueError::Io {
            action: "lock",
            path: queue.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        for _ in 0..20 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => lock,
                Err((mut file, _)) => {
                    let mut pid = String::new();
                    let _ = file.read_to_string(&mut pid);
                    return Err(QueueError::Busy {
                        path: queue.to_owned(),
                        pid: pid.trim().to_owned(),
                    });
                }
            };
            // A runner that finished may have removed the file we opened:
            // the lock counts only on the file that is there now.
            let same = match (lock.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if !same {
                continue;
            }
            lock.set_len(0).map_err(io)?;
            lock.rewind().map_err(io)?;
            write!(lock, "{}", std::process::id()).map_err(io)?;
            return Ok(Self { path, _lock: lock });
        }
        Err(io(std::io::Error::other(
            "the lock file kept being replaced",
        )))
    }

    /// Remove the lock file (the queue is finished); the lock is released
    /// when `self` is dropped.
    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether another process has `path` open for writing (Linux `/proc`;
/// `false` where it cannot tell).
pub(crate) fn open_for_writing(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    file_open_for_writing(&meta)
}

/// Whether another process has the file of `meta` (its device and inode,
/// which may be unlinked already) open for writing.
pub(crate) fn file_open_for_writing(meta: &std::fs::Metadata) -> bool {
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    for proc in procs.flatten() {
        let pid = proc.file_name();
        let pid = pid.to_string_lossy();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::metadata(fd.path()) else {
                continue;
            };
            if target.ino() != meta.ino() || target.dev() != meta.dev() {
                continue;
            }
            let info = proc.path().join("fdinfo").join(fd.file_name());
            let flags = std::fs::read_to_string(info).unwrap_or_default();
            let writes = flags
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .is_some_and(|f| f & 0o3 != 0);
            if writes {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_writers_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let queue = dir.path().join("q.yaml");
        let held = QueueLock::acquire(&queue).unwrap();
        let err = QueueLock::acquire(&queue).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        held.remove();
        drop(held);
        drop(QueueLock::acquire(&queue).unwrap());
        std::fs::write(&queue, "").unwrap();
        assert!(!open_for_writing(&queue));
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 >> \"$0\"", &queue.display().to_string()])
            .spawn()
            .unwrap();
        let seen = (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            open_for_writing(&queue)
        });
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(seen);
    }
}
