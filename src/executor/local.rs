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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use rustix::process::{pidfd_open, PidfdFlags};

use chrono::Local;
use yaml_serde::Mapping;

use super::ladder::Ladder;
use super::lines::JobOutput;
use super::watchdog::Watchdog;
use super::{
    Capacity, Cause, Executor, Exit, ExitReport, Job, JobEvent, JobEvents, Launched, Lease,
    Running, SlotConfig, Slots, StartError, Stop, Workspace, WorkspaceConfig,
};

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Where module output goes besides the run directory (the terminal).
pub(crate) trait OutputSink: Send + Sync {
    /// Output to show as it is (from a job: whole lines).
    fn write(&self, stream: Stream, bytes: &[u8]);
    /// The latest state of the line job `job` keeps redrawing with `\r`
    /// (`None`: it has ended). Only called when `live`.
    fn update(&self, _job: usize, _label: &str, _line: Option<&str>) {}
    /// Whether updates are shown in place (a live display on a terminal).
    fn live(&self) -> bool {
        false
    }
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

/// How often the helper thread looks at the stop ladder (and, without a
/// pidfd, whether the module has ended).
const POLL_MS: u16 = 50;

/// Runs modules as local child processes.
pub(crate) struct LocalExecutor {
    module_args: Vec<OsString>,
    sink: Arc<dyn OutputSink>,
    /// Prefix each line a module prints on the terminal with `[#index name] `
    /// (when several modules run at once; run directories keep the output
    /// as written).
    prefix: bool,
    slots: Slots,
    workspaces: WorkspaceConfig,
    /// Time between the steps of the ladder after a `Timeout`.
    grace: Duration,
    /// Stops the modules if the runner is killed (`watchdog.rs`).
    watchdog: Guard,
}

/// The watchdog, started with the first module.
enum Guard {
    NotStarted,
    Running(Arc<Watchdog>),
    /// It could not be started or has gone: modules get the death signal.
    Gone,
}

impl LocalExecutor {
    /// `module_args` are appended to every module's command line; module
    /// output goes to `sink` besides the run directory.
    pub(crate) fn new(
        module_args: Vec<OsString>,
        sink: Arc<dyn OutputSink>,
        slots: SlotConfig,
        workspaces: WorkspaceConfig,
        grace: Duration,
    ) -> Self {
        Self {
            module_args,
            sink,
            prefix: slots.jobs > 1,
            slots: Slots::new(slots),
            workspaces,
            grace,
            watchdog: Guard::NotStarted,
        }
    }

    /// The watchdog, started if it is not yet; `None` when there is none.
    fn watchdog(&mut self) -> Option<Arc<Watchdog>> {
        if matches!(self.watchdog, Guard::NotStarted) {
            self.watchdog = Watchdog::start().map_or(Guard::Gone, |w| Guard::Running(Arc::new(w)));
        }
        match &self.watchdog {
            Guard::Running(watchdog) if watchdog.alive() => Some(Arc::clone(watchdog)),
            _ => {
                self.watchdog = Guard::Gone;
                None
            }
        }
    }
}

impl Executor for LocalExecutor {
    fn capacity(&mut self, experiment: &Mapping) -> Capacity {
        self.slots.capacity(experiment)
    }

    fn has_room(&self) -> bool {
        self.slots.has_free_slot()
    }

    fn release(&mut self, lease: &Lease) {
        self.slots.release(lease);
    }

    fn start(&mut self, job: Job, lease: Lease, events: JobEvents) -> Result<Launched, StartError> {
        let workspace =
            match Workspace::create(&self.workspaces, job.index, &job.name, &job.experiment) {
                Ok(workspace) => workspace,
                Err(err) => {
                    self.slots.release(&lease);
                    return Err(err);
                }
            };
        self.start_in(workspace, &job, &lease, events)
    }
}

impl LocalExecutor {
    /// `start` in a workspace made already (by `cool-runner exec`, inside
    /// a Slurm allocation).
    pub(crate) fn start_in(
        &mut self,
        workspace: Workspace,
        job: &Job,
        lease: &Lease,
        events: JobEvents,
    ) -> Result<Launched, StartError> {
        let started = self.spawn(job, lease, workspace);
        if started.is_err() {
            self.slots.release(lease);
        }
        let (child, workspace, watchdog) = started?;
        let pid = child.id() as i32;
        let ladder = Arc::new(Mutex::new(Ladder::new(
            &job.name,
            Instant::now(),
            job.timeout,
            self.grace,
        )));
        let sink: Arc<dyn OutputSink> = Arc::new(JobOutput::new(
            self.sink.clone(),
            job.index,
            crate::model::label(job.index, &job.experiment),
            self.prefix,
        ));
        let watched = Watched {
            child,
            watchdog,
            pid,
            ladder: Arc::clone(&ladder),
            workspace: workspace.clone(),
            started_at: Local::now(),
        };
        let index = job.index;
        let spawned = std::thread::Builder::new()
            .name(format!("job-{index}"))
            .stack_size(128 * 1024)
            .spawn(move || {
                let report = watched.watch(sink.as_ref(), &|note| {
                    events(index, JobEvent::Note(note));
                });
                events(index, JobEvent::Ended(Box::new(report)));
            });
        if let Err(err) = spawned {
            // The module runs unwatched: stop it rather than leak it.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            self.slots.release(lease);
            return Err(StartError {
                message: format!("failed to start a thread to watch `{}`: {err}", job.name),
                exit_code: 126,
                run_dir: Some(workspace.dir),
            });
        }
        Ok(Launched {
            handle: Box::new(LocalProcess { pid, ladder }),
            id: pid.to_string(),
            run_dir: workspace.dir,
        })
    }

