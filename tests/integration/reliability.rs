//! Nothing lost: a log on a full disk, a store deleted mid-run, a signal
//! while the runner starts, counts too large to expand.

use std::path::{Path, PathBuf};

use crate::hostile::{code, run_in};
use crate::test::{column, documents, read, Test};

/// A module whose results are 40 KB (to fill a small disk quickly).
const PAD_MODULE: &str = r#"#!/bin/sh
pad=$(head -c 40000 /dev/zero | tr '\0' x)
echo "PAD: $pad" > "$COOL_RUNNER_RESULTS"
"#;

/// A tmpfs mounted for one test (root only), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (with a note) when not root: mounting needs it.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("note: not root, no tmpfs: the full-disk test is skipped");
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        if !status.success() {
            eprintln!("note: mounting a tmpfs failed: the full-disk test is skipped");
            return None;
        }
        Some(Self(dir.to_owned()))
    }

    fn resize(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("e{i}")).collect()
}

fn experiments(n: usize, log: &str) -> String {
    let mut text =
        format!("Global: {{repeat: 1, queue: q.yaml}}\nModule: ./pad.sh\nYamlLog: {log}\n");
    for name in names(n) {
        text = text + "---\nName: " + name.as_str() + "\n";
    }
    text
}

#[test]
fn a_full_disk_leaves_the_log_whole_and_the_experiment_queued() {
    let test = Test::new()
        .write_exe("pad.sh", PAD_MODULE)
        .write("exp.yaml", &experiments(8, "full/log.yaml"));
    let Some(disk) = Tmpfs::mount(&test.path().join("full"), "200k") else {
        return;
    };
    let log = test.path().join("full/log.yaml");
    let run = ["run", "--exp", "exp.yaml", "--no-store"];
    let first = run_in(test.path(), &run, 60);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(code(&first), 1, "{stderr}");
    assert!(stderr.contains("stays in the queue"), "{stderr}");
    // Every document whole (`documents` panics otherwise), none lost.
    let logged = column(&documents(&log), "Name");
    assert!(logged.len() < 8, "the disk did not fill: {logged:?}");
    assert_eq!(logged, names(logged.len()));
    let queued = column(&documents(&test.path().join("q.yaml")), "Name");
    assert_eq!(
        queued,
        names(8)[logged.len()..],
        "{}",
        read(&test.path().join("q.yaml"))
    );
    // Space freed: the rerun resumes the queue and completes the log.
    disk.resize("4m");
    let second = run_in(test.path(), &run, 60);
    assert_eq!(
        code(&second),
        0,
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(column(&documents(&log), "Name"), names(8));
}

/// A signal while the runner is still reading and expanding its file: it
/// stops the run (130, nothing started), it does not kill the runner. The
/// experiment file is a FIFO whose second half is written only after the
/// signal was sent, so the signal lands before expansion ends however fast
/// the machine is (a timed sleep raced a fast CI machine: the signal then
/// came while experiments ran, and a first Ctrl-C there only interrupts).
#[test]
fn a_signal_during_startup_stops_the_run_cleanly() {
    use std::io::Write as _;
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let test = Test::new().args(&["run", "--exp", "exp.yaml", "--no-store"]);
        let fifo = test.path().join("exp.yaml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut bg = test.spawn();
        // Opening blocks until the runner opens the file, which it does
        // after installing its signal handlers.
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        writer
            .write_all(b"Global: {repeat: 1}\nModule: echo\n---\n")
            .unwrap();
        bg.signal(signal);
        std::thread::sleep(std::time::Duration::from_millis(100));
        writer.write_all(b"Name: a\nRepeat: 1000\n").unwrap();
        drop(writer);
        let status = bg.wait(120);
        assert_eq!(status, 130, "{signal}: {}", bg.stderr());
        assert!(!bg.path().join("runs").exists(), "nothing started");
    }
}

/// Counts too large to expand are refused before anything is allocated
/// (exit 2, the limit named), not an abort or a machine out of memory.
#[test]
fn huge_counts_are_refused_naming_the_limit() {
    let head = "Global: {repeat: 1}\nModule: echo\n---\n";
    let test = Test::new()
        .write(
            "repeat.yaml",
            &format!("{head}Name: a\nRepeat: 100000000\n"),
        )
        .write(
            "global.yaml",
            "Global: {repeat: 100000000}\nModule: echo\n---\nName: a\n",
        )
        .write(
            "product.yaml",
            "Global: {repeat: 600000}\nModule: echo\n---\nName: a\n---\nName: b\n",
        );
    for (args, limit) in [
        (
            vec!["run", "--exp", "repeat.yaml", "--dry"],
            "limit of 1000000 repeats",
        ),
        (
            vec!["run", "--exp", "global.yaml", "--dry"],
            "(the limit on repeats)",
        ),
        (
            vec!["run", "--exp", "product.yaml", "--dry"],
            "over the limit of 1000000",
        ),
        (
            vec!["run", "--exp", "repeat.yaml", "--pick", "0-99999999999"],
            "over the limit of 1000000 experiments",
        ),
    ] {
        let output = run_in(test.path(), &args, 20);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(code(&output), 2, "{args:?}: {stderr}");
        assert!(stderr.contains(limit), "{args:?}: {stderr}");
    }
}

/// A module that deletes (or empties) the store once, as a person might.
const STORE_MODULE: &str = r#"#!/bin/sh
if [ ! -e once ]; then
  touch once
  case "$1" in
    rm) rm -f .cool-runner/store.sqlite ;;
    empty) : > .cool-runner/store.sqlite ;;
  esac
