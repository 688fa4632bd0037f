//! Command-line interface (clap derive). Domain code never sees these types:
//! `lib.rs` converts them into settings once.
//!
//! `run` forwards every argument it does not know to the module, in order.
//! clap cannot skip unknown flags between known ones, so `split_run_args`
//! sorts the arguments first, using clap's own list of `run` flags.

mod args;
mod run_args;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cool-runner",
    version,
    about = "Expand, run, log and query experiments described in one YAML file",
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Expand an experiment file and run its experiments
    Run(RunArgs),
    /// Gather YAML logs from directory trees into one file
    Collect(CollectArgs),
    /// Select, sort and tabulate logged experiments
    Filter(FilterArgs),
    /// Show what runs now and what ran, from the results store
    Status(StatusArgs),
    /// Tell why an experiment would run instead of being taken from the cache
    Explain(ExplainArgs),
    /// Print a run's output (stdout.log, stderr.log of its run directory)
    Log(LogArgs),
    /// Serve a live web page (and a JSON API) of the results store
    Serve(ServeArgs),
    /// Follow a Slurm run started with `run --detach` until its jobs end
    Attach(crate::commands::attach::AttachArgs),
    /// Run one experiment inside a Slurm allocation (used by the job scripts)
    #[command(hide = true)]
    Exec(crate::commands::exec::ExecArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = "Examples:\n  \
        cool-runner completions bash > ~/.local/share/bash-completion/completions/cool-runner\n  \
        cool-runner completions zsh > ~/.zfunc/_cool-runner\n  \
        cool-runner completions fish > ~/.config/fish/completions/cool-runner.fish")]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one per command into a directory
    #[command(after_help = "Examples:\n  \
        cool-runner man | man -l -\n  \
        cool-runner man --dir ~/.local/share/man/man1")]
    Man {
        /// Write `cool-runner.1`, `cool-runner-run.1`, ... into DIR
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Print a run's output: its `stdout.log` to stdout and `stderr.log` to
/// stderr, found through the results store. With several runs of that name
/// or index, the newest.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// The run: its `Name`, or its index in the expanded queue
    #[arg(value_name = "NAME|INDEX")]
    pub run: String,

    /// Keep printing what a running run writes, until it ends
    #[arg(short, long)]
    pub follow: bool,

    /// The results store (default: `Global.store` of `--exp`, else
    /// `.cool-runner/store.sqlite`)
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,

    /// Read `Global.store` from this experiment file
    #[arg(long, value_name = "FILE")]
    pub exp: Option<PathBuf>,
}

/// Serve a web page of the results store: the queue, the running
/// experiments and a results table to filter, sort, group and plot, kept
/// live. It only reads the store, so it shows every runner's runs.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The results store (default: `Global.store` of `--exp`, else
    /// `.cool-runner/store.sqlite`)
    #[arg(long, value_name = "PATH", conflicts_with = "exp")]
    pub store: Option<PathBuf>,

    /// Read `Global.store` and `Global.queue` from this experiment file
    #[arg(long, value_name = "FILE")]
    pub exp: Option<PathBuf>,

    /// The port (0: a free one)
    #[arg(long, value_name = "N", default_value_t = 8080)]
    pub port: u16,

    /// The address to listen on; any but a loopback address needs the
    /// token printed at start-up for every request
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
}

/// Show what runs now (name, slot, host, pid, elapsed), what is pending in
/// the queue file (with `--exp`), counts by status and the last finished
/// runs, read from the results store. Works while another runner is working.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The results store (default: `Global.store` of `--exp`, else
    /// `.cool-runner/store.sqlite`)
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,

    /// Read `Global.store` from this experiment file
    #[arg(long, value_name = "FILE")]
    pub exp: Option<PathBuf>,

    /// How many finished runs to show
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub last: usize,

    /// Write it all as one JSON object
    #[arg(long)]
    pub json: bool,
}

