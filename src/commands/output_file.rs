//! Timestamped output files (`logs_2026-11-22_01-30-00.yaml`) that never
//! overwrite anything: when the name is taken, `_1`, `_2`, ... is added.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Create `DIR/PREFIX_YYYY-MM-DD_HH-MM-SS[_N].EXT` (local time), creating
/// `dir` when needed. The file is created exclusively, so two commands
/// started in the same second get different files.
pub(crate) fn create_timestamped(
    dir: &Path,
    prefix: &str,
    ext: &str,
) -> io::Result<(PathBuf, File)> {
    std::fs::create_dir_all(dir)?;
    let stamp = chrono::Local::now().format("%Y-%m-%d_%H-%M-%S");
    for n in 0u32.. {
        let name = if n == 0 {
            format!("{prefix}_{stamp}.{ext}")
        } else {
            format!("{prefix}_{stamp}_{n}.{ext}")
        };
        // `--dest .` (the default) names the file without a `./`.
        let path = if dir == Path::new(".") {
            PathBuf::from(name)
        } else {
            dir.join(name)
        };
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && n < 10_000 => {}
            Err(err) => return Err(err),
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::create_timestamped;

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("new/dir");
        let (a, _) = create_timestamped(&sub, "logs", "yaml").unwrap();
        let (b, _) = create_timestamped(&sub, "logs", "yaml").unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("logs_"), "{name}");
        assert_eq!(a.extension().unwrap(), "yaml");
        assert_eq!(name.len(), "logs_2026-01-01_00-00-00.yaml".len());
    }
}
