//! The queue file's journal, `.<name>.journal` next to it: what the runner
//! did to the queue since it last wrote the file, one small record per
//! change, appended with a single `write` (so a kill -9 never loses or
//! tears one) and fsync'ed with the group commit.
//!
//! Records (a header line, then `len` bytes of YAML text where it says so):
//!
//! ```text
//! base INO LEN MTIME NSEC      the file version the records below apply to
//! source HEX                   digest of the experiment file the queue came from
//! take DIGEST TICKET|- RESTLEN RUNLEN DIRLEN
//!      <rest><run><dir>        the head document (by digest of its text) left
//!                              the queue, `rest` took its place, `run` started
//!                              in run directory `dir`
//! done TICKET                  that experiment ended and was logged
//! requeue TICKET...            those experiments are back at the head
//! wrote INO LEN MTIME NSEC     the changes above are in a file of this version
//! ```
//!
//! The journal is replaced (compacted) after each rewrite of the file: it
//! then holds `base`, `source` and the experiments still running.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::api::{QueueError, Ticket};
use super::disk::Stamp;

/// A digest of a document's text.
pub(crate) type Digest = [u8; 16];

pub(crate) fn digest(text: &str) -> Digest {
    let hash = blake3::hash(text.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&hash.as_bytes()[..16]);
    out
}

/// A digest of the experiment file at `path` and `args` (the `source`
/// record: resuming says when they changed).
pub(crate) fn source_digest(path: &Path, args: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&std::fs::read(path).unwrap_or_default());
    hasher.update(args.as_bytes());
    hex(&hasher.finalize().as_bytes()[..16])
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(text: &str) -> Option<Digest> {
    let mut out = [0; 16];
    if text.len() != 32 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    Base(Stamp),
    Source(String),
    Take {
        digest: Digest,
        ticket: Option<Ticket>,
        rest: String,
        run: String,
        /// The run directory of `run` (empty when none started).
        run_dir: String,
    },
    Done(Ticket),
    Requeue(Vec<Ticket>),
    Wrote(Stamp),
}

impl Record {
    fn encode(&self) -> String {
        match self {
            Self::Base(stamp) => format!("base {stamp}\n"),
            Self::Source(hash) => format!("source {hash}\n"),
            Self::Take {
                digest,
                ticket,
                rest,
                run,
                run_dir,
            } => {
                let ticket = ticket.map_or_else(|| "-".to_owned(), |t| t.to_string());
                format!(
                    "take {} {ticket} {} {} {}\n{rest}{run}{run_dir}",
                    hex(digest),
                    rest.len(),
                    run.len(),
                    run_dir.len()
                )
            }
            Self::Done(ticket) => format!("done {ticket}\n"),
            Self::Requeue(tickets) => {
                let list: Vec<String> = tickets.iter().map(ToString::to_string).collect();
                format!("requeue {}\n", list.join(" "))
            }
            Self::Wrote(stamp) => format!("wrote {stamp}\n"),
        }
    }
}

/// The records of a journal's text, up to the first torn or unknown one.
pub(crate) fn decode(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find('\n') {
        let line = &rest[..end];
        let mut after = &rest[end + 1..];
        let mut words = line.split(' ');
        let op = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let record = match (op, args.as_slice()) {
            ("base", _) => Stamp::parse(&args).map(Record::Base),
            ("wrote", _) => Stamp::parse(&args).map(Record::Wrote),
            ("source", [hash]) => Some(Record::Source((*hash).to_owned())),
            ("done", [t]) => t.parse().ok().map(Record::Done),
            ("requeue", list) => list
                .iter()
                .map(|t| t.parse().ok())
                .collect::<Option<Vec<Ticket>>>()
                .map(Record::Requeue),
            ("take", [d, t, lens @ ..]) if lens.len() == 3 => (|| {
                let lens: Vec<usize> =
                    lens.iter().map(|l| l.parse().ok()).collect::<Option<_>>()?;
                let (r, n) = (lens[0], lens[0] + lens[1]);
                let rest = after.get(..r)?.to_owned();
                let run = after.get(r..n)?.to_owned();
                let run_dir = after.get(n..n + lens[2])?.to_owned();
                after = &after[n + lens[2]..];
                Some(Record::Take {
                    digest: unhex(d)?,
                    ticket: if *t == "-" {
                        None
                    } else {
                        Some(t.parse().ok()?)
                    },
                    rest,
                    run,
                    run_dir,
                })
            })(),
            _ => None,
        };
        let Some(record) = record else { break };
        out.push(record);
        rest = after;
    }
    out
}

