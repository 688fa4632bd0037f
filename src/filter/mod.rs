//! The query engine behind `filter`: select, sort, project and tabulate
//! logged experiments, or aggregate them by configuration.

pub(crate) mod aggregate;
pub(crate) mod fast_out;
pub(crate) mod format;
pub(crate) mod input;
pub(crate) mod one_pass;
pub(crate) mod query;
pub(crate) mod sort;
pub(crate) mod stream_out;
pub(crate) mod table;