/// Tell why an experiment would run: the stored run with the nearest
/// identity and which keys or fingerprinted files differ.
///
/// Give the same overrides (`+Key.path=value`) and module arguments as to
/// `run`: both are part of the identity.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The experiment file
    #[arg(long, value_name = "FILE", default_value = "experiment.yaml")]
    pub exp: PathBuf,

    /// The index of the experiment in the expanded queue
    #[arg(long, value_name = "I")]
    pub pick: usize,

    /// The results store (default: `Global.store`, else `.cool-runner/store.sqlite`)
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,

    /// Seed for `RND_IDX`, as given to `run`
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Overrides (`+Key.path=value`), `--sweep KEY=V1,V2` and module arguments, as given to `run`
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// Expand an experiment file and run its experiments.
///
/// Arguments of the form `+Key.path=value` override the default config
/// (`+Global.repeat=3`); every other unrecognised argument is passed on to
/// each module unchanged, in order (everything after `--` too).
#[derive(Debug, Args)]
#[command(after_help = "Overrides and module arguments:\n  \
    +Key.path=value   set a dotted path in the default config; the value is read as\n                    \
    a YAML scalar (+Global.repeat=3 is an integer)\n  \
    anything else     passed on to every module, unchanged and in order\n                    \
    (so is everything after --)\n  \
    --dry-run, lr=0.1 refused: a near miss of a runner option or a bare key=value\n                    \
    is a mistake; put a module's own such argument after --\n\n\
    Examples:\n  \
    cool-runner run --exp experiments/quickstart.yaml --dry\n  \
    cool-runner run --exp sweep.yaml +Global.repeat=3 --pick 0,2 --gpu-mem 8\n  \
    cool-runner run --exp sweep.yaml -j 2 --gpus 0,1\n  \
    cool-runner run --exp sweep.yaml --sweep lr=0.1,0.01 --sweep seed=0,1,2")]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches"
)]
pub(crate) struct RunArgs {
    /// The experiment file
    #[arg(long, value_name = "FILE", default_value = "experiment.yaml")]
    pub exp: PathBuf,

    /// Print the expanded experiments as YAML on stdout and run nothing
    #[arg(long)]
    pub dry: bool,

    /// With `--dry`: print which experiments wait for which (pipelines)
    /// instead of the experiments: `text` (the default) or `dot` (Graphviz)
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text", requires = "dry", hide_possible_values = true)]
    pub graph: Option<GraphFormat>,

    /// Run only these indices of the expanded queue (`0,1,3` or `2-5`)
    #[arg(long, value_name = "LIST")]
    pub pick: Option<String>,

    /// Seed for `RND_IDX`, making it reproducible
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Add a grid axis `KEY=V1,V2` to every experiment (`--sweep
    /// lr=0.1,0.01`; values read as YAML scalars; repeatable, the last
    /// varies fastest)
    #[arg(long, value_name = "AXIS")]
    pub sweep: Vec<String>,

    /// Start a failed or timed-out experiment again, up to N more times
    /// (`Retries: N` in the default config; an experiment's own wins)
    #[arg(long, value_name = "N")]
    pub retries: Option<u64>,

    /// Keep waiting for new experiments when the queue file is empty
    #[arg(long)]
    pub follow: bool,

    /// Stop at the first failed experiment
    #[arg(long)]
    pub fail_fast: bool,

    /// Run up to N experiments at once (default: `Global.jobs`, else one per
    /// GPU, else 1)
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,

    /// GPUs to give out, one per running experiment: ids (`0,1`, `ids:2`),
    /// `count:N` (ids 0..N-1), `auto` (`nvidia-smi -L`) or `none`; a bare
    /// number is refused as ambiguous. Sets `CUDA_VISIBLE_DEVICES`
    #[arg(long, value_name = "GPUS")]
    pub gpus: Option<String>,

    /// Run every experiment, even those with a cached `done` result
    #[arg(long)]
    pub rerun: bool,

    /// Neither read nor write the results store
    #[arg(long)]
    pub no_store: bool,

    /// Serve a live web page of this run on 127.0.0.1:PORT (0 or no
    /// value: a free port); its URL is printed on stderr
    #[arg(long, value_name = "PORT", num_args = 0..=1, default_missing_value = "0")]
    pub serve: Option<u16>,

    /// Resume a leftover queue file even though the experiment file (or
    /// the arguments) changed since it was written
    #[arg(long, conflicts_with = "restart")]
    pub resume: bool,

    /// Discard a leftover queue file and expand the experiment file again
    #[arg(long)]
    pub restart: bool,

    /// Where experiments run: `local` or `slurm` (default: `Global.executor`,
    /// else `local`)
    #[arg(long, value_name = "EXECUTOR")]
    pub executor: Option<String>,

    /// With Slurm: submit and return at once (follow with `cool-runner attach`)
    #[arg(long)]
    pub detach: bool,

    /// Colour the statuses: `auto` (on a terminal, unless `NO_COLOR` is
    /// set), `always` or `never`
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Color::Auto)]
    pub color: Color,

    /// Overrides (`+Key.path=value`), filled in by `split_run_args`
    #[arg(skip)]
    pub overrides: Vec<String>,

    /// Arguments for the module, filled in by `split_run_args`
    #[arg(skip)]
    pub module_args: Vec<OsString>,
}