/// The journal file, open for appending.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    dirty: bool,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> QueueError + 'a {
    move |source| QueueError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// `.<name>.<suffix>` next to the queue file.
pub(crate) fn sidecar(queue: &Path, suffix: &str) -> PathBuf {
    let name = queue
        .file_name()
        .map_or_else(|| "queue".into(), |n| n.to_string_lossy());
    queue.with_file_name(format!(".{name}.{suffix}"))
}

impl Journal {
    /// The records of the journal of `queue` (none if it has none).
    pub(crate) fn read(queue: &Path) -> Result<Vec<Record>, QueueError> {
        let path = sidecar(queue, "journal");
        let mut text = String::new();
        match File::open(&path) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)
                    .map_err(io("read the journal of", queue))?;
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read the journal of", queue)(e)),
        }
        Ok(decode(&text))
    }

    /// Replace the journal of `queue` with `records` (fsync'ed, renamed).
    pub(crate) fn create(queue: &Path, records: &[Record]) -> Result<Self, QueueError> {
        let path = sidecar(queue, "journal");
        let text: String = records.iter().map(Record::encode).collect();
        let tmp = sidecar(queue, "journal.new.tmp");
        let err = io("write the journal of", queue);
        let mut file = File::create(&tmp).map_err(&err)?;
        file.write_all(text.as_bytes()).map_err(&err)?;
        file.sync_all().map_err(&err)?;
        std::fs::rename(&tmp, &path).map_err(&err)?;
        let file = OpenOptions::new().append(true).open(&path).map_err(&err)?;
        Ok(Self {
            path,
            file,
            dirty: false,
        })
    }

    /// Open the journal of `queue` for appending (created if missing).
    pub(crate) fn append_to(queue: &Path) -> Result<Self, QueueError> {
        let path = sidecar(queue, "journal");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("open the journal of", queue))?;
        Ok(Self {
            path,
            file,
            dirty: false,
        })
    }

    /// Append one record with a single `write` (durable at `sync`).
    pub(crate) fn append(&mut self, record: &Record) -> Result<(), QueueError> {
        self.file
            .write_all(record.encode().as_bytes())
            .map_err(io("append to the journal", &self.path))?;
        self.dirty = true;
        Ok(())
    }

    /// fsync what was appended.
    pub(crate) fn sync(&mut self) -> Result<(), QueueError> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(io("sync the journal", &self.path))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Delete the journal (the queue is finished).
    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_ignored() {
        let stamp = Stamp::parse(&["1", "2", "3", "4"]).unwrap();
        let records = [
            Record::Base(stamp),
            Record::Source("ab12".into()),
            Record::Take {
                digest: digest("a: 1\n"),
                ticket: Some(7),
                rest: "--- # x\nb: 2\n".into(),
                run: "--- # x\na: 1\nREP: 0\n".into(),
                run_dir: "runs/s-007-a".into(),
            },
            Record::Take {
                digest: digest("c"),
                ticket: None,
                rest: String::new(),
                run: String::new(),
                run_dir: String::new(),
            },
            Record::Done(7),
            Record::Requeue(vec![3, 1]),
            Record::Wrote(stamp),
        ];
        let text: String = records.iter().map(Record::encode).collect();
        assert_eq!(decode(&text), records);
        let torn = &text[..text.len() - 3];
        assert_eq!(decode(torn), records[..6]);
        let half_take = text.find("--- # x\na: 1").unwrap();
        assert_eq!(decode(&text[..half_take]), records[..2]);
    }
}
