//! `cool-runner explain --exp FILE --pick I`: why experiment I would run
//! rather than be taken from the cache. It computes the experiment's
//! identity as `run` would, and compares its parts with those of the stored
//! runs: the nearest one (fewest differences, newest first) is shown with
//! each key, module file or fingerprinted file that differs.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write;

use serde_json::Value as Json;

use crate::cli::ExplainArgs;
use crate::commands::run::{expand, identifier, RunSettings};
use crate::config::Override;
use crate::error::{exit, Error};
use crate::expr::Sandbox;
use crate::model::{name_of, Global};
use crate::store::{RunRow, Store};

/// How many of the newest stored runs are compared.
const SCAN: usize = 100_000;

/// The overrides (`+Key.path=value`, then `--sweep KEY=V1,V2` or
/// `--sweep=...`) and the module arguments, as given to `run`.
fn split_args(args: &[String]) -> Result<(Vec<Override>, Vec<OsString>), Error> {
    let mut overrides = Vec::new();
    let mut sweeps = Vec::new();
    let mut module_args = Vec::new();
    let mut given = args.iter();
    while let Some(arg) = given.next() {
        match arg.strip_prefix("--sweep") {
            Some("") => sweeps.extend(given.next().map(String::as_str)),
            Some(value) if value.starts_with('=') => sweeps.push(&value[1..]),
            _ if arg.starts_with('+') && arg.contains('=') => {
                overrides.push(Override::parse(arg)?);
            }
            _ => module_args.push(arg.into()),
        }
    }
    for sweep in sweeps {
        overrides.push(Override::parse_sweep(sweep)?);
    }
    Ok((overrides, module_args))
}

/// What `run --dry --pick` would be given.
fn settings_of(args: &ExplainArgs) -> Result<RunSettings, Error> {
    let (overrides, module_args) = split_args(&args.args)?;
    Ok(RunSettings {
        exp: args.exp.clone(),
        dry: true,
        graph: None,
        pick: Some(vec![args.pick]),
        seed: args.seed,
        follow: false,
        fail_fast: false,
        jobs: None,
        gpus: None,
        rerun: false,
        resume: false,
        restart: false,
        no_store: false,
        serve: None,
        colour: crate::runner::ColourChoice::Never,
        overrides,
        module_args,
        executor: None,
        detach: false,
    })
}

pub(crate) fn explain(args: &ExplainArgs) -> Result<i32, Error> {
    let settings = settings_of(args)?;
    let expansion = expand(&settings, &Sandbox::new())?;
    let global = Global::from_mapping_in(&expansion.global, &settings.exp)?;
    // `expand` expanded the file up to `--pick` only, and kept that one.
    let experiment = &expansion.experiments[0];
    let name = name_of(experiment);
    let path = match &args.store {
        Some(path) => path.clone(),
        None => global.store_path(),
    };
    let mut waits = String::new();
    let Some(resolved) =
        super::explain_waits::resolved(&settings, &expansion, args.pick, &path, &mut waits)?
    else {
        return Ok(exit::OK);
    };
    let experiment = &resolved;
    let identity = identifier(&settings)
        .identify(experiment)
        .map_err(|e| Error::Other(anyhow::anyhow!("failed to compute the identity: {e}")))?;
    let mut out = format!(
        "experiment {} `{name}`: identity {}\n{waits}",
        args.pick,
        &identity.hash[..16]
    );
    let store = Store::open_existing(&path).map_err(|e| Error::Other(e.into()))?;
    let rows = match &store {
        Some(store) => store.recent(SCAN).map_err(|e| Error::Other(e.into()))?,
        None => Vec::new(),
    };
    if let Some(done) = rows
        .iter()
        .find(|r| r.identity == identity.hash && r.status == "done")
    {
        let _ = writeln!(
            out,
            "cached: run #{} finished {} is reused by `run` (`--rerun` runs it again)",
            done.id,
            done.finished_at.as_deref().unwrap_or("-")
        );
    } else {
        let _ = writeln!(
            out,
            "would run: no `done` run with this identity in `{}`",
            path.display()
        );
        let mut parts = identity.parts.clone();
        if let Some(fingerprint) = &identity.fingerprint {
            parts["fingerprint"] = serde_json::from_str(&fingerprint.files).unwrap_or_default();
        }
        let resolve = |parts: &mut Json| {
            // Rows keep a `Fingerprint`'s files once, by digest.
            let files = parts["fingerprint"]["blake3"]
                .as_str()
                .zip(store.as_ref())
                .and_then(|(digest, store)| store.fingerprint_files(digest).ok().flatten());
            if let Some(files) = files {
                parts["fingerprint"] = serde_json::from_str(&files).unwrap_or_default();
            }
        };
        explain_nearest(&mut out, &parts, &identity.hash, &rows, &resolve);
    }
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(Error::Output)?;
    Ok(exit::OK)
}

