//! Writing YAML streams: every document starts with `---`, so streams can be
//! concatenated and appended to safely.

use std::io::{self, Write};

use serde::Serialize;

/// Serialize one document, `---` line included, into a byte buffer.
pub fn document_bytes<T: Serialize>(doc: &T) -> Result<Vec<u8>, yaml_serde::Error> {
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(b"---\n");
    yaml_serde::to_writer(&mut buf, doc)?;
    Ok(buf)
}

/// Write documents to `out` as one multi-document stream.
pub fn write_documents<'a, T, W>(
    out: &mut W,
    docs: impl IntoIterator<Item = &'a T>,
) -> io::Result<()>
where
    T: Serialize + 'a,
    W: Write,
{
    let mut buf = Vec::with_capacity(4096);
    for doc in docs {
        buf.clear();
        buf.extend_from_slice(b"---\n");
        yaml_serde::to_writer(&mut buf, doc).map_err(io::Error::other)?;
        out.write_all(&buf)?;
    }
    out.flush()
}