    /// Spawn the module in its own process group, in `workspace`; the
    /// watchdog that covers it, if any.
    fn spawn(
        &mut self,
        job: &Job,
        lease: &Lease,
        workspace: Workspace,
    ) -> Result<(Child, Workspace, Option<Arc<Watchdog>>), StartError> {
        let Some((program, args)) = job.command.split_first() else {
            return Err(StartError {
                message: "`Module` is empty".to_owned(),
                exit_code: 127,
                run_dir: Some(workspace.dir),
            });
        };
        let mut command = Command::new(program);
        // The runner's secrets (the Slack token) stay with the runner.
        crate::secrets::withhold(&mut command);
        let watchdog = self.watchdog();
        if watchdog.is_none() {
            let runner = std::process::id();
            // SAFETY: the closure runs in the forked child before `exec`
            // and only makes two async-signal-safe system calls (prctl,
            // getppid). It makes `std` start the module with `fork` instead
            // of `posix_spawn`: only without a watchdog.
            unsafe {
                command.pre_exec(move || die_with_runner(runner));
            }
        }
        let child = command
            .args(args)
            .args(&self.module_args)
            .envs(workspace.env())
            .envs(lease.env(self.slots.uses_gpus()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|err| start_error(program, &err, &workspace))?;
        // A watchdog gone since (killed by hand): this module is not
        // covered, the next ones get the death signal.
        let watchdog = watchdog.filter(|w| w.watch(child.id() as i32));
        Ok((child, workspace, watchdog))
    }
}

/// In the module's process, before `exec`: if the runner is killed
/// (`kill -9`, out of memory), the module gets SIGTERM instead of running
/// on unwatched while the next runner starts its experiment again.
fn die_with_runner(runner: u32) -> std::io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
    // The runner may have died before the call above.
    if u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(runner) {
        return Err(std::io::Error::other("the runner has ended"));
    }
    Ok(())
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
                let bytes = crate::secrets::redact_bytes(&buf[..n]);
                if let Some(log) = &mut self.log {
                    let _ = log.write_all(&bytes);
                }
                sink.write(self.stream, &bytes);
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => self.pipe = None,
        }
    }
}

/// A started module, watched by its helper thread.
struct Watched {
    child: Child,
    /// Told when the module has been reaped.
    watchdog: Option<Arc<Watchdog>>,
    pid: i32,
    ladder: Arc<Mutex<Ladder>>,
    workspace: Workspace,
    started_at: chrono::DateTime<Local>,
}

