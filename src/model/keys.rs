//! The key names the runner reads and writes, listed once (SPEC §1, §5).
//!
//! Convention: `Capitalised` keys are read by the runner, UPPER-CASE keys are
//! written by programs: the expansion (`EXPANSION_KEYS`), the log record
//! (`RECORD_KEYS`) and the modules (their results).

/// The experiment's name; `Name: skip` is expanded but never run.
pub(crate) const NAME: &str = "Name";
/// The program that runs the experiment.
pub(crate) const MODULE: &str = "Module";
/// Where the finished experiment is logged.
pub(crate) const YAML_LOG: &str = "YamlLog";
/// Copies of this experiment, made before evaluation.
pub(crate) const REPEAT: &str = "Repeat";
/// Seconds the module may run.
pub(crate) const TIMEOUT: &str = "Timeout";
/// How many GPUs the experiment needs.
pub(crate) const GPUS: &str = "GPUs";
/// Globs of files whose content is part of the experiment's identity.
pub(crate) const FINGERPRINT: &str = "Fingerprint";
/// The resources of the experiment's Slurm job (`model::slurm`), over
/// `Global.slurm`.
pub(crate) const SLURM: &str = "Slurm";
/// The runner's settings in the default config (see `model::Global`).
pub(crate) const GLOBAL: &str = "Global";
/// Grid, zip and random axes of an experiment document (`config::sweep`).
pub(crate) const SWEEP: &str = "Sweep";

/// Names of earlier experiments this one runs after (pipelines).
pub(crate) const AFTER: &str = "After";

/// The keys of an experiment that the runner reads.
pub(crate) const INPUT_KEYS: [&str; 9] = [
    AFTER,
    NAME,
    MODULE,
    YAML_LOG,
    REPEAT,
    TIMEOUT,
    GPUS,
    FINGERPRINT,
    SWEEP,
];

/// Index of the `Repeat` copy (0..Repeat-1).
pub(crate) const REP: &str = "REP";
/// Index of the global repetition (0..Global.repeat-1).
pub(crate) const GLOBAL_REP: &str = "GLOBAL_REP";
/// Six random digits shared by the copies of one experiment.
pub(crate) const RND_IDX: &str = "RND_IDX";
/// The host name of the machine that expanded the experiment.
pub(crate) const HOST: &str = "HOST";

/// The keys expansion adds to every experiment, in the order it appends
/// them; every expression can read them.
pub(crate) const EXPANSION_KEYS: [&str; 4] = [REP, GLOBAL_REP, RND_IDX, HOST];

/// Index of the sweep point (0-based, per document), added after
/// `GLOBAL_REP` to experiments made by a `Sweep` or `--sweep` only; every
/// expression can read it.
pub(crate) const SWEEP_IDX: &str = "SWEEP_IDX";

/// Pipelines: an experiment's position in `E` (of its global repetition),
/// written to the experiments that wait and to those they wait for.
pub(crate) const E_INDEX: &str = "E_INDEX";
/// Pipelines: `{position in E: Name}` of the earlier experiments whose
/// results (or end, `After`) this one waits for.
pub(crate) const WAITS_FOR: &str = "WAITS_FOR";
/// Pipelines: the identities of the experiments named in `After`, so that
/// a dependent reruns when they do.
pub(crate) const AFTER_IDS: &str = "AFTER_IDS";

/// Seconds the module ran.
pub(crate) const TIME_ELAPSED: &str = "TIME_ELAPSED";
/// `done`, `failed`, `interrupted` or `timeout`.
pub(crate) const STATUS: &str = "STATUS";
/// The module's exit code (128 + n for signal n), or null.
pub(crate) const EXIT_CODE: &str = "EXIT_CODE";
/// RFC 3339 start time.
pub(crate) const STARTED_AT: &str = "STARTED_AT";
/// RFC 3339 end time.
pub(crate) const FINISHED_AT: &str = "FINISHED_AT";
/// The experiment's run directory.
pub(crate) const RUN_DIR: &str = "RUN_DIR";
/// The name of the signal that killed the module.
pub(crate) const SIGNAL: &str = "SIGNAL";
/// Why the runner considers the experiment failed, beyond its exit code.
pub(crate) const ERROR: &str = "ERROR";
/// The last lines of a failed module's stderr.
pub(crate) const STDERR_TAIL: &str = "STDERR_TAIL";
/// `true` in a log document copied from the store instead of running.
pub(crate) const CACHED: &str = "CACHED";

/// The Slurm job of a run on a cluster (`123_4`: task 4 of array 123).
pub(crate) const SLURM_JOB_ID: &str = "SLURM_JOB_ID";
/// Slurm's last state of that job (`COMPLETED`, `FAILED`, `TIMEOUT`, ...).
pub(crate) const SLURM_STATE: &str = "SLURM_STATE";
/// The node it ran on.
pub(crate) const SLURM_NODE: &str = "SLURM_NODE";

/// The keys the log record writes after a run (they win over results of
/// the same name).
pub(crate) const RECORD_KEYS: [&str; 10] = [
    TIME_ELAPSED,
    STATUS,
    EXIT_CODE,
    STARTED_AT,
    FINISHED_AT,
    RUN_DIR,
    SIGNAL,
    ERROR,
    STDERR_TAIL,
    CACHED,
];

/// Whether the runner writes `key` (expansion or record), as opposed to the
/// person (parameters) or the module (results).
pub(crate) fn is_runner_written(key: &str) -> bool {
    EXPANSION_KEYS.contains(&key)
        || key == SWEEP_IDX
        || key == E_INDEX
        || key == WAITS_FOR
        || key == AFTER_IDS
        || RECORD_KEYS.contains(&key)
}

