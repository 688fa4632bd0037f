//! `Global.slurm` and an experiment's `Slurm:` mapping: the resources a
//! Slurm job asks for, typed and checked once. An experiment's mapping
//! overrides `Global.slurm` key by key; experiments whose merged resources
//! are equal share one job array.

use yaml_serde::{Mapping, Value};

use super::global::{key_text, value_kind};
use super::keys::unknown_key_message;

/// Every key of `Global.slurm` (and of an experiment's `Slurm:`).
pub(crate) const SLURM_KEYS: [&str; 10] = [
    "partition",
    "time",
    "cpus_per_task",
    "mem",
    "gpus",
    "account",
    "qos",
    "array_parallelism",
    "extra",
    "requeue",
];

/// Where the jobs run: `run --executor`, `Global.executor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ExecutorKind {
    #[default]
    Local,
    Slurm,
}

impl ExecutorKind {
    /// `local` or `slurm`; the error is a message for people.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "local" => Ok(Self::Local),
            "slurm" => Ok(Self::Slurm),
            other => Err(format!(
                "unknown executor `{other}`: expected `local` or `slurm`"
            )),
        }
    }
}

/// The resources of a Slurm job, as `sbatch` options.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct SlurmSettings {
    pub partition: Option<String>,
    /// The time limit in seconds (`--time`).
    pub time: Option<u64>,
    pub cpus_per_task: Option<u64>,
    /// `--mem` as written (`4G`, `500M`).
    pub mem: Option<String>,
    /// `--gpus` as written (`1`, `a100:2`).
    pub gpus: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// At most this many tasks of an array run at once (`%P`).
    pub array_parallelism: Option<u64>,
    /// More `sbatch` options, passed as they are.
    pub extra: Vec<String>,
    /// How many times a job that hit its time limit (warned by USR2) is
    /// requeued into the same run directory.
    pub requeue: u64,
}

impl SlurmSettings {
    /// Read a `Slurm` mapping (null: nothing set). `parent` names it in
    /// messages (`Global.slurm`, `Slurm`).
    pub(crate) fn from_value(value: Option<&Value>, parent: &str) -> Result<Self, String> {
        let mut settings = Self::default();
        settings.apply(value, parent)?;
        Ok(settings)
    }

    /// `self` with the keys of `over` (an experiment's `Slurm:`) put over it.
    pub(crate) fn merged(&self, over: Option<&Value>) -> Result<Self, String> {
        let mut merged = self.clone();
        merged.apply(over, "Slurm")?;
        Ok(merged)
    }

    fn apply(&mut self, value: Option<&Value>, parent: &str) -> Result<(), String> {
        let map = match value {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Mapping(map)) => map,
            Some(other) => {
                return Err(format!(
                    "`{parent}` must be a mapping of `sbatch` resources, found {}",
                    value_kind(other)
                ))
            }
        };
        for (key, value) in map {
            let key = key_text(key);
            self.set(&key, value, parent)?;
        }
        Ok(())
    }

    fn set(&mut self, key: &str, value: &Value, parent: &str) -> Result<(), String> {
        let name = format!("{parent}.{key}");
        match key {
            "partition" => self.partition = text(value, &name)?,
            "account" => self.account = text(value, &name)?,
            "qos" => self.qos = text(value, &name)?,
            "mem" => self.mem = text(value, &name)?,
            "gpus" => self.gpus = text(value, &name)?,
            "time" => {
                self.time = match value {
                    Value::Null => None,
                    _ => Some(time_limit(value).map_err(|m| format!("`{name}` {m}"))?),
                }
            }
            "cpus_per_task" => self.cpus_per_task = count(value, &name, 1)?,
            "array_parallelism" => self.array_parallelism = count(value, &name, 1)?,
            "requeue" => self.requeue = count(value, &name, 0)?.unwrap_or(0),
            "extra" => self.extra = extra(value, &name)?,
            other => return Err(unknown_key_message(parent, other, &SLURM_KEYS)),
        }
        Ok(())
    }

    /// The `sbatch` options for these resources (without the array).
    pub(crate) fn sbatch_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut add = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                args.push(format!("--{flag}={value}"));
            }
        };
        add("partition", self.partition.clone());
        add("time", self.time.map(format_time));
        add("cpus-per-task", self.cpus_per_task.map(|n| n.to_string()));
        add("mem", self.mem.clone());
        add("gpus", self.gpus.clone());
        add("account", self.account.clone());
        add("qos", self.qos.clone());
        args.extend(self.extra.iter().cloned());
        args
    }
}

fn text(value: &Value, name: &str) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(format!(
            "`{name}` must be a string, found {}",
            value_kind(other)
        )),
    }
}

fn count(value: &Value, name: &str, min: u64) -> Result<Option<u64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(n) if n >= min => Ok(Some(n)),
            _ => Err(format!("`{name}` must be an integer of at least {min}")),
        },
        _ => Err(format!("`{name}` must be an integer of at least {min}")),
    }
}

