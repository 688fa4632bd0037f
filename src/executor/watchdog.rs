//! Modules do not outlive a killed runner: a small process, this binary
//! started as `cool-runner __watchdog`, holds the read end of a pipe whose
//! write end only the runner holds, and the runner tells it each module's
//! process group as the module starts (`+PGID`) and ends (`-PGID`). When
//! the runner ends — `kill -9`, out of memory, or normally — the pipe
//! closes and the watchdog sends SIGTERM to every group it still knows,
//! then exits.
//!
//! Why not `PR_SET_PDEATHSIG` in the module before `exec`, as before: a
//! `pre_exec` step makes `std` start each module with `fork`, which copies
//! the runner's page tables and write-protects its memory, so the runner
//! pays for every page it touches afterwards, and more so with threads
//! running on the other core (TLB shootdowns). Without it `std` starts
//! modules with `posix_spawn` (`clone(CLONE_VM | CLONE_VFORK)` in glibc).
//! On 1,000 `/bin/true` experiments (`bench/serve.sh` part 4, CPU time of
//! the process tree) the runner's own overhead went from 1.71 to 1.15 ms per
//! experiment, and `run --serve` with a page open from +40 % of it to about
//! nothing. The watchdog also stops the module's whole group (its own
//! children too), where the death signal reached the module alone.
//!
//! One window is left: a runner killed between a module's start and the
//! line that names its group (one pipe write) leaves that module running.
//! If the watchdog cannot be started or has gone, modules are started the
//! old way, with the death signal.

use std::collections::BTreeSet;
use std::io::{BufRead as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

use nix::sys::signal::{killpg, signal, SigHandler, Signal};
use nix::unistd::Pid;

/// The hidden command line word that makes the binary a watchdog.
pub(crate) const COMMAND: &str = "__watchdog";

/// The runner's end of its watchdog.
pub(crate) struct Watchdog {
    pipe: Mutex<Option<ChildStdin>>,
    _process: Child,
}

impl Watchdog {
    /// Start the watchdog: this very binary (`/proc/self/exe`, which works
    /// even if the file was replaced since), in a process group of its own
    /// so that the terminal's Ctrl-C does not reach it.
    pub(crate) fn start() -> std::io::Result<Self> {
        let mut process = Command::new("/proc/self/exe")
            .arg0("cool-runner")
            .arg(COMMAND)
            .arg(std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = process.stdin.take();
        Ok(Self {
            pipe: Mutex::new(pipe),
            _process: process,
        })
    }

    /// Tell the watchdog a module's group; `false` when it has gone (the
    /// module is then not covered).
    pub(crate) fn watch(&self, pgid: i32) -> bool {
        self.send(&format!("+{pgid}\n"))
    }

    /// The module of group `pgid` has ended and been reaped.
    pub(crate) fn forget(&self, pgid: i32) {
        self.send(&format!("-{pgid}\n"));
    }

    /// Whether the watchdog is still there (as far as the runner knows).
    pub(crate) fn alive(&self) -> bool {
        self.pipe.lock().is_ok_and(|pipe| pipe.is_some())
    }

    fn send(&self, line: &str) -> bool {
        let Ok(mut pipe) = self.pipe.lock() else {
            return false;
        };
        let sent = pipe
            .as_mut()
            .is_some_and(|p| p.write_all(line.as_bytes()).is_ok());
        if !sent {
            *pipe = None;
        }
        sent
    }
}

/// `cool-runner __watchdog`: follow the lines on standard input, then stop
/// every group still named when it closes. Returns the exit status.
pub(crate) fn run() -> i32 {
    // Hang-ups and the terminal's keys are for the runner, which stops its
    // modules itself; this process ends when the runner does.
    for sig in [Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT] {
        // SAFETY: ignoring a signal installs no handler code.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    let lines = std::io::stdin().lock().lines().map_while(Result::ok);
    for pgid in follow(lines) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
    }
    0
}

/// The groups named (`+PGID`) and not forgotten (`-PGID`) by `lines`;
/// other lines are ignored, and so are the groups 0 and 1.
fn follow(lines: impl Iterator<Item = String>) -> BTreeSet<i32> {
    let mut groups = BTreeSet::new();
    for line in lines {
        if let Some(Ok(pgid)) = line.strip_prefix('+').map(str::parse::<i32>) {
            if pgid > 1 {
                groups.insert(pgid);
            }
        } else if let Some(Ok(pgid)) = line.strip_prefix('-').map(str::parse::<i32>) {
            groups.remove(&pgid);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_named_and_not_forgotten_are_kept() {
        let lines = [
            "+40", "+41", "junk", "", "-41", "+1", "+0", "+-5", "+42", "-99", "é", "+é",
        ];
        let groups = super::follow(lines.iter().map(|l| (*l).to_owned()));
        assert_eq!(groups.into_iter().collect::<Vec<_>>(), vec![40, 42]);
    }
}
