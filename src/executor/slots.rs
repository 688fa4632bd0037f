//! Parallel slots and GPU allocation: which slot number and which GPUs an
//! experiment gets when it starts, and when the next one may start.
//!
//! A slot is a small integer (`COOL_RUNNER_SLOT`, 0..N-1); the lowest free
//! one is given out, so a run with `-j 2` only ever sees slots 0 and 1.
//! GPUs are given out lowest-first too, and a GPU is never in two leases at
//! once: that is the property the tests check through
//! `CUDA_VISIBLE_DEVICES`. The session asks the executor's `capacity` for the head
//! of the queue and waits for a module to end when it says no: experiments start
//! in queue order, never overtaking one that waits for GPUs.

use yaml_serde::Mapping;

use super::Capacity;
use crate::model::keys;

/// How many experiments may run at once and on which GPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotConfig {
    /// Number of slots (at least 1).
    pub jobs: usize,
    /// GPU ids to hand out; empty when the run does not use GPUs (then
    /// `CUDA_VISIBLE_DEVICES` is left as the runner found it).
    pub gpus: Vec<String>,
}

impl Default for SlotConfig {
    fn default() -> Self {
        Self {
            jobs: 1,
            gpus: Vec::new(),
        }
    }
}

impl SlotConfig {
    /// `jobs` from `-j`/`Global.jobs` when given, else one slot per GPU
    /// (or one slot without GPUs).
    pub(crate) fn new(jobs: Option<usize>, gpus: Vec<String>) -> Self {
        let jobs = jobs.unwrap_or(gpus.len()).max(1);
        Self { jobs, gpus }
    }
}

/// What a started experiment holds until it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    pub slot: usize,
    pub gpus: Vec<String>,
}

impl Lease {
    /// The environment the module gets for this lease.
    pub(crate) fn env(&self, use_gpus: bool) -> Vec<(String, String)> {
        let mut env = vec![("COOL_RUNNER_SLOT".to_owned(), self.slot.to_string())];
        if use_gpus {
            env.push(("CUDA_VISIBLE_DEVICES".to_owned(), self.gpus.join(",")));
        }
        env
    }
}

/// Why an experiment can never start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SlotError {
    #[error(
        "`GPUs: {wanted}` asks for more GPUs than the run has ({have}); hint: `--gpus 0,1,...`"
    )]
    TooMany { wanted: usize, have: usize },
    #[error("`GPUs` must be a non-negative integer")]
    Invalid,
}

/// The free and used slots and GPUs of one run.
#[derive(Debug)]
pub(crate) struct Slots {
    config: SlotConfig,
    slot_used: Vec<bool>,
    gpu_used: Vec<bool>,
}

impl Slots {
    pub(crate) fn new(config: SlotConfig) -> Self {
        Self {
            slot_used: vec![false; config.jobs],
            gpu_used: vec![false; config.gpus.len()],
            config,
        }
    }

    pub(crate) fn uses_gpus(&self) -> bool {
        !self.config.gpus.is_empty()
    }

    pub(crate) fn has_free_slot(&self) -> bool {
        self.slot_used.contains(&false)
    }

    /// How many GPUs `experiment` asks for: its `GPUs` key, else 1 when the
    /// run has GPUs, else 0.
    pub(crate) fn wanted(&self, experiment: &Mapping) -> Result<usize, SlotError> {
        let wanted = crate::model::experiment::gpus(experiment.get(keys::GPUS))
            .map_err(|_| SlotError::Invalid)?
            .unwrap_or_else(|| usize::from(self.uses_gpus()));
        if wanted > self.config.gpus.len() {
            return Err(SlotError::TooMany {
                wanted,
                have: self.config.gpus.len(),
            });
        }
        Ok(wanted)
    }

    /// Whether `experiment` (merged over the defaults, not yet expanded: its
    /// `GPUs` is a plain integer) may start now.
    pub(crate) fn capacity(&mut self, experiment: &Mapping) -> Capacity {
        match self.wanted(experiment) {
            Ok(gpus) => self.try_acquire(gpus).map_or(Capacity::Wait, Capacity::Now),
            Err(err) => Capacity::Never(err),
        }
    }

    /// A free slot and `gpus` free GPUs, or `None` if the experiment must
    /// wait for a running one to end.
    pub(crate) fn try_acquire(&mut self, gpus: usize) -> Option<Lease> {
        let slot = self.slot_used.iter().position(|u| !u)?;
        let free: Vec<usize> = (0..self.gpu_used.len())
            .filter(|&i| !self.gpu_used[i])
            .take(gpus)
            .collect();
        if free.len() < gpus {
            return None;
        }
        self.slot_used[slot] = true;
        for &i in &free {
            self.gpu_used[i] = true;
        }
        Some(Lease {
            slot,
            gpus: free.iter().map(|&i| self.config.gpus[i].clone()).collect(),
        })
    }