fn extra(value: &Value, name: &str) -> Result<Vec<String>, String> {
    let bad = || format!("`{name}` must be a list of `sbatch` options such as `--constraint=a100`");
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.starts_with('-') => Ok(vec![s.clone()]),
        Value::Sequence(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) if s.starts_with('-') => Ok(s.clone()),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// A Slurm time limit in seconds: a number of minutes, or Slurm's formats
/// `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
pub(crate) fn time_limit(value: &Value) -> Result<u64, String> {
    let bad = || "must be minutes or a Slurm time (`90`, `1:30:00`, `1-00:00:00`)".to_owned();
    let secs = match value {
        Value::Number(n) => {
            let minutes = n.as_f64().ok_or_else(bad)?;
            if !(minutes.is_finite() && minutes > 0.0 && minutes < 1e8) {
                return Err(bad());
            }
            (minutes * 60.0).ceil() as u64
        }
        Value::String(s) => parse_time(s.trim()).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(bad());
    }
    Ok(secs)
}

fn parse_time(text: &str) -> Option<u64> {
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (days, clock) = match text.split_once('-') {
        Some((d, rest)) => (Some(num(d)?), rest),
        None => (None, text),
    };
    let parts: Vec<u64> = clock.split(':').map(num).collect::<Option<_>>()?;
    let secs = match (days, parts.as_slice()) {
        (None, [m]) => m * 60,
        (None, [m, s]) => m * 60 + s,
        (None, [h, m, s]) => h * 3600 + m * 60 + s,
        (Some(d), [h]) => d * 86400 + h * 3600,
        (Some(d), [h, m]) => d * 86400 + h * 3600 + m * 60,
        (Some(d), [h, m, s]) => d * 86400 + h * 3600 + m * 60 + s,
        _ => return None,
    };
    Some(secs)
}

/// Seconds as `sbatch --time` takes them: `D-HH:MM:SS`.
pub(crate) fn format_time(secs: u64) -> String {
    let (days, rest) = (secs / 86400, secs % 86400);
    format!(
        "{days}-{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Read `Global.executor`.
pub(crate) fn executor(value: Option<&Value>) -> Result<ExecutorKind, String> {
    match value {
        None | Some(Value::Null) => Ok(ExecutorKind::Local),
        Some(Value::String(s)) => {
            ExecutorKind::parse(s).map_err(|m| format!("`Global.executor`: {m}"))
        }
        Some(other) => Err(format!(
            "`Global.executor` must be `local` or `slurm`, found {}",
            value_kind(other)
        )),
    }
}

/// The experiment's `Slurm:` merged over `global`.
pub(crate) fn for_experiment(
    global: &SlurmSettings,
    experiment: &Mapping,
) -> Result<SlurmSettings, String> {
    global.merged(experiment.get(super::keys::SLURM))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SlurmSettings, String> {
        let value: Value = yaml_serde::from_str(text).unwrap();
        SlurmSettings::from_value(Some(&value), "Global.slurm")
    }

    #[test]
    fn times_in_slurm_formats() {
        for (text, secs) in [
            ("90", 5400),
            ("1.5", 90),
            ("'90'", 5400),
            ("'1:30'", 90),
            ("'1:30:00'", 5400),
            ("'1-00:00:00'", 86400),
            ("'2-3'", 2 * 86400 + 3 * 3600),
            ("'1-2:30'", 86400 + 2 * 3600 + 1800),
        ] {
            let value: Value = yaml_serde::from_str(text).unwrap();
            assert_eq!(time_limit(&value), Ok(secs), "{text}");
        }
        for text in ["0", "-1", "'x'", "'1:2:3:4'", "'1-'", "[1]", "'1:'"] {
            let value: Value = yaml_serde::from_str(text).unwrap();
            assert!(time_limit(&value).is_err(), "{text}");
        }
        assert_eq!(format_time(5400), "0-01:30:00");
        assert_eq!(format_time(86400 + 61), "1-00:01:01");
    }

    #[test]
    fn every_key_and_merging() {
        let global = parse(
            "{partition: gpu, time: 90, cpus_per_task: 4, mem: 16G, gpus: 1, account: lab, \
             qos: high, array_parallelism: 8, extra: ['--constraint=a100'], requeue: 2}",
        )
        .unwrap();
        assert_eq!(
            global.sbatch_args(),
            [
                "--partition=gpu",
                "--time=0-01:30:00",
                "--cpus-per-task=4",
                "--mem=16G",
                "--gpus=1",
                "--account=lab",
                "--qos=high",
                "--constraint=a100"
            ]
        );
        assert_eq!((global.array_parallelism, global.requeue), (Some(8), 2));
        let over: Value = yaml_serde::from_str("{time: '10:00', gpus: null}").unwrap();
        let merged = global.merged(Some(&over)).unwrap();
        assert_eq!((merged.time, merged.gpus), (Some(600), None));
        assert_eq!(merged.partition.as_deref(), Some("gpu"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        assert_eq!(
            parse("{partion: gpu}").unwrap_err(),
            "unknown key `Global.slurm.partion`; did you mean `partition`?"
        );
        assert!(parse("{cpus_per_task: 0}")
            .unwrap_err()
            .starts_with("`Global.slurm.cpus_per_task` must be an integer"));
        assert!(parse("{extra: [a100]}")
            .unwrap_err()
            .starts_with("`Global.slurm.extra` must be a list"));
        assert!(parse("{time: soon}")
            .unwrap_err()
            .starts_with("`Global.slurm.time` must be minutes"));
        assert!(parse("[1]").unwrap_err().contains("must be a mapping"));
        assert_eq!(ExecutorKind::parse("slurm"), Ok(ExecutorKind::Slurm));
        assert!(ExecutorKind::parse("pbs").is_err());
    }
}