/// Gather YAML logs from directory trees into one file.
///
/// Walks each PATH recursively and copies every YAML document that is a
/// mapping, from files ending in `.yaml` or `.yml`, into
/// `DEST/logs_YYYY-MM-DD_HH-MM-SS.yaml`. Unreadable or invalid files are
/// reported on stderr and skipped. The output path goes to stdout.
#[derive(Debug, Args)]
#[command(
    after_help = "Copies every YAML document that is a mapping, from files ending \
    in `.yaml` or `.yml`, into `DEST/logs_YYYY-MM-DD_HH-MM-SS.yaml` (never overwriting). \
    Unreadable or invalid files are reported on stderr and skipped. The output path goes \
    to stdout.\n\n\
    Examples:\n  \
    cool-runner collect data/ --dest collected_logs --exclude unwanted_directory\n  \
    cool-runner collect temp/ data/ -v"
)]
pub(crate) struct CollectArgs {
    /// Files or directories to walk
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Skip directories and files with these names
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub exclude: Vec<String>,

    /// Directory of the new log file (created when missing)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dest: PathBuf,

    /// List visited directories on stderr
    #[arg(short, long)]
    pub verbose: bool,

    /// Read the runner's own files too: run directories, `.cool-runner/`, queue and experiment files
    #[arg(long)]
    pub all: bool,

    /// Skip files larger than this (bytes, or with K, M, G); only regular
    /// files are read
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = crate::yaml::limits::parse_size)]
    pub max_size: u64,
}

/// How `run --dry --graph` prints the dependency graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    /// One line per waiting experiment: `#4 evaluate <- #2 finetune, #3 …`
    Text,
    /// Graphviz DOT (`| dot -Tsvg > graph.svg`)
    Dot,
}

/// When to colour the terminal output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

/// Output formats of `filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// `---`-separated YAML documents (the default without `--group-by`)
    Yaml,
    /// Aligned columns for the terminal, nested keys flattened as `a.b`
    Table,
    /// Comma-separated values with a header row, nested keys flattened
    Csv,
    /// One JSON array of objects
    Json,
    /// One JSON object per line
    Jsonl,
}

/// Select, sort and tabulate logged experiments.
///
/// Expressions are Rhai with the document bound as `exp`: `"ACC" in exp &&
/// exp.ACC > 0.9`, `exp.TIME`. The Python form `lambda exp: ...` is accepted
/// (as are `and`, `or`, `not` and 'single quotes'). An argument `%FILE`
/// is replaced by the lines of FILE, one argument per line.
#[derive(Debug, Args)]
#[command(after_help = "Expressions are Rhai with the document bound as `exp`: \
    `\"ACC\" in exp && exp.ACC > 0.9`, `exp.TIME`. A Python-style `lambda exp:` prefix, \
    `and`/`or`/`not` and 'single quotes' are accepted. An expression that fails on a \
    document (a missing key) counts as false (`--filter`) or as a missing key, sorted \
    last (`--sort`). An argument `%FILE` is replaced by the lines of FILE, one argument \
    per line.\n\n\
    Examples:\n  \
    cool-runner filter logs.yaml --filter '\"ACC\" in exp && exp.ACC > 0.9' --sort exp.TIME --keep-keys Name ACC\n  \
    cool-runner filter logs_1.yaml logs_2.yaml %args\n  \
    cool-runner filter logs.yaml --group-by lr sparsity --agg ACC,LOSS --agg-stats")]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches"
)]
pub(crate) struct FilterArgs {
    /// Log files to read
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,