/// UPPER-CASE: letters, digits and `_`, starting with a letter, with no
/// lower-case letter (the convention for results).
pub(crate) fn is_upper_case(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The known key nearest to `key`, when it is close enough to be a typo
/// (case is ignored; a transposition counts as one edit).
pub(crate) fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_lowercase();
    known
        .iter()
        .map(|k| (strsim::osa_distance(&key, &k.to_lowercase()), *k))
        .filter(|&(distance, k)| {
            distance <= if k.len() >= 4 { 2 } else { 1 } && distance < key.len()
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, k)| k)
}

/// A `Capitalised` experiment key that is not a runner key but close to one
/// (`Reapeat`, `Timout`): the runner would ignore it silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misspelt {
    pub key: String,
    pub meant: &'static str,
    /// The first experiment (index in the expanded queue) that has it.
    pub first: usize,
    /// How many experiments have it.
    pub count: usize,
}

impl std::fmt::Display for Misspelt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let more = match self.count {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        write!(
            f,
            "key `{}` (experiment {}{more}) is not a runner key and is passed on as a \
             parameter; did you mean `{}`?",
            self.key, self.first, self.meant
        )
    }
}

/// Every misspelt runner key of `experiments`, once per key, in the order
/// first seen. Only top-level `Capitalised` keys that are neither runner
/// keys nor UPPER-CASE are compared (once per distinct key).
pub(crate) fn misspelt_runner_keys(experiments: &[yaml_serde::Mapping]) -> Vec<Misspelt> {
    let mut keys = MisspeltKeys::default();
    for (index, experiment) in experiments.iter().enumerate() {
        keys.add(index, experiment);
    }
    keys.found
}

/// [`misspelt_runner_keys`], one experiment at a time (for a streaming
/// expansion).
#[derive(Default)]
pub(crate) struct MisspeltKeys {
    seen: Vec<(String, Option<usize>)>,
    found: Vec<Misspelt>,
}

impl MisspeltKeys {
    /// Look at experiment `index`.
    pub(crate) fn add(&mut self, index: usize, experiment: &yaml_serde::Mapping) {
        for key in experiment.keys().filter_map(yaml_serde::Value::as_str) {
            if !key.starts_with(|c: char| c.is_ascii_uppercase())
                || INPUT_KEYS.contains(&key)
                || key == GLOBAL
                || is_upper_case(key)
            {
                continue;
            }
            let at = match self.seen.iter().find(|(k, _)| k == key) {
                Some((_, at)) => *at,
                None => {
                    let at = nearest(key, &INPUT_KEYS).map(|meant| {
                        self.found.push(Misspelt {
                            key: key.to_owned(),
                            meant,
                            first: index,
                            count: 0,
                        });
                        self.found.len() - 1
                    });
                    self.seen.push((key.to_owned(), at));
                    at
                }
            };
            if let Some(at) = at {
                self.found[at].count += 1;
            }
        }
    }

    /// The misspelt keys seen, in the order first seen.
    pub(crate) fn finish(self) -> Vec<Misspelt> {
        self.found
    }
}

/// "unknown key `Global.repaet`; did you mean `repeat`?", or the list of
/// known keys when none is close. `parent` is the dotted path of the
/// mapping (`Global`, `Global.slack`).
pub(crate) fn unknown_key_message(parent: &str, key: &str, known: &[&str]) -> String {
    match nearest(key, known) {
        Some(near) => format!("unknown key `{parent}.{key}`; did you mean `{near}`?"),
        None => format!(
            "unknown key `{parent}.{key}`; the known keys are {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_only() {
        let known = [
            "repeat", "queue", "runs", "grace", "jobs", "gpus", "store", "slack",
        ];
        assert_eq!(nearest("repaet", &known), Some("repeat"));
        assert_eq!(nearest("queu", &known), Some("queue"));
        assert_eq!(nearest("Repeat", &known), Some("repeat"));
        assert_eq!(nearest("gpu", &known), Some("gpus"));
        assert_eq!(nearest("seed", &known), None);
        assert_eq!(nearest("x", &known), None);
        assert_eq!(nearest("channels", &["channel", "each"]), Some("channel"));
    }

    #[test]
    fn messages() {
        assert_eq!(
            unknown_key_message("Global", "repaet", &["repeat", "queue"]),
            "unknown key `Global.repaet`; did you mean `repeat`?"
        );
        assert_eq!(
            unknown_key_message("Global.slack", "color", &["channel", "each"]),
            "unknown key `Global.slack.color`; the known keys are `channel`, `each`"
        );
    }

    #[test]
    fn misspelt_keys_once_each() {
        let experiments: Vec<yaml_serde::Mapping> = [
            "Name: a\nReapeat: 3\nTimout: 5\nModel: x\nACC: 1\nlr: 1",
            "Name: b\nReapeat: 3\nOptimizer: adam",
        ]
        .iter()
        .map(|t| yaml_serde::from_str(t).unwrap())
        .collect();
        let found = misspelt_runner_keys(&experiments);
        let keys: Vec<_> = found
            .iter()
            .map(|m| (m.key.as_str(), m.meant, m.count))
            .collect();
        assert_eq!(
            keys,
            [
                ("Reapeat", "Repeat", 2),
                ("Timout", "Timeout", 1),
                ("Model", "Module", 1)
            ]
        );
        assert!(found[0].to_string().contains("(experiment 0 and 1 more)"));
    }

    #[test]
    fn key_lists() {
        assert!(is_runner_written("HOST") && is_runner_written("CACHED"));
        assert!(is_runner_written("SWEEP_IDX"));
        assert!(!is_runner_written("ACC") && !is_runner_written("Name"));
        assert!(is_upper_case("ACC_2") && !is_upper_case("Mixed_Case") && !is_upper_case("_X"));
        assert_eq!(INPUT_KEYS.len(), 9);
    }
}
