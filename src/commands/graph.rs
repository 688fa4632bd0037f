//! `run --dry` for pipelines: the longest chain of experiments that wait for
//! one another, and `--graph` (text or Graphviz DOT).
//!
//! Experiments arrive in queue order, each waiting one with `E_INDEX` and
//! `WAITS_FOR` (`config/awaits.rs`); an experiment's position in `E` is
//! its index in its global repetition, so the queue index of what it waits
//! for is known without keeping the experiments.

use std::fmt::Write as _;
use std::io::Write as _;

use rustc_hash::FxHashMap as HashMap;
use yaml_serde::Mapping;

use crate::cli::GraphFormat;
use crate::config::{global_rep, waits_for};
use crate::model::name_of;

/// Where the experiments of each global repetition start in the queue, and
/// the chains that end at each waiting experiment.
#[derive(Default)]
pub(crate) struct Chains {
    rep: Option<u64>,
    rep_start: usize,
    /// Queue index → (experiments in the longest chain ending here, the
    /// queue index before it in that chain).
    depth: HashMap<usize, (usize, Option<usize>)>,
    names: HashMap<usize, String>,
    /// Experiments that wait.
    pub(crate) waiting: usize,
    longest: Option<usize>,
}

impl Chains {
    /// Experiment `index` of the queue; the queue indices it waits for.
    pub(crate) fn add(&mut self, index: usize, experiment: &Mapping) -> Vec<usize> {
        let rep = global_rep(experiment);
        if self.rep != Some(rep) {
            self.rep = Some(rep);
            self.rep_start = index;
        }
        let Some((_, parents)) = waits_for(experiment) else {
            return Vec::new();
        };
        self.waiting += 1;
        let parents: Vec<usize> = parents.iter().map(|p| self.rep_start + p).collect();
        let (mut best, mut via) = (0, None);
        for &parent in &parents {
            let depth = self.depth.get(&parent).map_or(1, |d| d.0);
            if depth > best {
                (best, via) = (depth, Some(parent));
            }
            if let Some(name) = experiment_name(experiment, parent - self.rep_start) {
                self.names.entry(parent).or_insert(name);
            }
        }
        self.depth.insert(index, (best + 1, via));
        self.names.insert(index, name_of(experiment));
        if self.longest.is_none_or(|l| self.depth[&l].0 < best + 1) {
            self.longest = Some(index);
        }
        parents
    }

    /// The name of queue index `index`, as far as known.
    pub(crate) fn name(&self, index: usize) -> String {
        self.names
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("#{index}"))
    }

    /// `longest chain: 3 experiments (#0 pretrain → #2 finetune → #4 evaluate)`.
    pub(crate) fn summary(&self) -> Option<String> {
        let mut at = self.longest?;
        let mut chain = vec![at];
        while let Some(&(_, Some(before))) = self.depth.get(&at) {
            chain.push(before);
            at = before;
        }
        chain.reverse();
        let shown: Vec<String> = chain
            .iter()
            .map(|&i| format!("#{i} {}", self.name(i)))
            .collect();
        Some(format!(
            "longest chain: {} experiments ({})",
            chain.len(),
            shown.join(" → ")
        ))
    }
}

/// The `Name` `WAITS_FOR` gives for position `at`.
fn experiment_name(experiment: &Mapping, at: usize) -> Option<String> {
    let waits = experiment
        .get(crate::model::keys::WAITS_FOR)?
        .as_mapping()?;
    waits
        .get(yaml_serde::Value::from(at as u64))
        .and_then(yaml_serde::Value::as_str)
        .map(str::to_owned)
}

/// `--graph`: written as the experiments arrive.
pub(crate) struct Graph {
    format: GraphFormat,
    out: std::io::BufWriter<std::io::Stdout>,
    edges: usize,
}

impl Graph {
    pub(crate) fn new(format: GraphFormat) -> Self {
        let mut out = std::io::BufWriter::new(std::io::stdout());
        if format == GraphFormat::Dot {
            let _ = writeln!(
                out,
                "digraph pipeline {{\n  rankdir=LR;\n  node [shape=box];"
            );
        }
        Self {
            format,
            out,
            edges: 0,
        }
    }

    /// Experiment `index` waits for `parents` (queue indices).
    pub(crate) fn add(&mut self, index: usize, parents: &[usize], chains: &Chains) {
        if parents.is_empty() {
            return;
        }
        self.edges += parents.len();
        let mut line = String::new();
        match self.format {
            GraphFormat::Text => {
                let from: Vec<String> = parents
                    .iter()
                    .map(|&p| format!("#{p} {}", chains.name(p)))
                    .collect();
                let _ = writeln!(
                    line,
                    "#{index} {} <- {}",
                    chains.name(index),
                    from.join(", ")
                );
            }
            GraphFormat::Dot => {
                for &node in parents.iter().chain([&index]) {
                    let label = chains.name(node).replace('\\', "\\\\").replace('"', "\\\"");
                    let _ = writeln!(line, "  n{node} [label=\"#{node} {label}\"];");
                }
                for parent in parents {
                    let _ = writeln!(line, "  n{parent} -> n{index};");
                }
            }
        }
        let _ = self.out.write_all(line.as_bytes());
    }

    pub(crate) fn finish(mut self) {
        match self.format {
            GraphFormat::Dot => {
                let _ = writeln!(self.out, "}}");
            }
            GraphFormat::Text if self.edges == 0 => {
                let _ = writeln!(self.out, "no experiment waits for another");
            }
            GraphFormat::Text => {}
        }
        let _ = self.out.flush();
    }
}
