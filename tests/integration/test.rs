//! A small fluent builder around the real binary, one tempdir per test.
#![allow(
    dead_code,
    reason = "helpers shared by every test module; not all use all of them"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) struct Test {
    pub(crate) dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

pub(crate) struct Ran {
    pub(crate) output: Output,
    pub(crate) dir: PathBuf,
}

/// The binary under test: the one just built, or `COOL_RUNNER_TEST_BIN`
/// (to show that a regression test fails on an older binary).
pub(crate) fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("COOL_RUNNER_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_cool-runner").to_owned())
    })
}

/// The repository root (for `experiments/` and `modules/`).
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copy the files (not subdirectories) of `from` into `to`.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

impl Test {
    /// Copy these directories of the repository (`modules`, `experiments`)
    /// into the test directory.
    pub(crate) fn with_repo_dirs(self, dirs: &[&str]) -> Self {
        for dir in dirs {
            copy_dir(&repo().join(dir), &self.path().join(dir));
        }
        self
    }

    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file relative to the test directory.
    pub(crate) fn write(self, name: &str, text: &str) -> Self {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
        self
    }

    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|s| (*s).to_owned()));
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(self.dir.path()).args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub(crate) fn run(self) -> Ran {
        let output = self.command().output().expect("run cool-runner");
        Ran {
            output,
            dir: self.dir.keep(),
        }
    }
}

impl Ran {
    /// The test directory (kept until `Ran` is dropped).
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub(crate) fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    /// Assert the exit status, showing stderr when it differs.
    pub(crate) fn status(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "exit status; stderr:\n{}\nstdout:\n{}",
            self.stderr(),
            self.stdout()
        );
        self
    }

    /// The stdout as YAML documents.
    pub(crate) fn documents(&self) -> Vec<yaml_serde::Value> {
        use serde::Deserialize;
        yaml_serde::Deserializer::from_str(&self.stdout())
            .map(|d| yaml_serde::Value::deserialize(d).expect("valid YAML on stdout"))
            .collect()
    }
}

impl Drop for Ran {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Test {
    /// Write an executable file (a module) relative to the test directory.
    pub(crate) fn write_exe(self, name: &str, text: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let written = self.write(name, text);
        let file = written.dir.path().join(name);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        written
    }

    /// Start the runner in the background, stderr and stdout into files.
    pub(crate) fn spawn(self) -> Bg {
        let stderr = std::fs::File::create(self.dir.path().join("runner.err")).unwrap();
        let stdout = std::fs::File::create(self.dir.path().join("runner.out")).unwrap();
        let child = self
            .command()
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn cool-runner");
        Bg {
            child,
            dir: self.dir,
        }
    }
}

/// A runner working in the background.
pub(crate) struct Bg {
    pub(crate) child: std::process::Child,
    pub(crate) dir: tempfile::TempDir,
}

impl Bg {
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).unwrap();
    }

    pub(crate) fn stderr(&self) -> String {
        read(&self.dir.path().join("runner.err"))
    }

    /// Wait for the runner to exit; kill it and fail after `secs`.
    pub(crate) fn wait(&mut self, secs: u64) -> i32 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                return status.code().unwrap_or(128 + status.signal().unwrap_or(0));
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the runner did not finish in {secs} s; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Wait until `what` holds (checked every 10 ms), failing after `secs`.
    pub(crate) fn wait_for(&self, secs: u64, what: &str, mut check: impl FnMut(&Self) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while !check(self) {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A file's text, or "" if it does not exist.
pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Every document of a YAML file (panics on invalid YAML: a log must
/// always be whole).
pub(crate) fn documents(path: &Path) -> Vec<yaml_serde::Value> {
    use serde::Deserialize;
    let text = read(path);
    let mut out = Vec::new();
    for de in yaml_serde::Deserializer::from_str(&text) {
        match yaml_serde::Value::deserialize(de) {
            Ok(v) if v.is_null() => {}
            Ok(v) => out.push(v),
            Err(e) => panic!("{} is not valid YAML: {e}\n{text}", path.display()),
        }
    }
    out
}

/// `key` of every document, as strings.
pub(crate) fn column(docs: &[yaml_serde::Value], key: &str) -> Vec<String> {
    docs.iter()
        .map(|d| match &d[key] {
            yaml_serde::Value::String(s) => s.clone(),
            yaml_serde::Value::Null => "~".to_owned(),
            other => yaml_serde::to_string(other).unwrap().trim().to_owned(),
        })
        .collect()
}

/// A shell module that appends its `Name` to `order.txt`, sleeps `nap`
/// seconds (a key of the experiment), and reports `RAN: true`.
pub(crate) const NAP_MODULE: &str = r#"#!/bin/sh
get() { sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$COOL_RUNNER_EXPERIMENT" | head -n 1; }
name=$(get Name)
nap=$(get nap)
echo "$name" >> order.txt
sleep "${nap:-0}"
echo "RAN: true" > "$COOL_RUNNER_RESULTS"
"#;
