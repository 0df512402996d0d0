//! Running the `bureau` binary from integration tests: one clean
//! environment and one report of what a run did, shared by every test
//! binary that drives the CLI.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bureau");

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Parses stdout as one JSON document.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        match serde_json::from_str(&self.stdout) {
            Ok(v) => v,
            Err(e) => panic!("stdout is not the JSON expected: {e}\n{self}"),
        }
    }

    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let out: String = self.stdout.chars().take(2000).collect();
        write!(f, "exit {}\n--- stdout\n{out}\n--- stderr\n{}", self.code, self.stderr)
    }
}

/// A `bureau` command with a clean environment for logs and the store.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("BUREAU_LOG")
        .env_remove("BUREAU_DB")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

pub fn run_command(mut cmd: Command) -> Run {
    let out = cmd.output().expect("the bureau binary runs");
    Run {
        // A signal (a crash) has no code: make it fail every expectation.
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run(args: &[&str]) -> Run {
    run_command(command(args))
}

/// Runs `bureau --db DB ARGS`.
pub fn run_on(db: &Path, args: &[&str]) -> Run {
    let mut cmd = command(&["--db", s(db)]);
    cmd.args(args);
    run_command(cmd)
}

pub fn s(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
