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

use super::compact::{self, Cell, KeyId};
use super::data::Run;
use crate::filter::aggregate::{Accumulator, AggregateSpec, Group};
use crate::filter::format::lookup;
use crate::filter::sort::SortKey;

/// A run that cannot be added in order: a copy (same `RUN_DIR`) of a run
/// with a higher id was counted already. The tally must be built again
/// from the runs in id order.
#[derive(Debug)]
pub(crate) struct OutOfOrder;

#[derive(Debug, Clone)]
pub(crate) struct Tally {
    pub(crate) spec: AggregateSpec,
    group_cols: Vec<Col>,
    agg_cols: Vec<Col>,
    /// Group positions by the hash of their cells.
    index: HashMap<u64, Vec<usize>, Hashed>,
    groups: Vec<Group>,
    /// Each group's cells.
    cells: Vec<Vec<Cell>>,
    /// The id of the run counted for each `RUN_DIR`, by the hash of the
    /// `RUN_DIR` (as strings in [`super::compact`], a 64-bit hash stands
    /// for the text: two run directories of 100,000 sharing one, about one
    /// chance in 10^9).
    dirs: HashMap<u64, i64, Hashed>,
    buf: Vec<Cell>,
}

/// Where a key's value is: a top-level key in the run's cells, or a dotted
/// path looked up in its document.
#[derive(Debug, Clone)]
enum Col {
    Top(KeyId),
    Path(String),
}

impl Col {
    fn of(key: &str) -> Self {
        if key.contains('.') {
            Col::Path(key.to_owned())
        } else {
            Col::Top(compact::intern(key))
        }
    }

    fn cell(&self, run: &Run) -> Cell {
        match self {
            Col::Top(id) => compact::get(&run.cells, *id),
            Col::Path(key) => Cell::of(lookup(&run.doc, key)),
        }
    }
}

/// Keys that are hashes already: used as they are.
#[derive(Debug, Clone, Copy, Default)]
struct Hashed;

#[derive(Debug, Default)]
struct Passed(u64);

impl std::hash::BuildHasher for Hashed {
    type Hasher = Passed;
    fn build_hasher(&self) -> Passed {
        Passed::default()
    }
}

impl Hasher for Passed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Tally {
    pub(crate) fn new(spec: AggregateSpec) -> Self {
        Self {
            group_cols: spec.group_by.iter().map(|k| Col::of(k)).collect(),
            agg_cols: spec.agg.iter().map(|k| Col::of(k)).collect(),
            spec,
            index: HashMap::default(),
            groups: Vec::new(),
            cells: Vec::new(),
            dirs: HashMap::default(),
            buf: Vec::new(),
        }
    }

    /// Count one finished run (left out unless `done`, or when a run with
    /// its `RUN_DIR` is counted already).
    pub(crate) fn add(&mut self, run: &Run) -> Result<(), OutOfOrder> {
        if !run.counted {
            return Ok(());
        }
        let doc = &run.doc;
        if let Some(hash) = run.dir_hash {
            match self.dirs.get(&hash) {
                None => {
                    self.dirs.insert(hash, run.id);
                }
                Some(counted) if *counted < run.id => return Ok(()),
                Some(_) => return Err(OutOfOrder),
            }
        }
        self.buf.clear();
        self.buf.extend(self.group_cols.iter().map(|c| c.cell(run)));
        let mut hasher = DefaultHasher::new();
        self.buf.hash(&mut hasher);
        let hash = hasher.finish();
        let bucket = self.index.entry(hash).or_default();
        let at = match bucket.iter().find(|&&i| self.cells[i] == self.buf) {
            Some(&i) => i,
            None => {
                self.groups.push(Group {
                    values: self
                        .spec
                        .group_by
                        .iter()
                        .map(|k| lookup(doc, k).cloned())
                        .collect(),
                    n: 0,
                    accumulators: vec![Accumulator::default(); self.spec.agg.len()],
                });
                self.cells.push(self.buf.clone());
                bucket.push(self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[at];
        group.n += 1;
        for (acc, col) in group.accumulators.iter_mut().zip(&self.agg_cols) {
            if let Some(x) = col.cell(run).number() {
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
        let runs = runs.into_iter();
        let mut tally = Self::new(spec);
        tally.dirs.reserve(runs.size_hint().0);
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
            counted,
            dir_hash,
            cells: crate::serve::compact::cells(&doc),
            doc,
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

    /// How long building a tally over 100,000 runs takes (not a test:
    /// `cargo test --release --lib tally_speed -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement"]
    fn tally_speed() {
        let runs: Vec<Arc<Run>> = (0..100_000)
            .map(|i| {
                run(
                    i,
                    &format!(
                        "{{Name: e{i}, Module: python3 train.py, lr: {}, seed: {}, model: {{layers: {}, width: 256}}, REP: 0, ACC: 0.{i}, LOSS: 0.5, STATUS: done, EXIT_CODE: 0, RUN_DIR: runs/e{i}, HOST: bench}}",
                        [0.001, 0.01, 0.1][i as usize % 3],
                        i / 5 % 20,
                        i % 7
                    ),
                )
            })
            .collect();
        let spec = AggregateSpec {
            group_by: vec!["lr".to_owned()],
            agg: vec!["ACC".to_owned(), "LOSS".to_owned()],
            ..AggregateSpec::default()
        };
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let tally = Tally::of(spec.clone(), &runs);
            let took = t.elapsed();
            assert_eq!(tally.groups().len(), 3);
            eprintln!("tally over 100,000 runs: {took:?}");
        }
    }
}
