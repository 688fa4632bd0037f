//! Errors in experiment files, with the place they happened.

use std::fmt;
use std::path::PathBuf;

use crate::expr::ExprError;

/// Where in an experiment file something went wrong. Every part is optional
/// because YAML does not always say, but as many as are known are printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Index of the YAML document in the file (0 is the default config).
    pub document: Option<usize>,
    /// Index in the expanded queue (what `--pick` counts).
    pub experiment: Option<usize>,
    /// The experiment's `Name`, when it has a plain one.
    pub name: Option<String>,
    /// Dotted key path, e.g. `nested.test`.
    pub key: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        let mut parts = Vec::new();
        if let Some(document) = self.document {
            parts.push(if document == 0 {
                "document 0 (default config)".to_owned()
            } else {
                format!("document {document}")
            });
        }
        if let Some(experiment) = self.experiment {
            parts.push(match &self.name {
                Some(name) => format!("experiment {experiment} `{name}`"),
                None => format!("experiment {experiment}"),
            });
        }
        if let Some(key) = &self.key {
            parts.push(format!("key `{key}`"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Everything that makes an experiment file unusable. All are bad input
/// (exit status 2), and nothing runs.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read `{path}`: {source}", path = path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid YAML at {location}: {message}")]
    Yaml { location: Location, message: String },
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
    #[error("{location}: failed to evaluate `{expr}`: {source}")]
    Expr {
        location: Location,
        expr: String,
        source: ExprError,
    },
    #[error("invalid override `{arg}`: {message}")]
    Override { arg: String, message: String },
}

impl ConfigError {
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Yaml { location, .. }
            | Self::Invalid { location, .. }
            | Self::Expr { location, .. } => Some(location),
            Self::Read { .. } | Self::Override { .. } => None,
        }
    }
}
