//! `cool-runner log NAME|INDEX`: a run's output, from its run directory
//! (found through the results store, as pueue's `log`): `stdout.log` to
//! stdout, `stderr.log` to stderr, as the module wrote them. `-f` follows
//! a running one until it ends.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::LogArgs;
use crate::commands::status::{open_store, store_path};
use crate::error::{exit, Error};
use crate::store::{RunPlace, Store};

/// How often `-f` looks for new output.
const POLL: Duration = Duration::from_millis(100);

/// Run `log`: returns the exit status.
pub(crate) fn log(args: &LogArgs) -> Result<i32, Error> {
    let path = store_path(args.store.as_ref(), args.exp.as_ref())?;
    let store = open_store(&path)?;
    let runs = store
        .run_dirs(&args.run)
        .map_err(|e| Error::Other(e.into()))?;
    let Some(run) = runs.first() else {
        return Err(Error::Usage(format!(
            "no run named or numbered `{}` in the results store `{}`; hint: `cool-runner \
             status` lists the last runs",
            args.run,
            path.display()
        )));
    };
    let Some(dir) = run.dir.as_deref().map(PathBuf::from) else {
        return Err(Error::Usage(format!(
            "run {} `{}` has no run directory (it could not start)",
            run.index, run.name
        )));
    };
    let others = if runs.len() > 1 {
        format!("; the newest of {} runs that match", runs.len())
    } else {
        String::new()
    };
    eprintln!(
        "==> run {} `{}` ({}), {}{others}",
        run.index,
        run.name,
        run.status,
        dir.display()
    );
    let mut outputs = [
        Output::new(dir.join("stdout.log"), false),
        Output::new(dir.join("stderr.log"), true),
    ];
    copy_new(&mut outputs).map_err(Error::Output)?;
    if args.follow {
        follow(&store, run, &mut outputs).map_err(Error::Output)?;
    }
    Ok(exit::OK)
}

/// Copy what the run writes until the store no longer says `running`.
fn follow(store: &Store, run: &RunPlace, outputs: &mut [Output]) -> io::Result<()> {
    loop {
        let status = store.status_of(run.id).ok().flatten();
        // Read once more after the end: what was written last.
        copy_new(outputs)?;
        if status.as_deref() != Some("running") {
            if let Some(status) = status.filter(|s| *s != run.status) {
                eprintln!("==> `{}` ended: {status}", run.name);
            }
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// One output file and how much of it was copied.
struct Output {
    path: PathBuf,
    to_stderr: bool,
    copied: u64,
}

impl Output {
    fn new(path: PathBuf, to_stderr: bool) -> Self {
        Self {
            path,
            to_stderr,
            copied: 0,
        }
    }
}

fn copy_new(outputs: &mut [Output]) -> io::Result<()> {
    for output in outputs {
        let bytes = read_from(&output.path, output.copied)?;
        if bytes.is_empty() {
            continue;
        }
        output.copied += bytes.len() as u64;
        let written = if output.to_stderr {
            io::stderr().lock().write_all(&bytes)
        } else {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&bytes).and_then(|()| stdout.flush())
        };
        match written {
            // `log NAME | head`: the reader has all it wants.
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    Ok(())
}

/// The bytes of `path` after `offset`; none when it does not exist (yet).
fn read_from(path: &Path, offset: u64) -> io::Result<Vec<u8>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}