fn explain_nearest(
    out: &mut String,
    parts: &Json,
    hash: &str,
    rows: &[RunRow],
    resolve: &dyn Fn(&mut Json),
) {
    let same: Vec<&RunRow> = rows.iter().filter(|r| r.identity == hash).collect();
    if let Some(row) = same.first() {
        let _ = writeln!(
            out,
            "the same identity ran {} time(s) without success; latest: run #{} `{}` {}",
            same.len(),
            row.id,
            row.name,
            row.status
        );
        return;
    }
    let mut best: Option<(usize, &RunRow, Vec<String>)> = None;
    for row in rows {
        let Ok(mut stored) = serde_json::from_str::<Json>(&row.parts) else {
            continue;
        };
        resolve(&mut stored);
        let diffs = differences(&stored, parts);
        if best.as_ref().is_none_or(|b| diffs.len() < b.0) {
            best = Some((diffs.len(), row, diffs));
        }
    }
    match best {
        None => {
            let _ = writeln!(out, "the store holds no run to compare with");
        }
        Some((_, row, diffs)) => {
            let _ = writeln!(
                out,
                "nearest stored run: #{} `{}` ({}, started {}), differs in:",
                row.id, row.name, row.status, row.started_at
            );
            for diff in diffs {
                // A key read from an earlier experiment: that value differs upstream.
                let upstream = out.contains(&format!("\n  {}: ", diff_key(&diff)))
                    && out.contains("reads the results of earlier experiments");
                let mark = if upstream {
                    "  (read from an earlier experiment)"
                } else {
                    ""
                };
                let _ = writeln!(out, "  {diff}{mark}");
            }
        }
    }
}

/// The key a line of [`differences`] is about (`key `x`: …` → `x`).
fn diff_key(diff: &str) -> &str {
    diff.strip_prefix("key `")
        .and_then(|rest| rest.split_once('`'))
        .map_or("", |(key, _)| key)
}

/// Leaves of `value` by dotted path, as JSON text.
fn flatten(prefix: &str, value: &Json, out: &mut BTreeMap<String, String>) {
    match value {
        Json::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, value, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// What differs between stored parts and current ones, for people.
pub(crate) fn differences(stored: &Json, now: &Json) -> Vec<String> {
    let mut diffs = Vec::new();
    let leaves = |v: &Json| {
        let mut m = BTreeMap::new();
        flatten("", v, &mut m);
        m
    };
    let (a, b) = (leaves(&stored["content"]), leaves(&now["content"]));
    for (key, old) in &a {
        match b.get(key) {
            None => diffs.push(format!("key `{key}`: stored {old}, now absent")),
            Some(new) if new != old => diffs.push(format!("key `{key}`: stored {old}, now {new}")),
            Some(_) => {}
        }
    }
    for (key, new) in &b {
        if !a.contains_key(key) {
            diffs.push(format!("key `{key}`: not in the stored run, now {new}"));
        }
    }
    if stored["module_args"] != now["module_args"] {
        diffs.push(format!(
            "module arguments: stored {}, now {}",
            stored["module_args"], now["module_args"]
        ));
    }
    for (part, what) in [
        ("module", "module file"),
        ("fingerprint", "fingerprinted file"),
    ] {
        let files = |v: &Json| -> BTreeMap<String, String> {
            v[part]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (a, b) = (files(stored), files(now));
        for (path, old) in &a {
            match b.get(path) {
                None => diffs.push(format!("{what} `{path}`: no longer used")),
                Some(new) if new != old => diffs.push(format!("{what} `{path}`: content changed")),
                Some(_) => {}
            }
        }
        for path in b.keys().filter(|p| !a.contains_key(*p)) {
            diffs.push(format!("{what} `{path}`: new"));
        }
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::differences;

    #[test]
    fn differences_name_keys_and_files() {
        let stored = serde_json::json!({
            "content": {"lr": 0.1, "nested": {"a": 1}, "gone": 1},
            "module_args": [],
            "module": {"m.py": "aa"},
            "fingerprint": {"src/a.py": "1", "src/b.py": "2"}
        });
        let now = serde_json::json!({
            "content": {"lr": 0.5, "nested": {"a": 1}, "new": true},
            "module_args": ["--fast"],
            "module": {"m.py": "bb"},
            "fingerprint": {"src/a.py": "1", "src/c.py": "3"}
        });
        assert_eq!(
            differences(&stored, &now),
            [
                "key `gone`: stored 1, now absent",
                "key `lr`: stored 0.1, now 0.5",
                "key `new`: not in the stored run, now true",
                "module arguments: stored [], now [\"--fast\"]",
                "module file `m.py`: content changed",
                "fingerprinted file `src/b.py`: no longer used",
                "fingerprinted file `src/c.py`: new",
            ]
        );
    }
}
