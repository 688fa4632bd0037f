//! The code snapshot: at submission, the module's files (the words of
//! `Module` that name files) and its `Fingerprint` files are copied to
//! `.cool-runner/code/<digest>/`, keyed by their paths and contents, and
//! the job runs that copy. Editing the code while jobs wait in the queue
//! cannot change what they run, and the cache identity (computed from the
//! same files at admission) matches the code that ran.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

/// Snapshots taken by one run, by the list of files they hold.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    root: PathBuf,
    taken: HashMap<Vec<PathBuf>, PathBuf>,
}

impl Snapshots {
    /// Snapshots under `root` (`.cool-runner/code`, absolute).
    pub(crate) fn new(root: PathBuf) -> Self {
        Self {
            root,
            taken: HashMap::new(),
        }
    }

    /// `command` with each word that names a file replaced by its copy in
    /// the snapshot of those files and the `fingerprint` globs.
    pub(crate) fn rewrite(
        &mut self,
        command: &[String],
        fingerprint: &[String],
    ) -> Result<Vec<String>, String> {
        let mut files: Vec<PathBuf> = command
            .iter()
            .filter(|w| !w.starts_with('-') && Path::new(w.as_str()).is_file())
            .map(PathBuf::from)
            .collect();
        // A module imports the files next to it (`import helpers`): those
        // of its own kind (extension) come along.
        let siblings: Vec<PathBuf> = files.iter().flat_map(|f| siblings(f)).collect();
        files.extend(siblings);
        for pattern in fingerprint {
            let paths = glob::glob(pattern)
                .map_err(|e| format!("invalid `Fingerprint` `{pattern}`: {e}"))?;
            files.extend(paths.filter_map(Result::ok).filter(|p| p.is_file()));
        }
        if files.is_empty() {
            return Ok(command.to_vec());
        }
        files.sort();
        files.dedup();
        let dir = match self.taken.get(&files) {
            Some(dir) => dir.clone(),
            None => {
                let dir = self.take(&files)?;
                self.taken.insert(files, dir.clone());
                dir
            }
        };
        Ok(command
            .iter()
            .map(|word| {
                if !word.starts_with('-') && Path::new(word.as_str()).is_file() {
                    dir.join(inside(Path::new(word))).display().to_string()
                } else {
                    word.clone()
                }
            })
            .collect())
    }

    /// Copy `files` into a directory named by their digest (kept if it
    /// exists: the same content was snapshotted before).
    fn take(&self, files: &[PathBuf]) -> Result<PathBuf, String> {
        let mut contents = BTreeMap::new();
        let mut hasher = blake3::Hasher::new();
        for file in files {
            let bytes = std::fs::read(file).map_err(|e| {
                format!(
                    "failed to read `{}` for the code snapshot: {e}",
                    file.display()
                )
            })?;
            hasher.update(file.as_os_str().as_encoded_bytes());
            hasher.update(&[0]);
            hasher.update(blake3::hash(&bytes).as_bytes());
            contents.insert(inside(file), bytes);
        }
        let digest = hasher.finalize().to_hex();
        let dir = self.root.join(&digest.as_str()[..16]);
        if dir.is_dir() {
            return Ok(dir);
        }
        let failed = |e: std::io::Error| {
            format!("failed to write the code snapshot `{}`: {e}", dir.display())
        };
        std::fs::create_dir_all(&self.root).map_err(failed)?;
        let tmp = tempfile::tempdir_in(&self.root).map_err(failed)?;
        for (path, bytes) in &contents {
            let target = tmp.path().join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(failed)?;
            }
            std::fs::write(&target, bytes).map_err(failed)?;
            // Keep the mode (an executable script stays executable).
            let source = files.iter().find(|f| &inside(f) == path);
            if let Some(meta) = source.and_then(|s| std::fs::metadata(s).ok()) {
                let _ = std::fs::set_permissions(&target, meta.permissions());
            }
        }
        let tmp = tmp.keep();
        match std::fs::rename(&tmp, &dir) {
            Ok(()) => Ok(dir),
            // Another runner made the same snapshot first.
            Err(_) if dir.is_dir() => {
                let _ = std::fs::remove_dir_all(&tmp);
                Ok(dir)
            }
            Err(e) => Err(failed(e)),
        }
    }
}

/// The files next to `file` with its extension (none for a file without).
fn siblings(file: &Path) -> Vec<PathBuf> {
    let Some(ext) = file.extension() else {
        return Vec::new();
    };
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension() == Some(ext) && p.is_file())
        .map(|p| match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => p,
            _ => p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p),
        })
        .collect()
}

/// Where `path` goes inside a snapshot: relative paths as they are (without
/// `..`), absolute ones under `abs/`.
fn inside(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    if path.is_absolute() {
        out.push("abs");
    }
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => out.push("up"),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_copied_once_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("m.sh");
        std::fs::write(&module, "echo 1\n").unwrap();
        let root = dir.path().join("code");
        let mut snapshots = Snapshots::new(root.clone());
        let word = module.display().to_string();
        let command = vec!["sh".to_owned(), word.clone(), "--lr".to_owned()];
        let first = snapshots.rewrite(&command, &[]).unwrap();
        assert_eq!(first[0], "sh");
        assert_ne!(first[1], word);
        assert_eq!(std::fs::read_to_string(&first[1]).unwrap(), "echo 1\n");
        std::fs::write(&module, "echo 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&first[1]).unwrap(), "echo 1\n");
        let mut again = Snapshots::new(root);
        let second = again.rewrite(&command, &[]).unwrap();
        assert_ne!(first[1], second[1]);
        assert_eq!(std::fs::read_to_string(&second[1]).unwrap(), "echo 2\n");
        assert_eq!(inside(Path::new("../a/b")), Path::new("up/a/b"));
    }
}
