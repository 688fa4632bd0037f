//! Groups kept up to date as runs arrive: the same figures as
//! `filter --group-by ... --agg ...` (`filter`'s `Aggregator`: `done` runs
//! only, a second run with the `RUN_DIR` of one already counted left out,
//! groups ordered by their key values), but a run is added once, when it
//! finishes, instead of every run on every answer. Group keys are the
//! values themselves (hashed, never formatted as text).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use yaml_serde::Value;

use super::data::Run;
use crate::filter::aggregate::{Accumulator, AggregateSpec, Group};
use crate::filter::format::lookup;
use crate::filter::sort::SortKey;
use crate::model::keys;

/// A run that cannot be added in order: a copy (same `RUN_DIR`) of a run
/// with a higher id was counted already. The tally must be built again
/// from the runs in id order.
#[derive(Debug)]
pub(crate) struct OutOfOrder;

#[derive(Debug, Clone)]
pub(crate) struct Tally {
    pub(crate) spec: AggregateSpec,
    /// Group positions by the hash of their key values.
    index: HashMap<u64, Vec<usize>>,
    groups: Vec<Group>,
    /// The runs counted, by the hash of their `RUN_DIR`.
    dirs: HashMap<u64, Vec<Arc<Run>>>,
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

impl Tally {
    pub(crate) fn new(spec: AggregateSpec) -> Self {
        Self {
            spec,
            index: HashMap::new(),
            groups: Vec::new(),
            dirs: HashMap::new(),
        }
    }

    /// Count one finished run (left out unless `done`, or when a run with
    /// its `RUN_DIR` is counted already).
    pub(crate) fn add(&mut self, run: &Arc<Run>) -> Result<(), OutOfOrder> {
        if !run.counted {
            return Ok(());
        }
        let doc = &run.doc;
        if let Some(hash) = run.dir_hash {
            let dir = doc.get(keys::RUN_DIR);
            let same = self.dirs.entry(hash).or_default();
            match same.iter().find(|r| r.doc.get(keys::RUN_DIR) == dir) {
                Some(counted) if counted.id < run.id => return Ok(()),
                Some(_) => return Err(OutOfOrder),
                None => same.push(Arc::clone(run)),
            }
        }
        let values: Vec<Option<&Value>> =
            self.spec.group_by.iter().map(|k| lookup(doc, k)).collect();
        let mut hasher = DefaultHasher::new();
        values.hash(&mut hasher);
        let hash = hasher.finish();
        let bucket = self.index.entry(hash).or_default();
        let at = match bucket.iter().find(|&&i| {
            self.groups[i]
                .values
                .iter()
                .zip(&values)
                .all(|(a, b)| a.as_ref() == *b)
        }) {
            Some(&i) => i,
            None => {
                self.groups.push(Group {
                    values: values.iter().map(|v| v.cloned()).collect(),
                    n: 0,
                    accumulators: vec![Accumulator::default(); self.spec.agg.len()],
                });
                bucket.push(self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[at];
        group.n += 1;
        for (acc, key) in group.accumulators.iter_mut().zip(&self.spec.agg) {
            if let Some(x) = number(lookup(doc, key)) {
                acc.push(x);
            }
        }
        Ok(())
    }

    /// The groups, ordered by their key values (missing last).
    pub(crate) fn groups(&self) -> Vec<Group> {
        let mut keyed: Vec<(Vec<SortKey>, &Group)> = self
            .groups
            .iter()
            .map(|g| {
                let keys = g
                    .values
                    .iter()
                    .map(|v| v.as_ref().map_or(SortKey::Missing, SortKey::from_value))
                    .collect();
                (keys, g)
            })
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.cmp_dir(y, false))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        keyed.into_iter().map(|(_, g)| g.clone()).collect()
    }

    /// Build from runs in id order.
    pub(crate) fn of<'a>(
        spec: AggregateSpec,
        runs: impl IntoIterator<Item = &'a Arc<Run>>,
    ) -> Self {
        let mut tally = Self::new(spec);
        for run in runs {
            // In id order no copy comes before its original.
            let _ = tally.add(run);
        }
        tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::aggregate::Aggregator;

    fn run(id: i64, doc: &str) -> Arc<Run> {
        let doc: yaml_serde::Mapping = yaml_serde::from_str(doc).unwrap();
        let (counted, dir_hash) = Run::aggregation_keys(&doc);
        Arc::new(Run {
            id,
            index: id,
            name: format!("r{id}"),
            status: "done".to_owned(),
            exit_code: None,
            started_at: String::new(),
            finished_at: None,
            elapsed: None,
            host: "h".to_owned(),
            pid: None,
            runner_pid: 1,
            slot: None,
            dir: None,
            doc,
            counted,
            dir_hash,
        })
    }

    #[test]
    fn agrees_with_filters_aggregator() {
        let runs = [
            run(1, "{lr: 0.1, ACC: 1, RUN_DIR: a, STATUS: done}"),
            run(2, "{lr: 0.01, ACC: 2, RUN_DIR: b, STATUS: done}"),
            run(3, "{lr: 0.1, ACC: 3, RUN_DIR: c, STATUS: done}"),
            run(
                4,
                "{lr: 0.1, ACC: 9, RUN_DIR: a, STATUS: done, CACHED: true}",
            ),
            run(5, "{lr: 0.1, ACC: 7, RUN_DIR: d, STATUS: failed}"),
            run(6, "{ACC: 5}"),
            run(7, "{lr: 1, ACC: x, RUN_DIR: e}"),
        ];
        let spec = AggregateSpec {
            group_by: vec!["lr".to_owned()],
            agg: vec!["ACC".to_owned()],
            ..AggregateSpec::default()
        };
        let mut aggregator = Aggregator::default();
        for r in &runs {
            aggregator.add(&spec, &r.doc);
        }
        let want = aggregator.finish(true, false);
        let mut tally = Tally::new(spec);
        for r in &runs {
            tally.add(r).unwrap();
        }
        let got = tally.groups();
        let show = |g: &[Group]| {
            g.iter()
                .map(|g| {
                    let a = g.accumulators[0];
                    (format!("{:?}", g.values), g.n, a.count, a.mean(), a.std())
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(show(&got), show(&want));
        assert_eq!(got.len(), 4);
        // A copy of run 3's directory with a lower id, after it: rebuild.
        assert!(tally.add(&run(0, "{lr: 2, RUN_DIR: c}")).is_err());
    }
}