    pub(crate) fn release(&mut self, lease: &Lease) {
        if let Some(used) = self.slot_used.get_mut(lease.slot) {
            *used = false;
        }
        for gpu in &lease.gpus {
            if let Some(i) = self.config.gpus.iter().position(|g| g == gpu) {
                self.gpu_used[i] = false;
            }
        }
    }
}

/// Parse `--gpus`/`Global.gpus` text: a list of ids `0,1,3` (or `ids:2`
/// for one), `count:N` (ids 0..N-1), `auto` (from `nvidia-smi -L`, none
/// when it is missing) or `none`. A bare number (`2`) is refused: it means
/// "GPU 2" to `CUDA_VISIBLE_DEVICES` but "two GPUs" to Lightning, Docker
/// and Slurm. The error is a lowercase fragment.
pub(crate) fn parse_gpus(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim();
    if let Some(count) = text.strip_prefix("count:") {
        return match count.trim().parse::<usize>() {
            Ok(n) if n <= 1024 => Ok((0..n).map(|i| i.to_string()).collect()),
            _ => Err(format!(
                "invalid GPU count `{text}`: expected `count:N`, as in `count:2`"
            )),
        };
    }
    match text {
        "auto" => Ok(detect_gpus()),
        "" | "none" => Ok(Vec::new()),
        _ if text.parse::<u64>().is_ok() => Err(ambiguous(text)),
        _ => {
            let list = text.strip_prefix("ids:").unwrap_or(text);
            let mut out: Vec<String> = Vec::new();
            for part in list.split(',').map(str::trim) {
                if part.is_empty() || !part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(format!(
                        "invalid GPU list `{text}`: expected ids like `0,1`, `ids:2`, \
                         `count:2` or `auto`"
                    ));
                }
                if out.iter().any(|g| g == part) {
                    return Err(format!("GPU `{part}` is listed twice in `{text}`"));
                }
                out.push(part.to_owned());
            }
            Ok(out)
        }
    }
}

/// Why `--gpus N` is refused, with both spellings of what it may mean.
fn ambiguous(text: &str) -> String {
    let other = match text.parse::<u64>().unwrap_or(0) {
        0 => "`none` for no GPU".to_owned(),
        1 => "`count:1` for one GPU (id 0)".to_owned(),
        n => format!("`count:{n}` for {n} GPUs (ids 0..{})", n - 1),
    };
    format!("`{text}` is ambiguous: write `ids:{text}` for GPU number {text} alone, or {other}")
}

/// The GPU indices `nvidia-smi -L` lists (`GPU 0: ...`), none without it.
pub(crate) fn detect_gpus() -> Vec<String> {
    let Ok(output) = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    if !output.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("GPU ")?;
            let (id, _) = rest.split_once(':')?;
            id.trim()
                .chars()
                .all(|c| c.is_ascii_digit())
                .then(|| id.trim().to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_gpus_unless_jobs_is_given() {
        let gpus = || vec!["0".to_owned(), "1".to_owned()];
        assert_eq!(SlotConfig::new(None, gpus()).jobs, 2);
        assert_eq!(SlotConfig::new(Some(4), gpus()).jobs, 4);
        assert_eq!(SlotConfig::new(None, Vec::new()).jobs, 1);
    }

    #[test]
    fn gpus_are_never_shared() {
        let mut slots = Slots::new(SlotConfig::new(Some(3), parse_gpus("0,1,2").unwrap()));
        let a = slots.try_acquire(2).unwrap();
        assert_eq!((a.slot, a.gpus.clone()), (0, vec!["0".into(), "1".into()]));
        assert!(slots.try_acquire(2).is_none(), "only one GPU left");
        let b = slots.try_acquire(1).unwrap();
        assert_eq!((b.slot, b.gpus.clone()), (1, vec!["2".into()]));
        assert!(slots.try_acquire(1).is_none());
        assert_eq!(slots.try_acquire(0).unwrap().slot, 2);
        slots.release(&a);
        let c = slots.try_acquire(1).unwrap();
        assert_eq!((c.slot, c.gpus), (0, vec!["0".into()]));
        assert_eq!(
            b.env(true),
            [
                ("COOL_RUNNER_SLOT".to_owned(), "1".to_owned()),
                ("CUDA_VISIBLE_DEVICES".to_owned(), "2".to_owned())
            ]
        );
    }

    #[test]
    fn gpu_lists_and_requests() {
        assert!(parse_gpus("0,0").is_err());
        assert!(parse_gpus("0,,1").is_err());
        assert!(parse_gpus("none").unwrap().is_empty());
        let slots = Slots::new(SlotConfig::new(None, parse_gpus("0,1").unwrap()));
        let exp = |text: &str| -> Mapping { yaml_serde::from_str(text).unwrap() };
        assert_eq!(slots.wanted(&exp("a: 1")), Ok(1));
        assert_eq!(slots.wanted(&exp("GPUs: 2")), Ok(2));
        assert_eq!(
            slots.wanted(&exp("GPUs: 3")),
            Err(SlotError::TooMany { wanted: 3, have: 2 })
        );
        assert_eq!(slots.wanted(&exp("GPUs: two")), Err(SlotError::Invalid));
    }
}
