//! The identity of an experiment: what makes two runs "the same
//! computation", so that a `done` result can be reused.
//!
//! identity = blake3 of, in this order:
//! 1. the expanded experiment as canonical JSON (mapping keys sorted at
//!    every level), without the keys of `is_volatile` (the runner's
//!    bookkeeping: `HOST`, the keys written after a run, `YamlLog`) and
//!    without `RND_IDX` unless the experiment wrote it itself (it then
//!    carries `RND_IDX_GIVEN: true`, see `config::RND_IDX_GIVEN`, itself
//!    left out);
//! 2. the module arguments given on the runner's command line;
//! 3. the module fingerprint: the content hash of the program file that
//!    `Module` names (see `module_files`);
//! 4. path and content hash of every file matched by the experiment's
//!    `Fingerprint` globs (a string or a list of strings, relative to the
//!    working directory).
//!
//! File hashes are memoised by (path, size, modification time), so checking
//! 10,000 experiments that share a module hashes the module once. A
//! `Fingerprint` glob set is walked and hashed once per run ([`Fingerprint`]):
//! each experiment then only feeds its pre-serialised file map to the hash,
//! which keeps identities what they were, and the store keeps the map once
//! per distinct fingerprint (`parts` holds its digest).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value as Json};
use yaml_serde::{Mapping, Value};

use crate::config::RND_IDX_GIVEN;
use crate::model::keys;
use crate::runner::{ATTEMPTS, RETRIES};

/// Whether `key` is left out of the identity: the runner writes it (`HOST`,
/// every key of the log record, `YamlLog`, `ATTEMPTS`), or it does not
/// change what the module computes (`Retries`). The set is part of every stored identity: changing it
/// changes every hash, and stores would stop hitting the cache. `SWEEP_IDX`
/// (new with sweeps, so in no older identity) is out: a point is the same
/// computation wherever a longer or shorter axis puts it.
fn is_volatile(key: &str) -> bool {
    key == keys::HOST
        || key == keys::SWEEP_IDX
        || key == keys::E_INDEX
        || key == keys::WAITS_FOR
        || key == keys::YAML_LOG
        || key == RND_IDX_GIVEN
        || key == RETRIES
        || key == ATTEMPTS
        || keys::RECORD_KEYS.contains(&key)
}

/// Whether `RND_IDX` is part of the identity: the experiment wrote it
/// (a drawn `RND_IDX` differs at every expansion).
fn rnd_idx_given(experiment: &Mapping) -> bool {
    matches!(experiment.get(RND_IDX_GIVEN), Some(Value::Bool(true)))
}

/// An experiment's identity and the parts it was computed from (kept in
/// the store so that `explain` can say what differs).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// 64 hex digits.
    pub hash: String,
    /// `{"content": …, "module_args": […], "module": {path: hash},
    /// "fingerprint": {path: hash}}`; with a `Fingerprint` glob the last
    /// is `{"blake3": digest}` of [`Identity::fingerprint`].
    pub parts: Json,
    /// The files matched by the `Fingerprint` globs, if any.
    pub fingerprint: Option<Arc<Fingerprint>>,
}

/// The files a `Fingerprint` glob set matched: computed once per run.
#[derive(Debug, PartialEq)]
pub struct Fingerprint {
    /// blake3 of `files`, 64 hex digits: its key in the store.
    pub digest: String,
    /// `{path: content hash}` as JSON text, paths sorted.
    pub files: String,
}

/// Computes identities for one run.
#[derive(Debug, Default)]
pub struct Identifier {
    module_args: Vec<String>,
    files: HashMap<PathBuf, (u64, Option<SystemTime>, String)>,
    fingerprints: HashMap<Vec<String>, Arc<Fingerprint>>,
    modules: HashMap<String, Vec<PathBuf>>,
}

impl Identifier {
    /// `module_args`: the module arguments given to the runner.
    pub fn new(module_args: &[OsString]) -> Self {
        Self {
            module_args: module_args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            ..Self::default()
        }
    }