fi
echo "OK: 1" > "$COOL_RUNNER_RESULTS"
"#;

#[test]
fn a_store_deleted_or_emptied_mid_run_is_recreated_with_a_warning() {
    for how in ["rm", "empty"] {
        let experiments = "Global: {repeat: 1}\nModule: ./store.sh\n\
                           ---\nName: a\n---\nName: b\n---\nName: c\n";
        let test = Test::new()
            .write_exe("store.sh", STORE_MODULE)
            .write("exp.yaml", experiments);
        let output = run_in(test.path(), &["run", "--exp", "exp.yaml", "--", how], 60);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(code(&output), 0, "{stderr}");
        let warned = stderr
            .matches("was deleted or emptied during the run")
            .count();
        assert_eq!(warned, 1, "{how}: {stderr}");
        let store = test.path().join(".cool-runner/store.sqlite");
        let conn = rusqlite::Connection::open(&store).unwrap();
        let done: i64 = conn
            .query_row("SELECT count(*) FROM runs WHERE status = 'done'", [], |r| {
                r.get(0)
            })
            .unwrap();
        // `a`, running when its row was lost, is written again.
        assert_eq!(done, 3, "{how}: results recorded after the deletion");
    }
}

const TOKEN: &str = "xoxb-1234567890-secret-token";

/// Prints the token it was given everywhere it can, then fails.
const LEAKY_MODULE: &str = r#"#!/bin/sh
echo "stdout: [$SLACK_BOT_TOKEN]"
echo "stderr: [$SLACK_BOT_TOKEN]" >&2
echo "SEEN: '[$SLACK_BOT_TOKEN]'" > "$COOL_RUNNER_RESULTS"
exit 1
"#;

/// Every file under `dir` that the runner writes, as text (not the
/// module's own `results.yaml`).
fn all_text(dir: &Path) -> String {
    walk(dir)
        .into_iter()
        .filter(|p| !p.ends_with("results.yaml"))
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned())
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_slack_token_is_withheld_from_modules_and_never_written() {
    let exp = "Global: {repeat: 1}\nModule: ./leak.sh\nYamlLog: log.yaml\n---\nName: a\n";
    // By default the module does not get the token.
    let ran = Test::new()
        .write_exe("leak.sh", LEAKY_MODULE)
        .write("exp.yaml", exp)
        .env("SLACK_BOT_TOKEN", TOKEN)
        .args(&["run", "--exp", "exp.yaml"])
        .run()
        .status(1);
    assert_eq!(
        column(&documents(&ran.dir.join("log.yaml")), "SEEN"),
        ["[]"]
    );
    // Passed on deliberately, it is still redacted from everything the
    // runner writes: log, store, run directory, its own output.
    let ran = Test::new()
        .write_exe("leak.sh", LEAKY_MODULE)
        .write("exp.yaml", exp)
        .env("SLACK_BOT_TOKEN", TOKEN)
        .env("COOL_RUNNER_PASS_ENV", "SLACK_BOT_TOKEN")
        .args(&["run", "--exp", "exp.yaml"])
        .run()
        .status(1);
    let log = documents(&ran.dir.join("log.yaml"));
    assert_eq!(column(&log, "SEEN"), ["[REDACTED_SLACK_BOT_TOKEN]"]);
    assert!(column(&log, "STDERR_TAIL")[0].contains("REDACTED_SLACK_BOT_TOKEN"));
    let everything = [all_text(&ran.dir), ran.stdout(), ran.stderr()].concat();
    assert!(!everything.contains(TOKEN), "{everything}");
    assert!(ran.stdout().contains("stdout: [REDACTED_SLACK_BOT_TOKEN]"));
}

/// `kill -9` of the runner does not leave its module running unwatched
/// (the next runner would start the same experiment beside it): the
/// module gets SIGTERM when the runner dies.
#[test]
fn a_module_does_not_outlive_a_killed_runner() {
    let mut bg = Test::new()
        .write_exe(
            "m.sh",
            "#!/bin/sh\necho $$ > module.pid\nsleep 30\necho finished > finished.txt\n",
        )
        .write("exp.yaml", "Global: {}\nModule: ./m.sh\n---\nName: a\n")
        .args(&["run", "--exp", "exp.yaml", "--no-store"])
        .spawn();
    bg.wait_for(10, "the module to start", |b| {
        !read(&b.path().join("module.pid")).trim().is_empty()
    });
    let pid: i32 = read(&bg.path().join("module.pid")).trim().parse().unwrap();
    let module = nix::unistd::Pid::from_raw(pid);
    assert!(nix::sys::signal::kill(module, None).is_ok(), "module runs");
    bg.signal(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(bg.wait(10), 128 + 9);
    bg.wait_for(10, "the module to end with the runner", |_| {
        nix::sys::signal::kill(module, None).is_err()
    });
}
