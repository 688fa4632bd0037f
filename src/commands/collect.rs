//! The `collect` subcommand: gather every mapping document of the `.yaml`
//! and `.yml` files under some paths into one timestamped log.
//!
//! Files are visited in a fixed order (directory entries sorted by name) and
//! handled in batches: the batch's files are read and parsed on all cores,
//! then written in walk order. Memory therefore depends on the batch, never
//! on the number of files. A valid document is copied as written (its text,
//! not a re-serialisation), which keeps comments, number spellings and key
//! order, and is several times faster; files the fast splitter cannot take
//! apart are parsed whole and their documents serialised again.
//!
//! The runner's own files are skipped unless `--all` is given: its run
//! directories (their `results.yaml` is in the log already; see
//! `executor::is_run_dir`), its `.cool-runner/` folder (store, queue file),
//! queue files elsewhere (`Global.queue`, recognised by their header) and
//! experiment files (whose first document has `Global`). A path named on
//! the command line is always read.

use std::cell::Cell;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;
use yaml_serde::Value;

use crate::cli::CollectArgs;
use crate::commands::output_file::create_timestamped;
use crate::error::{exit, Error};
use crate::executor::is_run_dir;
use crate::yaml::fast::is_plain_mapping;
use crate::yaml::limits::read_text;
use crate::yaml::stream::{parse_file, parse_piece, split};
use crate::yaml::write::value_document_bytes;

/// Files per batch: enough to keep every core busy, small enough that the
/// batch's texts stay a few megabytes.
const BATCH: usize = 256;

/// `collect`'s arguments, resolved.
#[derive(Debug, Clone)]
pub(crate) struct CollectSettings {
    pub paths: Vec<PathBuf>,
    pub exclude: Vec<OsString>,
    pub dest: PathBuf,
    pub verbose: bool,
    /// Read the runner's own files too.
    pub all: bool,
    /// Larger files are skipped (`--max-size`).
    pub max_size: u64,
}

impl CollectSettings {
    pub(crate) fn from_args(args: CollectArgs) -> Result<Self, Error> {
        if args.paths.is_empty() {
            return Err(Error::Usage(
                "`collect` needs at least one path to walk; hint: `cool-runner collect logs/`"
                    .to_owned(),
            ));
        }
        Ok(Self {
            paths: args.paths,
            exclude: args.exclude.into_iter().map(OsString::from).collect(),
            dest: args.dest,
            verbose: args.verbose,
            all: args.all,
            max_size: args.max_size,
        })
    }
}

/// What `collect` found, for the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CollectStats {
    /// YAML files read and parsed.
    pub files: usize,
    /// Mapping documents written.
    pub documents: usize,
    /// Documents that are not mappings (a list, a scalar, an empty `---`).
    pub ignored: usize,
    /// Files or directories that could not be read or parsed.
    pub skipped: usize,
    /// Run directories left out (without `--all`).
    pub run_dirs: usize,
    /// `.cool-runner/` folders and queue files left out.
    pub runner_files: usize,
    /// Experiment files left out.
    pub experiment_files: usize,
}

/// The runner's folder of state (store, queue file), skipped by default.
const RUNNER_FOLDER: &str = ".cool-runner";

/// How the runner's queue file starts (`src/queue/file.rs`, `HEADER`).
const QUEUE_HEADER: &str = "# cool-runner queue:";

/// What became of one file.
enum FileOutcome {
    /// The output bytes of its mapping documents.
    Read {
        bytes: Vec<u8>,
        documents: usize,
        ignored: usize,
        /// An experiment file or a queue file, not a log.
        runner_input: Option<RunnerInput>,
    },
    /// Unreadable or invalid: the message names the file (and line).
    Skipped(String),
}

/// A file the runner reads rather than writes as a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunnerInput {
    /// Its first document has `Global`.
    Experiments,
    /// It starts with the queue file's header.
    Queue,
}

impl RunnerInput {
    /// What `text` (a whole file) is, when it is the runner's.
    fn of(text: &str) -> Option<Self> {
        if text.starts_with(QUEUE_HEADER) {
            return Some(Self::Queue);
        }
        let first = split(text).into_iter().next()?;
        if !first.text.contains("Global") {
            return None;
        }
        match parse_piece(&first) {
            Ok(Some(Value::Mapping(map))) if map.contains_key("Global") => Some(Self::Experiments),
            _ => None,
        }
    }
}

/// Whether a file's text is the runner's input (an experiment or queue
/// file) rather than a log: `filter DIR` skips those too.
pub(crate) fn is_runner_input(text: &str) -> bool {
    RunnerInput::of(text).is_some()
}

/// Whether `dir` is the runner's folder of state or a run directory.
pub(crate) fn is_runner_dir(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == RUNNER_FOLDER) || is_run_dir(dir)
}