    /// The identity of an expanded experiment. The error is a lowercase
    /// fragment (an unreadable file, a bad glob).
    pub fn identify(&mut self, experiment: &Mapping) -> Result<Identity, String> {
        let mut content = Map::new();
        let keep_rnd_idx = rnd_idx_given(experiment);
        let mut keys: Vec<(String, &Value)> = experiment
            .iter()
            .map(|(k, v)| (key_text(k), v))
            .filter(|(k, _)| !is_volatile(k) && (keep_rnd_idx || k != keys::RND_IDX))
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in keys {
            content.insert(key, canonical(value));
        }
        let module = match experiment.get(keys::MODULE).and_then(Value::as_str) {
            Some(module) => {
                let files = self.module_files(module);
                self.hash_files(&files)?
            }
            None => BTreeMap::new(),
        };
        let patterns = match experiment.get(keys::FINGERPRINT) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| "`Fingerprint` must be a glob or a list of globs".to_owned())
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`Fingerprint` must be a glob or a list of globs".to_owned()),
        };
        let fingerprint = if patterns.is_empty() {
            None
        } else {
            Some(self.fingerprint(&patterns)?)
        };
        let to_json = |files: BTreeMap<String, String>| {
            Json::Object(
                files
                    .into_iter()
                    .map(|(k, v)| (k, Json::String(v)))
                    .collect(),
            )
        };
        let parts = serde_json::json!({
            "content": Json::Object(content),
            "module_args": self.module_args,
            "module": to_json(module),
            "fingerprint": fingerprint
                .as_ref()
                .map_or_else(|| to_json(BTreeMap::new()), |f| serde_json::json!({"blake3": f.digest})),
        });
        Ok(Identity {
            hash: identity_hash(&parts, fingerprint.as_deref())?,
            parts,
            fingerprint,
        })
    }

    /// The files of a glob set, walked and hashed once per run.
    fn fingerprint(&mut self, patterns: &[String]) -> Result<Arc<Fingerprint>, String> {
        if let Some(done) = self.fingerprints.get(patterns) {
            return Ok(Arc::clone(done));
        }
        let paths = Self::glob(patterns)?;
        let files = serde_json::to_string(&self.hash_files(&paths)?).map_err(|e| e.to_string())?;
        let done = Arc::new(Fingerprint {
            digest: blake3::hash(files.as_bytes()).to_hex().to_string(),
            files,
        });
        self.fingerprints
            .insert(patterns.to_vec(), Arc::clone(&done));
        Ok(done)
    }

    /// The program file a `Module` names: the executable when it is a path
    /// (`modules/train.sh`, `./run`); for a program found on `PATH` (an
    /// interpreter: `python3 modules/train.py --fast`), the first argument
    /// that is an existing file (the script); with no such argument, the
    /// program found on `PATH` itself.
    fn module_files(&mut self, module: &str) -> Vec<PathBuf> {
        if let Some(files) = self.modules.get(module) {
            return files.clone();
        }
        let words = shell_words::split(module).unwrap_or_default();
        let files = match words.split_first() {
            None => Vec::new(),
            Some((program, _)) if program.contains('/') => vec![PathBuf::from(program)],
            Some((program, args)) => args
                .iter()
                .filter(|a| !a.starts_with('-'))
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .or_else(|| on_path(program))
                .into_iter()
                .collect(),
        };
        self.modules.insert(module.to_owned(), files.clone());
        files
    }

    fn glob(patterns: &[String]) -> Result<Vec<PathBuf>, String> {
        let mut paths = Vec::new();
        for pattern in patterns {
            let matches = glob::glob(pattern)
                .map_err(|e| format!("invalid `Fingerprint` glob `{pattern}`: {e}"))?;
            paths.extend(matches.filter_map(Result::ok).filter(|p| p.is_file()));
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// Path → blake3 of the content; a missing file hashes as `missing`.
    fn hash_files(&mut self, paths: &[PathBuf]) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for path in paths {
            out.insert(path.display().to_string(), self.hash_file(path)?);
        }
        Ok(out)
    }

    fn hash_file(&mut self, path: &Path) -> Result<String, String> {
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok("missing".to_owned());
        };
        let (len, modified) = (meta.len(), meta.modified().ok());
        if let Some((l, m, hash)) = self.files.get(path) {
            if *l == len && *m == modified {
                return Ok(hash.clone());
            }
        }
        let bytes = std::fs::read(path)
            .map_err(|e| format!("failed to read `{}` for the identity: {e}", path.display()))?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        self.files
            .insert(path.to_owned(), (len, modified, hash.clone()));
        Ok(hash)
    }
}

/// A `Fingerprint` file map up to this size (about 500 files) is hashed
/// into each identity as it always was; a larger one by its digest only, so
/// that an identity never costs time in proportion to the number of files.
const INLINE_FINGERPRINT: usize = 64 * 1024;

