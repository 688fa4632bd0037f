//! The local executor: a module is a child process in its own process group.
//!
//! Every spawn goes through `LocalExecutor::start`: stdin is /dev/null (a
//! background-group child that reads the terminal would be stopped by
//! SIGTTIN), stdout and stderr are piped; one helper thread per job copies
//! them into the terminal and `stdout.log`/`stderr.log` in the run
//! directory, reaps the child and reports its exit. Because the module has
//! its own process group, the terminal's Ctrl-C reaches only the runner,
//! which forwards it with `killpg` (to the whole group, grandchildren too).

use std::ffi::OsString;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::{Executor, Exit, Job, OnExit, Running, StartError, Stop};

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Where module output goes besides the run directory (the terminal).
pub(crate) trait OutputSink: Send + Sync {
    fn write(&self, stream: Stream, bytes: &[u8]);
}

/// Writes straight to the runner's stdout/stderr.
pub(crate) struct Terminal;

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

/// How often the helper thread checks whether the module has ended while
/// its pipes are still open.
const POLL_MS: u16 = 50;

/// Runs modules as local child processes.
pub(crate) struct LocalExecutor {
    module_args: Vec<OsString>,
    sink: Arc<dyn OutputSink>,
    prefix: bool,
}

impl LocalExecutor {
    /// `module_args` are appended to every module's command line.
    pub(crate) fn new(module_args: Vec<OsString>, sink: Arc<dyn OutputSink>) -> Self {
        Self {
            module_args,
            sink,
            prefix: false,
        }
    }

    /// Prefix each line a module prints on the terminal with `[name] `
    /// (used when several modules run at once; run directories keep the
    /// output as written).
    #[must_use]
    pub(crate) fn with_prefix(mut self, prefix: bool) -> Self {
        self.prefix = prefix;
        self
    }
}

/// Prefixes whole lines with the experiment's name; a partial line waits
/// for its end (or for the module's end), so lines of modules running at
/// once are never interleaved mid-line.
struct Prefixed {
    inner: Arc<dyn OutputSink>,
    prefix: String,
    partial: std::sync::Mutex<[Vec<u8>; 2]>,
}

impl Prefixed {
    fn emit(&self, stream: Stream, lines: &[u8]) {
        let mut out = Vec::with_capacity(lines.len() + 16);
        for line in lines.split_inclusive(|b| *b == b'\n') {
            out.extend_from_slice(self.prefix.as_bytes());
            out.extend_from_slice(line);
        }
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
        self.inner.write(stream, &out);
    }
}

impl OutputSink for Prefixed {
    fn write(&self, stream: Stream, bytes: &[u8]) {
        let i = usize::from(stream == Stream::Stderr);
        let ready = {
            let mut partial = self
                .partial
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            partial[i].extend_from_slice(bytes);
            match partial[i].iter().rposition(|b| *b == b'\n') {
                Some(end) => {
                    let rest = partial[i].split_off(end + 1);
                    Some(std::mem::replace(&mut partial[i], rest))
                }
                None => None,
            }
        };
        if let Some(lines) = ready {
            self.emit(stream, &lines);
        }
    }
}