/// Run `collect`: returns the exit status.
pub(crate) fn collect(settings: &CollectSettings) -> Result<i32, Error> {
    for path in &settings.paths {
        if std::fs::symlink_metadata(path).is_err() {
            return Err(Error::Usage(format!(
                "failed to collect `{}`: no such file or directory",
                path.display()
            )));
        }
    }
    let (out_path, file) = create_timestamped(&settings.dest, "logs", "yaml").map_err(|err| {
        Error::Usage(format!(
            "failed to create the output file in `{}`: {err}",
            settings.dest.display()
        ))
    })?;
    let mut collector = Collector {
        settings,
        own_output: out_path.canonicalize().unwrap_or_else(|_| out_path.clone()),
        out: BufWriter::with_capacity(1 << 20, file),
        batch: Vec::with_capacity(BATCH),
        stats: CollectStats::default(),
        threads: std::thread::available_parallelism().map_or(1, usize::from),
    };
    collector.walk()?;
    collector.out.flush().map_err(Error::Output)?;
    let stats = collector.stats;

    println!("{}", out_path.display());
    let mut summary = format!(
        "collected {} from {} into `{}`",
        plural(stats.documents, "document"),
        plural(stats.files, "file"),
        out_path.display()
    );
    if stats.ignored > 0 {
        let _ = write!(
            summary,
            "; ignored {} that {} not a mapping",
            plural(stats.ignored, "document"),
            if stats.ignored == 1 { "is" } else { "are" }
        );
    }
    let _ = write!(
        summary,
        "; skipped {}",
        plural(stats.skipped, "unreadable or invalid path")
    );
    let mine = [
        (stats.run_dirs, "run directory", "run directories"),
        (
            stats.runner_files,
            "state folder or queue file",
            "state folders or queue files",
        ),
        (
            stats.experiment_files,
            "experiment file",
            "experiment files",
        ),
    ];
    let left_out: Vec<String> = mine
        .iter()
        .filter(|(n, ..)| *n > 0)
        .map(|&(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
        .collect();
    if !left_out.is_empty() {
        let _ = write!(
            summary,
            "; left out the runner's own {} (`--all` reads them)",
            left_out.join(", ")
        );
    }
    eprintln!("{summary}");
    Ok(exit::OK)
}

pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

struct Collector<'a> {
    settings: &'a CollectSettings,
    /// The file being written, which may lie inside a walked directory.
    own_output: PathBuf,
    out: BufWriter<File>,
    batch: Vec<PathBuf>,
    stats: CollectStats,
    threads: usize,
}

impl Collector<'_> {
    fn walk(&mut self) -> Result<(), Error> {
        let settings = self.settings;
        let (run_dirs, runner_folders) = (Cell::new(0), Cell::new(0));
        let runners = |entry: &walkdir::DirEntry| -> bool {
            if settings.all || !entry.file_type().is_dir() {
                return false;
            }
            if entry.file_name() == RUNNER_FOLDER {
                runner_folders.set(runner_folders.get() + 1);
                return true;
            }
            let run_dir = is_run_dir(entry.path());
            run_dirs.set(run_dirs.get() + usize::from(run_dir));
            run_dir
        };
        for root in &settings.paths {
            let walker = WalkDir::new(root)
                .sort_by_file_name()
                .into_iter()
                // A path given on the command line is never excluded.
                .filter_entry(|e| {
                    e.depth() == 0
                        || !(settings.exclude.iter().any(|x| x == e.file_name()) || runners(e))
                });
            for entry in walker {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(err) => {
                        let path = err.path().unwrap_or(root).display().to_string();
                        eprintln!("warning: skipped `{path}`: {}", io_message(&err));
                        self.stats.skipped += 1;
                        continue;
                    }
                };
                if entry.file_type().is_dir() {
                    if settings.verbose {
                        eprintln!("visiting {}", entry.path().display());
                    }
                    continue;
                }
                // Files named on the command line are read whatever their
                // extension; inside directories only `.yaml` and `.yml`.
                if entry.depth() > 0 && !is_yaml(entry.path()) {
                    continue;
                }
                if self.is_own_output(entry.path()) {
                    continue;
                }
                self.batch.push(entry.into_path());
                if self.batch.len() == BATCH {
                    self.flush_batch()?;
                }
            }
        }
        self.stats.run_dirs += run_dirs.get();
        self.stats.runner_files += runner_folders.get();
        self.flush_batch()
    }

    fn is_own_output(&self, path: &Path) -> bool {
        path.file_name() == self.own_output.file_name()
            && path.canonicalize().is_ok_and(|p| p == self.own_output)
    }

    /// Read and parse the batch on every core, then write it in order.
    fn flush_batch(&mut self) -> Result<(), Error> {
        let batch = std::mem::take(&mut self.batch);
        let max_size = self.settings.max_size;
        let per_thread = batch.len().div_ceil(self.threads).max(1);
        let outcomes: Vec<Vec<FileOutcome>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .chunks(per_thread)
                .map(|chunk| {
                    scope.spawn(move || chunk.iter().map(|p| read_file(p, max_size)).collect())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for outcome in outcomes.into_iter().flatten() {
            match outcome {
                FileOutcome::Read {
                    runner_input: Some(kind),
                    ..
                } if !self.settings.all => match kind {
                    RunnerInput::Experiments => self.stats.experiment_files += 1,
                    RunnerInput::Queue => self.stats.runner_files += 1,
                },
                FileOutcome::Read {
                    bytes,
                    documents,
                    ignored,
                    ..
                } => {
                    self.out.write_all(&bytes).map_err(Error::Output)?;
                    self.stats.files += 1;
                    self.stats.documents += documents;
                    self.stats.ignored += ignored;
                }
                FileOutcome::Skipped(message) => {
                    eprintln!("warning: skipped {message}");
                    self.stats.skipped += 1;
                }
            }
        }
        self.batch = batch;
        self.batch.clear();
        Ok(())
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn io_message(err: &walkdir::Error) -> String {
    err.io_error()
        .map_or_else(|| err.to_string(), ToString::to_string)
}

/// Only regular files of at most `max_size` bytes are read (a FIFO named
/// `x.yaml` would block, `/dev/zero` never ends).
fn read_file(path: &Path, max_size: u64) -> FileOutcome {
    match read_text(path, max_size) {
        Ok(text) => parse_text(&text, path),
        Err(err) => FileOutcome::Skipped(format!("`{}`: {err}", path.display())),
    }
}

/// The mapping documents of one file, as output bytes.
fn parse_text(text: &str, path: &Path) -> FileOutcome {
    let mut outcome = parse_pieces(text, path);
    if let FileOutcome::Read { runner_input, .. } = &mut outcome {
        *runner_input = RunnerInput::of(text);
    }
    outcome
}

/// The mapping documents of one file, as output bytes.
fn parse_pieces(text: &str, path: &Path) -> FileOutcome {
    let mut bytes = Vec::with_capacity(text.len() + 8);
    let mut documents = 0;
    let mut ignored = 0;
    for piece in split(text) {
        if is_plain_mapping(piece.text) {
            piece.write_document(&mut bytes);
            documents += 1;
            continue;
        }
        match parse_piece(&piece) {
            Ok(Some(Value::Mapping(_))) => {
                piece.write_document(&mut bytes);
                documents += 1;
            }
            Ok(_) => ignored += 1,
            Err(_) => return parse_whole(text, path),
        }
    }
    FileOutcome::Read {
        bytes,
        documents,
        ignored,
        runner_input: None,
    }
}

/// The slow path: parse the file whole, serialise its documents again.
fn parse_whole(text: &str, path: &Path) -> FileOutcome {
    let docs = match parse_file(text, path) {
        Ok(docs) => docs,
        Err(message) => return FileOutcome::Skipped(message),
    };
    let mut bytes = Vec::new();
    let mut documents = 0;
    let mut ignored = 0;
    for doc in &docs {
        if doc.is_mapping() {
            match value_document_bytes(doc) {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(err) => return FileOutcome::Skipped(format!("`{}`: {err}", path.display())),
            }
            documents += 1;
        } else {
            ignored += 1;
        }
    }
    FileOutcome::Read {
        bytes,
        documents,
        ignored,
        runner_input: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (String, usize, usize) {
        match parse_text(text, Path::new("x.yaml")) {
            FileOutcome::Read {
                bytes,
                documents,
                ignored,
                ..
            } => (String::from_utf8(bytes).unwrap(), documents, ignored),
            FileOutcome::Skipped(message) => panic!("skipped: {message}"),
        }
    }

    #[test]
    fn copies_mapping_documents_as_written() {
        let (out, docs, ignored) = read("a: 1.0e-3 # c\n---\n- x\n---\nb: {c: 2}");
        assert_eq!(out, "---\na: 1.0e-3 # c\n---\nb: {c: 2}\n");
        assert_eq!((docs, ignored), (2, 1));
    }

    #[test]
    fn experiment_and_queue_files_are_recognised() {
        let of = RunnerInput::of;
        assert_eq!(
            of("# a sweep\nGlobal: {repeat: 1}\nlr: 1\n---\nName: a\n"),
            Some(RunnerInput::Experiments)
        );
        assert_eq!(of("{Global: {}, lr: 1}\n"), Some(RunnerInput::Experiments));
        assert_eq!(of("Name: Global\nACC: 1\n"), None);
        assert_eq!(of("---\nlr: 1\n---\nGlobal: {}\n"), None);
        assert_eq!(
            of("# cool-runner queue: the pending experiments\n---\nName: a\n"),
            Some(RunnerInput::Queue)
        );
    }

    #[test]
    fn unsplittable_files_are_parsed_whole() {
        let (out, docs, _) = read("%YAML 1.2\n---\na: 1\n...\n");
        assert_eq!(out, "---\na: 1\n");
        assert_eq!(docs, 1);
    }

    #[test]
    fn invalid_files_are_skipped_with_their_line() {
        let FileOutcome::Skipped(message) =
            parse_text("---\na: 1\n---\nb: [1,\nc: 2\n", Path::new("bad.yaml"))
        else {
            panic!("not skipped")
        };
        assert!(message.contains("bad.yaml:6"), "{message}");
    }
}
