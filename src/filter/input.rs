//! The logs `filter` reads: files, `-` for standard input, and directories,
//! walked as `collect` walks them (`.yaml`/`.yml` files in name order,
//! without the runner's own files: run directories, `.cool-runner/`,
//! experiment and queue files).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::query::LogText;
use crate::commands::collect::{is_runner_dir, is_runner_input};
use crate::error::Error;

/// Read every log named by `paths`, in order.
pub(crate) fn read_logs(paths: &[PathBuf]) -> Result<Vec<LogText>, Error> {
    let mut logs = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if std::mem::replace(&mut stdin_read, true) {
                return Err(Error::Usage(
                    "`-` (standard input) is given twice; it can be read once".to_owned(),
                ));
            }
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|err| Error::Usage(format!("failed to read standard input: {err}")))?;
            logs.push(LogText {
                path: PathBuf::from("<stdin>"),
                text,
            });
        } else if path.is_dir() {
            read_dir(path, &mut logs)?;
        } else {
            logs.push(LogText {
                path: path.clone(),
                text: read(path)?,
            });
        }
    }
    Ok(logs)
}

/// A log: a regular file within the size limit (never a FIFO or a device).
fn read(path: &Path) -> Result<String, Error> {
    crate::yaml::limits::read_text(path, crate::yaml::limits::DEFAULT_MAX_SIZE)
        .map_err(|err| Error::Usage(format!("failed to read log `{}`: {err}", path.display())))
}

/// The logs under `dir`; none is bad input.
fn read_dir(dir: &Path, logs: &mut Vec<LogText>) -> Result<(), Error> {
    let before = logs.len();
    let walker = WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !(e.file_type().is_dir() && is_runner_dir(e.path())));
    for entry in walker {
        let entry = entry.map_err(|err| {
            Error::Usage(format!(
                "failed to read the logs in `{}`: {err}",
                dir.display()
            ))
        })?;
        let is_yaml = entry
            .path()
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if !entry.file_type().is_file() || !is_yaml {
            continue;
        }
        let text = read(entry.path())?;
        if !is_runner_input(&text) {
            logs.push(LogText {
                path: entry.into_path(),
                text,
            });
        }
    }
    if logs.len() == before {
        return Err(Error::Usage(format!(
            "no logs (`.yaml`, `.yml` files) in `{}`; run directories, `.cool-runner/`, \
             experiment and queue files are left out (name a file to read it)",
            dir.display()
        )));
    }
    Ok(())
}
