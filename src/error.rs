//! The top-level error and the exit status of each kind of failure.

use crate::config::ConfigError;

/// Exit statuses (SPEC §6).
pub mod exit {
    /// Everything went as asked.
    pub const OK: i32 = 0;
    /// At least one experiment failed.
    pub const FAILED: i32 = 1;
    /// Bad input: nothing was run.
    pub const BAD_INPUT: i32 = 2;
    /// Stopped by the user (128 + SIGINT).
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error("failed to write output: {0}")]
    Output(#[source] std::io::Error),
    #[error("{0}")]
    Other(#[from] anyhow::Error),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config(_) | Self::Usage(_) => exit::BAD_INPUT,
            Self::Output(_) | Self::Other(_) => exit::FAILED,
        }
    }
}
