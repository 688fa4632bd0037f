//! YAML in and out: the document reader with positions (`read`), the fast
//! reader for flat log documents (`fast`), the stream splitter for logs
//! (`stream`), the writer (`write`) and the limits on what is read
//! (`limits`).

pub(crate) mod fast;
pub(crate) mod limits;
pub(crate) mod read;
pub(crate) mod stream;
pub(crate) mod write;
