//! Pipelines at expansion: an experiment whose expressions read a result of
//! an earlier one (`E[-1].CHECKPOINT`, which that experiment does not have
//! until it has run), or that names earlier ones in `After`, waits for them.
//!
//! Its other keys are expanded as usual; the keys that wait keep their
//! `parse` text and the experiment is marked with `E_INDEX` (its position in
//! `E`) and `WAITS_FOR` (`{position: Name}` of what it waits for). The runner
//! evaluates the waiting keys once those experiments have finished, in `E`
//! as it was here, their results in it (`runner/awaits.rs`).

use yaml_serde::{Mapping, Value};

use crate::expr::{Awaited, History};
use crate::model::keys;

/// Mark `experiment` (at position `at` of `E`) as waiting for `parents`.
pub(crate) fn mark_waiting(experiment: &mut Mapping, at: usize, parents: &[usize], e: &History) {
    let mut waits = Mapping::new();
    for &parent in parents {
        let name = e.name(parent).map_or(Value::Null, Value::from);
        waits.insert(Value::from(parent as u64), name);
    }
    experiment.insert(Value::from(keys::E_INDEX), Value::from(at as u64));
    experiment.insert(Value::from(keys::WAITS_FOR), Value::Mapping(waits));
}

/// The positions in `E` an experiment waits for (`WAITS_FOR`), and its own.
pub(crate) fn waits_for(experiment: &Mapping) -> Option<(usize, Vec<usize>)> {
    let at = experiment.get(keys::E_INDEX)?.as_u64()?;
    let parents = match experiment.get(keys::WAITS_FOR)? {
        Value::Mapping(map) => map.keys().filter_map(Value::as_u64),
        _ => return None,
    };
    Some((at as usize, parents.map(|p| p as usize).collect()))
}

/// What a waiting value prints as in `--dry`: `<waits for pretrain.CHECKPOINT>`.
fn placeholder(awaited: &Awaited) -> String {
    match &awaited.name {
        Some(name) => format!("<waits for {name}.{}>", awaited.key),
        None => format!("<waits for E[{}].{}>", awaited.at, awaited.key),
    }
}

/// Replace each waiting value (`path` → what it waits for) by its
/// [`placeholder`].
pub(crate) fn placeholders(experiment: &mut Mapping, deferred: &[(Vec<String>, Awaited)]) {
    let mut done: Vec<&[String]> = Vec::new();
    for (path, awaited) in deferred {
        if done.contains(&path.as_slice()) {
            continue; // the first result a value waits for names it
        }
        done.push(path);
        if let Some(value) = value_at(experiment, path) {
            *value = Value::from(placeholder(awaited));
        }
    }
}

fn value_at<'m>(map: &'m mut Mapping, path: &[String]) -> Option<&'m mut Value> {
    let (first, rest) = path.split_first()?;
    let mut value = map.get_mut(first.as_str())?;
    for step in rest {
        value = match value {
            Value::Mapping(map) => map.get_mut(step.as_str())?,
            Value::Sequence(items) => {
                let i: usize = step.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?;
                items.get_mut(i)?
            }
            Value::Tagged(tagged) => &mut tagged.value,
            _ => return None,
        };
    }
    Some(value)
}

/// The names in `After` (a name or a list of names); an error message if it
/// is something else.
pub(crate) fn after_names(experiment: &Mapping) -> Result<Vec<String>, String> {
    let names = match experiment.get(keys::AFTER) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(name)) => vec![name.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(name) => Ok(name.clone()),
                other => Err(format!(
                    "`After` lists experiment names; found `{}`",
                    crate::filter::format::inline(other)
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "`After` is a name or a list of names of earlier experiments; found `{}`",
                crate::filter::format::inline(other)
            ))
        }
    };
    Ok(names)
}

/// After expansion, give `E_INDEX` to every experiment another waits for,
/// so that the runner knows them when they finish. `experiments` are in
/// queue order; positions restart at each global repetition. Whether any
/// experiment waits.
pub(crate) fn mark_parents(experiments: &mut [Mapping]) -> bool {
    let mut parents: std::collections::HashSet<(u64, usize)> = std::collections::HashSet::new();
    for experiment in experiments.iter() {
        if let Some((_, waits)) = waits_for(experiment) {
            let rep = global_rep(experiment);
            parents.extend(waits.into_iter().map(|p| (rep, p)));
        }
    }
    if parents.is_empty() {
        return false;
    }
    let (mut rep, mut at) = (None, 0usize);
    for experiment in experiments.iter_mut() {
        let this = global_rep(experiment);
        if rep != Some(this) {
            rep = Some(this);
            at = 0;
        }
        if parents.contains(&(this, at)) && !experiment.contains_key(keys::E_INDEX) {
            experiment.insert(Value::from(keys::E_INDEX), Value::from(at as u64));
        }
        at += 1;
    }
    true
}

/// The experiment's `GLOBAL_REP` (0 when it has none).
pub(crate) fn global_rep(experiment: &Mapping) -> u64 {
    experiment
        .get(keys::GLOBAL_REP)
        .and_then(Value::as_u64)
        .unwrap_or(0)
}