/// blake3 of the identity parts as JSON. A small `Fingerprint` file map
/// (`{path: hash}`, the same bytes `serde_json` writes) stands in place of
/// its digest: the hash every version has computed, without rebuilding the
/// map for each experiment. A larger one is hashed as its digest
/// (`{"blake3": …}`, as `parts` holds it).
fn identity_hash(parts: &Json, fingerprint: Option<&Fingerprint>) -> Result<String, String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"cool-runner identity v1\0");
    match (fingerprint, parts.as_object()) {
        (Some(fingerprint), Some(object)) if fingerprint.files.len() <= INLINE_FINGERPRINT => {
            let mut first = true;
            hasher.update(b"{");
            for (key, value) in object {
                if !std::mem::take(&mut first) {
                    hasher.update(b",");
                }
                serde_json::to_writer(&mut hasher, key).map_err(|e| e.to_string())?;
                hasher.update(b":");
                if key == "fingerprint" {
                    hasher.update(fingerprint.files.as_bytes());
                } else {
                    serde_json::to_writer(&mut hasher, value).map_err(|e| e.to_string())?;
                }
            }
            hasher.update(b"}");
        }
        _ => {
            serde_json::to_writer(&mut hasher, parts).map_err(|e| e.to_string())?;
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => yaml_serde::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_default(),
    }
}

