//! The local executor: a module is a child process in its own process group.
//!
//! Every spawn goes through `LocalExecutor::start`: stdin is /dev/null (a
//! background-group child that reads the terminal would be stopped by
//! SIGTTIN), stdout and stderr are piped through two "tee" threads into the
//! terminal and `stdout.log`/`stderr.log` in the run directory, and a third
//! thread waits for the child and reports its exit. Because the module has
//! its own process group, the terminal's Ctrl-C reaches only the runner,
//! which forwards it with `killpg` (to the whole group, grandchildren too).

use std::ffi::OsString;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::executor::{Executor, Exit, Job, OnExit, Running, StartError, Stop};

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Where module output goes besides the run directory (the terminal).
pub trait OutputSink: Send + Sync {
    fn write(&self, stream: Stream, bytes: &[u8]);
}

/// Writes straight to the runner's stdout/stderr.
pub struct Terminal;

impl OutputSink for Terminal {
    fn write(&self, stream: Stream, bytes: &[u8]) {
        // A closed terminal must not stop the module: errors are ignored.
        let _ = match stream {
            Stream::Stdout => std::io::stdout().lock().write_all(bytes),
            Stream::Stderr => std::io::stderr().lock().write_all(bytes),
        };
    }
}

/// How long to wait, after the module exits, for its output to drain
/// (a grandchild may keep the pipes open much longer).
const DRAIN: Duration = Duration::from_millis(500);

/// Runs modules as local child processes.
pub struct LocalExecutor {
    module_args: Vec<OsString>,
    sink: Arc<dyn OutputSink>,
}

impl LocalExecutor {
    /// `module_args` are appended to every module's command line.
    pub fn new(module_args: Vec<OsString>, sink: Arc<dyn OutputSink>) -> Self {
        Self { module_args, sink }
    }
}

impl Executor for LocalExecutor {
    fn start(&mut self, job: &Job, on_exit: OnExit) -> Result<Box<dyn Running>, StartError> {
        let Some((program, args)) = job.command.split_first() else {
            return Err(StartError {
                message: "`Module` is empty".to_owned(),
                exit_code: 127,
            });
        };
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        let mut child = Command::new(program)
            .args(args)
            .args(&self.module_args)
            .env("COOL_RUNNER_EXPERIMENT", absolute(&job.experiment_file))
            .env("COOL_RUNNER_RESULTS", absolute(&job.results_file))
            .env("COOL_RUNNER_RUN_DIR", absolute(&job.run_dir))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|err| start_error(program, &err))?;
        let pid = child.id() as i32;

        // The log files are created by the tee threads, off the path that
        // starts the next experiment.
        let (drained_tx, drained_rx) = mpsc::channel();
        for (pipe, log, stream) in [
            (
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                job.run_dir.join("stdout.log"),
                Stream::Stdout,
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                job.run_dir.join("stderr.log"),
                Stream::Stderr,
            ),
        ] {
            let Some(pipe) = pipe else { continue };
            let sink = self.sink.clone();
            let drained = drained_tx.clone();
            std::thread::spawn(move || {
                tee(pipe, &log, stream, sink.as_ref());
                let _ = drained.send(());
            });
        }
        drop(drained_tx);

        std::thread::spawn(move || {
            let exit = match child.wait() {
                Ok(status) => match (status.code(), status.signal()) {
                    (Some(code), _) => Exit::Code(code),
                    (None, Some(signal)) => Exit::Signal(signal),
                    (None, None) => Exit::Code(-1),
                },
                // Only if the child was already reaped: cannot happen here.
                Err(_) => Exit::Code(-1),
            };
            let deadline = std::time::Instant::now() + DRAIN;
            for _ in 0..2 {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if drained_rx.recv_timeout(left).is_err() {
                    break;
                }
            }
            on_exit(exit);
        });
        Ok(Box::new(LocalProcess { pid }))
    }
}

/// Copy a pipe into the log file `log` and the terminal until end of file.
fn tee(mut pipe: Box<dyn Read + Send>, log: &Path, stream: Stream, sink: &dyn OutputSink) {
    let mut file = File::create(log).ok();
    let mut buf = [0_u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(file) = &mut file {
                    let _ = file.write_all(&buf[..n]);
                }
                sink.write(stream, &buf[..n]);
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// A spawn error, worded for the person who wrote `Module`.
fn start_error(program: &str, err: &std::io::Error) -> StartError {
    let is_file_here = !program.contains('/') && Path::new(program).is_file();
    match err.kind() {
        ErrorKind::NotFound => StartError {
            message: if is_file_here {
                format!(
                    "module `{program}` not found on PATH; hint: write `./{program}` \
                     for the file in the working directory"
                )
            } else {
                format!("module `{program}` not found")
            },
            exit_code: 127,
        },
        ErrorKind::PermissionDenied => StartError {
            message: format!(
                "module `{program}` is not executable; hint: `chmod +x {program}` or \
                 name its interpreter, as in `python3 {program}`"
            ),
            exit_code: 126,
        },
        _ if err.raw_os_error() == Some(nix::libc::ENOEXEC) => StartError {
            message: format!(
                "module `{program}` is not a program the system can run; hint: start a \
                 script with a `#!` line, or name its interpreter"
            ),
            exit_code: 126,
        },
        _ => StartError {
            message: format!("failed to start module `{program}`: {err}"),
            exit_code: 126,
        },
    }
}

/// A module's process group.
struct LocalProcess {
    pid: i32,
}

impl Running for LocalProcess {
    fn stop(&mut self, how: Stop) {
        let signal = match how {
            Stop::Interrupt => Signal::SIGINT,
            Stop::Terminate => Signal::SIGTERM,
            Stop::Kill => Signal::SIGKILL,
        };
        // The group id is the module's pid (`process_group(0)`). Linux does
        // not hand out a pid that is still in use as a process group id, so
        // this reaches the module's group or nothing (ESRCH, ignored).
        let _ = killpg(Pid::from_raw(self.pid), signal);
    }

    fn id(&self) -> String {
        self.pid.to_string()
    }
}