impl Watched {
    /// The job's helper thread: copy both pipes until they close, carry out
    /// the stop ladder when it is due, reap the module and report how it
    /// ended. One thread per job (rather than one per pipe plus a waiter)
    /// keeps the cost of a millisecond experiment low.
    fn watch(mut self, sink: &dyn OutputSink, note: &dyn Fn(String)) -> ExitReport {
        let clock = Instant::now();
        let mut outputs = [Stream::Stdout, Stream::Stderr].map(|stream| {
            let pipe = match stream {
                Stream::Stdout => self.child.stdout.take().map(OwnedFd::from),
                Stream::Stderr => self.child.stderr.take().map(OwnedFd::from),
            };
            pipe.map(|fd| Output::new(fd, &self.workspace.dir, stream))
        });
        // Readable once the module has ended: its end is seen at once even
        // while a grandchild keeps the pipes open. (Linux ≥ 5.3; without it
        // the loop looks again every poll interval.)
        let pidfd = rustix::process::Pid::from_raw(self.pid)
            .and_then(|pid| pidfd_open(pid, PidfdFlags::empty()).ok());
        let mut status = None;
        let mut drain_until = None;
        loop {
            if status.is_none() {
                status = self.child.try_wait().ok().flatten();
                if status.is_some() {
                    drain_until = Some(Instant::now() + DRAIN);
                }
            }
            let open: Vec<usize> = (0..2)
                .filter(|&i| outputs[i].as_ref().is_some_and(|o| o.pipe.is_some()))
                .collect();
            // A grandchild may hold the pipes open after the module has ended.
            if status.is_some()
                && (open.is_empty() || drain_until.is_some_and(|at| Instant::now() >= at))
            {
                break;
            }
            let wake = self.climb_ladder(note);
            let end = pidfd.as_ref().filter(|_| status.is_none());
            pump_ready(&mut outputs, &open, end, sink, wake);
        }
        if let (Some(watchdog), Some(_)) = (&self.watchdog, status) {
            watchdog.forget(self.pid);
        }
        let exit = match status {
            Some(status) => match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signal(signal),
                (None, None) => Exit::Code(-1),
            },
            None => Exit::Code(-1),
        };
        let cause = self.ladder.lock().map_or(Cause::Ended, |l| l.cause());
        self.workspace
            .report(cause, exit, self.started_at, clock.elapsed())
    }

    /// Send the ladder's due step, if any; how long until the next one
    /// (at most the poll interval).
    fn climb_ladder(&self, note: &dyn Fn(String)) -> Duration {
        let now = Instant::now();
        let (due, deadline) = match self.ladder.lock() {
            Ok(mut ladder) => (ladder.due(now), ladder.deadline()),
            Err(_) => (None, None),
        };
        if let Some((how, text)) = due {
            signal_group(self.pid, how);
            note(text);
        }
        let poll = Duration::from_millis(POLL_MS.into());
        deadline.map_or(poll, |at| at.saturating_duration_since(now).min(poll))
    }
}

/// Wait up to `wait` for output on the `open` pipes and copy what came.
fn pump_ready(
    outputs: &mut [Option<Output>; 2],
    open: &[usize],
    end: Option<&OwnedFd>,
    sink: &dyn OutputSink,
    wait: Duration,
) {
    let ready: Vec<bool> = {
        let mut fds: Vec<PollFd<'_>> = open
            .iter()
            .filter_map(|&i| outputs[i].as_ref().and_then(|o| o.pipe.as_ref()))
            .map(|pipe| PollFd::new(pipe.as_fd(), PollFlags::POLLIN))
            .chain(end.map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN)))
            .collect();
        let ms = u16::try_from(wait.as_millis()).unwrap_or(POLL_MS).max(1);
        match poll(&mut fds, PollTimeout::from(ms)) {
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

/// Send `how` to the module's process group. The group id is the module's
/// pid (`process_group(0)`). Linux does not hand out a pid that is still in
/// use as a process group id, so this reaches the module's group or nothing
/// (ESRCH, ignored).
fn signal_group(pid: i32, how: Stop) {
    let signal = match how {
        Stop::Interrupt => Signal::SIGINT,
        Stop::Terminate => Signal::SIGTERM,
        Stop::Kill => Signal::SIGKILL,
    };
    let _ = killpg(Pid::from_raw(pid), signal);
}

/// A spawn error, worded for the person who wrote `Module`.
fn start_error(program: &str, err: &std::io::Error, workspace: &Workspace) -> StartError {
    let run_dir = Some(workspace.dir.clone());
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
            run_dir,
        },
        ErrorKind::PermissionDenied => StartError {
            message: format!(
                "module `{program}` is not executable; hint: `chmod +x {program}` or \
                 name its interpreter, as in `python3 {program}`"
            ),
            exit_code: 126,
            run_dir: run_dir.clone(),
        },
        _ if err.raw_os_error() == Some(nix::libc::ENOEXEC) => StartError {
            message: format!(
                "module `{program}` is not a program the system can run; hint: start a \
                 script with a `#!` line, or name its interpreter"
            ),
            exit_code: 126,
            run_dir: run_dir.clone(),
        },
        _ => StartError {
            message: format!("failed to start module `{program}`: {err}"),
            exit_code: 126,
            run_dir: run_dir.clone(),
        },
    }
}

/// A module's process group, as the session holds it.
struct LocalProcess {
    pid: i32,
    ladder: Arc<Mutex<Ladder>>,
}

impl Running for LocalProcess {
    fn stop(&mut self, how: Stop, grace: Duration) {
        if let Ok(mut ladder) = self.ladder.lock() {
            ladder.request(how, grace, Instant::now());
        }
        signal_group(self.pid, how);
    }
}