/// JSON with mapping keys sorted at every level.
pub(crate) fn canonical(value: &Value) -> Json {
    match value {
        Value::Mapping(map) => {
            let mut entries: Vec<(String, Json)> = map
                .iter()
                .map(|(k, v)| (key_text(k), canonical(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries.into_iter().collect())
        }
        Value::Sequence(items) => Json::Array(items.iter().map(canonical).collect()),
        Value::Tagged(tagged) => canonical(&tagged.value),
        other => serde_json::to_value(other).unwrap_or(Json::Null),
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity of the experiment in `identities_do_not_change`.
    const PINNED: &str = "430359e58a6bdd0b359f2e9f08b15978687a14a796977cdadc2dd32fbf89a759";

    const PINNED_GIVEN: &str = "91631e22932cef1882cb8978f49c6cdcb2568857bedddf9f63fd3ca77559c97a";

    fn exp(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn volatile_keys_and_key_order_do_not_matter() {
        let mut id = Identifier::new(&[]);
        let a = id
            .identify(&exp(
                "a: 1\nb: {y: 2, x: 1}\nRND_IDX: 5\nHOST: h1\nYamlLog: l",
            ))
            .unwrap();
        let b = id
            .identify(&exp("b: {x: 1, y: 2}\na: 1\nRND_IDX: 6\nHOST: h2"))
            .unwrap();
        assert_eq!(a.hash, b.hash);
        let c = id.identify(&exp("a: 2\nb: {x: 1, y: 2}")).unwrap();
        assert_ne!(a.hash, c.hash);
        let given = |rnd_idx: u32| exp(&format!("a: 1\nRND_IDX: {rnd_idx}\nRND_IDX_GIVEN: true"));
        assert_ne!(
            id.identify(&given(5)).unwrap().hash,
            id.identify(&given(6)).unwrap().hash
        );
        let mut args = Identifier::new(&["--fast".into()]);
        assert_ne!(
            args.identify(&exp("a: 1")).unwrap().hash,
            id.identify(&exp("a: 1")).unwrap().hash
        );
    }

    #[test]
    fn identities_do_not_change() {
        // Stores written by earlier versions must still hit the cache: the
        // hash of a fixed experiment is pinned, runner keys and all.
        let mut id = Identifier::new(&[]);
        let identity = id
            .identify(&exp(
                "Name: a\nlr: 0.1\nnested: {x: [1, 2]}\nREP: 0\nGLOBAL_REP: 1\nRND_IDX: 5\n\
                 HOST: h\nYamlLog: l.yaml\nTIME_ELAPSED: 1\nSTATUS: done\nEXIT_CODE: 0\n\
                 STARTED_AT: s\nFINISHED_AT: f\nRUN_DIR: r\nSIGNAL: x\nERROR: e\n\
                 STDERR_TAIL: t\nCACHED: true\n",
            ))
            .unwrap();
        assert_eq!(identity.hash, PINNED);
        // A written `RND_IDX` is in, its marker is not: the identity of
        // `a: 1, RND_IDX: 5` as when the whole file was scanned for
        // `RND_IDX:` (`keep_rnd_idx`).
        let given = id
            .identify(&exp("a: 1\nRND_IDX: 5\nRND_IDX_GIVEN: true\n"))
            .unwrap();
        assert_eq!(
            given.parts["content"],
            serde_json::json!({"RND_IDX": 5, "a": 1})
        );
        assert_eq!(given.hash, PINNED_GIVEN);
        // The keys left out are exactly those of the list this used to be.
        let before = [
            "HOST",
            "YamlLog",
            "TIME_ELAPSED",
            "STATUS",
            "EXIT_CODE",
            "STARTED_AT",
            "FINISHED_AT",
            "RUN_DIR",
            "SIGNAL",
            "ERROR",
            "STDERR_TAIL",
            "CACHED",
        ];
        let every = keys::INPUT_KEYS
            .iter()
            .chain(&keys::EXPANSION_KEYS)
            .chain(&keys::RECORD_KEYS)
            .chain(&["Global", "lr", "ACC"]);
        for key in every {
            assert_eq!(is_volatile(key), before.contains(key), "{key}");
        }
        assert!(is_volatile(keys::SWEEP_IDX));
        assert!(is_volatile(keys::E_INDEX) && is_volatile(keys::WAITS_FOR));
        assert!(!is_volatile(keys::AFTER_IDS));
        let keys: Vec<&String> = identity.parts["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["GLOBAL_REP", "Name", "REP", "lr", "nested"]);
    }

    #[test]
    fn module_and_fingerprinted_files_are_in_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("train.py");
        let src = dir.path().join("lib.txt");
        std::fs::write(&script, "print(1)").unwrap();
        std::fs::write(&src, "v1").unwrap();
        let module = format!("Module: python3 {}\n", script.display());
        let fp = format!("Fingerprint: ['{}/*.txt']\n", dir.path().display());
        let mut id = Identifier::new(&[]);
        let first = id.identify(&exp(&format!("{module}{fp}"))).unwrap();
        assert_eq!(
            first.parts["module"][script.display().to_string()]
                .as_str()
                .map(str::len),
            Some(64)
        );
        // The hash is the one computed over the whole file map, as before
        // fingerprints were computed once per run.
        let mut whole = first.parts.clone();
        let files = &first.fingerprint.as_ref().unwrap().files;
        whole["fingerprint"] = serde_json::from_str(files).unwrap();
        assert!(whole["fingerprint"][src.display().to_string()].is_string());
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"cool-runner identity v1\0");
        hasher.update(&serde_json::to_vec(&whole).unwrap());
        assert_eq!(first.hash, hasher.finalize().to_hex().to_string());
        assert_eq!(
            first.parts["fingerprint"]["blake3"],
            first.fingerprint.as_ref().unwrap().digest.as_str()
        );
        // A large file map is hashed by its digest, still per content.
        let big = dir.path().join("big");
        std::fs::create_dir(&big).unwrap();
        for i in 0..700 {
            std::fs::write(big.join(format!("f{i:04}.txt")), "x").unwrap();
        }
        let fp_big = format!("Fingerprint: '{}/*.txt'\n", big.display());
        let large = Identifier::new(&[]).identify(&exp(&fp_big)).unwrap();
        assert!(large.fingerprint.as_ref().unwrap().files.len() > INLINE_FINGERPRINT);
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"cool-runner identity v1\0");
        hasher.update(&serde_json::to_vec(&large.parts).unwrap());
        assert_eq!(large.hash, hasher.finalize().to_hex().to_string());
        std::fs::write(big.join("f0000.txt"), "y").unwrap();
        let changed = Identifier::new(&[]).identify(&exp(&fp_big)).unwrap();
        assert_ne!(large.hash, changed.hash);
        std::fs::write(&src, "v2 (longer)").unwrap();
        let mut id = Identifier::new(&[]);
        let second = id.identify(&exp(&format!("{module}{fp}"))).unwrap();
        assert_ne!(first.hash, second.hash);
        std::fs::write(&script, "print(2) # changed").unwrap();
        let mut id = Identifier::new(&[]);
        let third = id.identify(&exp(&format!("{module}{fp}"))).unwrap();
        assert_ne!(second.hash, third.hash);
    }
}
