//! One file per subcommand: each turns its parsed arguments into work done
//! by the library's stages and returns an exit status.

pub(crate) mod attach;
pub(crate) mod collect;
mod dry;
pub(crate) mod exec;
pub(crate) mod explain;
mod explain_waits;
pub(crate) mod filter;
mod graph;
pub(crate) mod log;
pub(crate) mod output_file;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod shell;
pub(crate) mod status;