impl Drop for Prefixed {
    fn drop(&mut self) {
        let partial = std::mem::take(
            &mut *self
                .partial
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (i, rest) in partial.iter().enumerate() {
            if !rest.is_empty() {
                let stream = if i == 0 {
                    Stream::Stdout
                } else {
                    Stream::Stderr
                };
                self.emit(stream, rest);
            }
        }
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
            .envs(job.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|err| start_error(program, &err))?;
        let pid = child.id() as i32;

        let outputs = [
            child
                .stdout
                .take()
                .map(|p| Output::new(OwnedFd::from(p), &job.run_dir, Stream::Stdout)),
            child
                .stderr
                .take()
                .map(|p| Output::new(OwnedFd::from(p), &job.run_dir, Stream::Stderr)),
        ];
        let sink: Arc<dyn OutputSink> = if self.prefix {
            Arc::new(Prefixed {
                inner: self.sink.clone(),
                prefix: format!("[{}] ", job.name),
                partial: std::sync::Mutex::new([Vec::new(), Vec::new()]),
            })
        } else {
            self.sink.clone()
        };
        std::thread::Builder::new()
            .name(format!("job-{}", job.index))
            .stack_size(128 * 1024)
            .spawn(move || {
                let exit = watch(child, outputs, sink.as_ref());
                on_exit(exit);
            })
            .map_err(|err| StartError {
                message: format!("failed to start a thread to watch module `{program}`: {err}"),
                exit_code: 126,
            })?;
        Ok(Box::new(LocalProcess { pid }))
    }
}

/// One of the module's output pipes, copied into `<run dir>/<stream>.log`
/// (created when the first byte arrives) and the terminal.
struct Output {
    pipe: Option<File>,
    log: Option<File>,
    path: std::path::PathBuf,
    stream: Stream,
}

impl Output {
    fn new(fd: OwnedFd, run_dir: &Path, stream: Stream) -> Self {
        let name = match stream {
            Stream::Stdout => "stdout.log",
            Stream::Stderr => "stderr.log",
        };
        Self {
            pipe: Some(File::from(fd)),
            log: None,
            path: run_dir.join(name),
            stream,
        }
    }

    /// Copy what is available; close the pipe at end of file.
    fn pump(&mut self, sink: &dyn OutputSink) {
        let Some(pipe) = &mut self.pipe else { return };
        let mut buf = [0_u8; 16384];
        match pipe.read(&mut buf) {
            Ok(0) => self.pipe = None,
            Ok(n) => {
                if self.log.is_none() {
                    // Created at the first byte: a silent module costs no
                    // inode (creating files dominates a 1 ms experiment).
                    self.log = File::create(&self.path).ok();
                }
                if let Some(log) = &mut self.log {
                    let _ = log.write_all(&buf[..n]);
                }
                sink.write(self.stream, &buf[..n]);
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => self.pipe = None,
        }
    }
}

/// The job's helper thread: copy both pipes until they close, reap the
/// module, return how it ended. One thread per job (rather than one per
/// pipe plus a waiter) keeps the cost of a millisecond experiment low.
fn watch(mut child: Child, mut outputs: [Option<Output>; 2], sink: &dyn OutputSink) -> Exit {
    let mut status = None;
    let mut drain_until = None;
    loop {
        let open: Vec<usize> = (0..2)
            .filter(|&i| outputs[i].as_ref().is_some_and(|o| o.pipe.is_some()))
            .collect();
        if open.is_empty() {
            break;
        }
        if status.is_none() {
            status = child.try_wait().ok().flatten();
            if status.is_some() {
                drain_until = Some(Instant::now() + DRAIN);
            }
        }
        // A grandchild may hold the pipes open after the module has ended.
        if drain_until.is_some_and(|at| Instant::now() >= at) {
            break;
        }
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = open
                .iter()
                .filter_map(|&i| outputs[i].as_ref().and_then(|o| o.pipe.as_ref()))
                .map(|pipe| PollFd::new(pipe.as_fd(), PollFlags::POLLIN))
                .collect();
            // Wake up now and then to notice the module's end while a
            // grandchild keeps the pipes open.
            match poll(&mut fds, PollTimeout::from(POLL_MS)) {
                Ok(_) => fds.iter().map(|fd| fd.any().unwrap_or(true)).collect(),
                Err(nix::errno::Errno::EINTR) => vec![false; fds.len()],
                Err(_) => vec![true; fds.len()],
            }
        };
        for (&i, ready) in open.iter().zip(ready) {
            if ready {
                if let Some(output) = &mut outputs[i] {
                    output.pump(sink);
                }
            }
        }
    }
    let status = match status {
        Some(status) => Ok(status),
        None => child.wait(),
    };
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        },
        // Only if the child was already reaped: cannot happen here.
        Err(_) => Exit::Code(-1),
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