    /// Keep documents for which EXPR is true (repeatable: all must hold)
    #[arg(long, value_name = "EXPR")]
    pub filter: Vec<String>,

    /// Sort by EXPR (repeatable: stable sorts in turn, the last is the primary key)
    #[arg(long, value_name = "EXPR")]
    pub sort: Vec<String>,

    /// Sort in descending order (without `--sort`: reverse the documents)
    #[arg(long)]
    pub reverse: bool,

    /// Keep only these keys (`a.b` reaches into nested mappings)
    #[arg(long, value_name = "KEY", num_args = 1..)]
    pub keep_keys: Vec<String>,

    /// Write into DIR/filtered_YYYY-MM-DD_HH-MM-SS.EXT instead of stdout
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,

    /// Output format [default: yaml, or table with `--group-by`]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Fit tables in N columns, cut into panels of whole columns (0: any width) [default: the terminal's, any width when piped]
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,

    /// Group documents by these keys and aggregate the `--agg` keys
    #[arg(long, value_name = "KEY", num_args = 1.., help_heading = "Aggregation")]
    pub group_by: Vec<String>,

    /// Keys to aggregate per group: n, mean and std (`ACC,LOSS`)
    #[arg(long, value_name = "KEY,KEY", value_delimiter = ',', num_args = 1.., help_heading = "Aggregation")]
    pub agg: Vec<String>,

    /// Add min and max of each aggregated key
    #[arg(long, help_heading = "Aggregation")]
    pub agg_stats: bool,

    /// Aggregate runs whatever their `STATUS` [default: only `done`, and documents without `STATUS`]
    #[arg(long, help_heading = "Aggregation")]
    pub all_statuses: bool,

    /// Count every copy of a run [default: each `RUN_DIR` once, so the copies cache hits append are not counted again]
    #[arg(long, help_heading = "Aggregation")]
    pub include_cached: bool,
}

/// Parse the process arguments.
pub(crate) fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Cli, clap::Error> {
    let args: Vec<OsString> = args.into_iter().collect();
    let run_at = args
        .iter()
        .skip(1)
        .position(|a| !a.to_string_lossy().starts_with('-'))
        .map(|p| p + 1);
    if run_at.is_some_and(|at| args[at] == "filter") {
        let args = args::expand_arg_files(args)
            .map_err(|message| Cli::command().error(clap::error::ErrorKind::Io, message))?;
        return Cli::try_parse_from(args);
    }
    let Some(run_at) = run_at.filter(|&at| args[at] == "run") else {
        return Cli::try_parse_from(args);
    };
    let (known, overrides, module_args) =
        run_args::split_run_args(&args[run_at + 1..]).map_err(|message| {
            Cli::command().error(clap::error::ErrorKind::UnknownArgument, message)
        })?;
    let mut cli = Cli::try_parse_from(args[..=run_at].iter().cloned().chain(known))?;
    if let Command::Run(run) = &mut cli.command {
        run.overrides = overrides;
        run.module_args = module_args;
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn unknown_arguments_go_to_the_module_in_order() {
        let cli = parse(os(&[
            "cool-runner",
            "run",
            "--lr",
            "0.1",
            "--exp",
            "x.yaml",
            "+Global.repeat=2",
            "-v",
            "--dry",
            "pos",
            "--seed=4",
            "--sweep",
            "lr=0.1,0.01",
            "--sweep=seed=0,1",
            "--",
            "--exp",
            "+a=b",
        ]))
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.exp, PathBuf::from("x.yaml"));
        assert!(run.dry);
        assert_eq!(run.seed, Some(4));
        assert_eq!(run.overrides, ["+Global.repeat=2"]);
        assert_eq!(run.sweep, ["lr=0.1,0.01", "seed=0,1"]);
        assert_eq!(
            run.module_args,
            os(&["--lr", "0.1", "-v", "pos", "--exp", "+a=b"])
        );
    }

    #[test]
    fn defaults() {
        let Command::Run(run) = parse(os(&["cool-runner", "run"])).unwrap().command else {
            panic!()
        };
        assert_eq!(run.exp, PathBuf::from("experiment.yaml"));
        assert!(!run.dry && !run.follow && run.pick.is_none());
    }
}
