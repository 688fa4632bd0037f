//! `explain` of an experiment that waits for results of earlier ones
//! (pipelines): the values it reads are taken from the stored runs of
//! those experiments, as `run` would, and shown; if one of them has no
//! `done` run, `explain` says which and stops there.

use std::fmt::Write as _;
use std::io::Write as _;

use yaml_serde::Mapping;

use crate::commands::run::{host_name, identifier, RunSettings};
use crate::config::{ExpandOptions, Expander, Expansion, PARSE_PREFIX};
use crate::error::Error;
use crate::expr::Sandbox;
use crate::model::name_of;
use crate::runner::{Dependencies, Readiness};
use crate::store::{Cache, Store};

/// [`resolve`] for `explain --pick pick`: `None` when it cannot be
/// evaluated now (what it waits for is printed).
pub(crate) fn resolved(
    settings: &RunSettings,
    expansion: &Expansion,
    pick: usize,
    store: &std::path::Path,
    waits: &mut String,
) -> Result<Option<Mapping>, Error> {
    let experiment = &expansion.experiments[0];
    let opened = Store::open_existing(store).map_err(|e| Error::Other(e.into()))?;
    if let Ok(resolved) = resolve(settings, expansion, experiment, opened, waits) {
        return Ok(Some(resolved));
    }
    let text = format!("experiment {pick} `{}`\n{waits}", name_of(experiment));
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(Error::Output)?;
    Ok(None)
}

/// The experiment to explain, its waiting keys evaluated with the stored
/// results; `Err`: what to print instead (it cannot be evaluated now).
fn resolve(
    settings: &RunSettings,
    expansion: &Expansion,
    experiment: &Mapping,
    store: Option<Store>,
    out: &mut String,
) -> Result<Mapping, ()> {
    if !Dependencies::waits(experiment) {
        return Ok(experiment.clone());
    }
    let sandbox = Sandbox::new();
    let options = ExpandOptions {
        seed: settings.seed,
        host: host_name(),
        limit: None,
        placeholders: false,
    };
    let mut expander = Expander::new(&sandbox, None, expansion.defaults.clone(), &options);
    let mut dependencies = Dependencies::new(expansion.histories.clone());
    let mut cache = store.map(|store| Cache::new(store, identifier(settings), false, host_name()));
    let readiness = dependencies.check(
        experiment,
        &mut expander,
        cache
            .as_mut()
            .map(|c| c as &mut dyn crate::runner::RunStore),
    );
    match readiness {
        Readiness::Ready(evaluated) => {
            let _ = writeln!(
                out,
                "reads the results of earlier experiments (stored runs):"
            );
            for (key, value) in experiment {
                let Some(text) = value.as_str().filter(|v| v.starts_with(PARSE_PREFIX)) else {
                    continue;
                };
                let now = evaluated
                    .get(key)
                    .map_or_else(String::new, crate::filter::format::inline);
                let _ = writeln!(out, "  {}: {now}  ({text})", crate::expr::key_name(key));
            }
            Ok(evaluated)
        }
        Readiness::Wait(nodes) => {
            for node in nodes {
                let why = if node.0 == 0 {
                    format!("; `explain --pick {}` says why", node.1)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "waits for {}: no `done` run of it is in the store, so what it reads is \
                     not known until it has run (it would run first{why})",
                    dependencies.describe(node),
                );
            }
            Err(())
        }
        Readiness::Skip(why) | Readiness::Fail(why) => {
            let _ = writeln!(out, "cannot run: {why}");
            Err(())
        }
    }
}
