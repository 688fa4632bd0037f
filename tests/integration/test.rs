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

pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cool-runner")
}

/// The repository root (for `experiments/` and `modules/`).
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Test {
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
