//! `+Key.path=value` command-line overrides of the default config, and
//! `++key.path=value`, which sets the key in every experiment.

use yaml_serde::{Mapping, Value};

use super::error::ConfigError;

/// One parsed override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub arg: String,
    pub path: Vec<String>,
    pub value: Value,
    /// `++key=value`: set in every experiment document, not in the
    /// default config.
    pub every: bool,
    /// `--sweep key=v1,v2`: a grid axis added to every experiment document
    /// (`value` is the list of values).
    pub sweep: bool,
}

/// A `+key=value` override that experiments set themselves: it changes
/// the default config only, so it is shadowed where they do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowing {
    pub arg: String,
    /// How many experiments (of the first global repetition) set the key.
    pub shadowed: usize,
    /// How many experiments the first global repetition has.
    pub of: usize,
}

impl std::fmt::Display for Shadowing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = self.arg.trim_start_matches('+');
        let key = body.split('=').next().unwrap_or_default();
        let by = if self.shadowed == self.of {
            format!("all {} experiments", self.of)
        } else {
            format!("{} of {} experiments", self.shadowed, self.of)
        };
        write!(
            f,
            "`{}` is overridden by {by}: they set `{key}` themselves, and `+` changes \
             the default config only; `++{body}` sets it in every experiment",
            self.arg
        )
    }
}

impl Override {
    /// Parse `+a.b=value`; the value is read as a YAML scalar
    /// (`+Global.repeat=3` is an integer, `+x=` is null, `+x='3'` a string).
    pub fn parse(arg: &str) -> Result<Self, ConfigError> {
        let bad = |message: &str| ConfigError::Override {
            arg: arg.to_owned(),
            message: message.to_owned(),
        };
        let body = arg
            .strip_prefix('+')
            .ok_or_else(|| bad("an override starts with `+`"))?;
        let (every, body) = match body.strip_prefix('+') {
            Some(body) => (true, body),
            None => (false, body),
        };
        let (key, text) = body
            .split_once('=')
            .ok_or_else(|| bad("expected `+Key.path=value`"))?;
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(bad("the key path has an empty part"));
        }
        if every && path[0] == "Global" {
            return Err(bad(
                "`++` sets a key in every experiment; `Global` is the runner's: write `+Global...`",
            ));
        }
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            match yaml_serde::from_str::<Value>(text) {
                // `#experiments` is a YAML comment, hence null; only a null
                // that was written as one is null.
                Ok(Value::Null) if !matches!(text.trim(), "null" | "Null" | "NULL" | "~") => {
                    Value::String(text.to_owned())
                }
                Ok(value) => value,
                Err(_) => Value::String(text.to_owned()),
            }
        };
        Ok(Self {
            arg: arg.to_owned(),
            path,
            value,
            every,
            sweep: false,
        })
    }

    /// Parse the value of `--sweep key.path=v1,v2,...`: a grid axis whose
    /// values are split at commas and each read as a YAML scalar, as
    /// `+key=value` reads its value.
    pub fn parse_sweep(text: &str) -> Result<Self, ConfigError> {
        let arg = format!("--sweep {text}");
        let bad = |message: &str| ConfigError::Override {
            arg: arg.clone(),
            message: message.to_owned(),
        };
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| bad("expected `--sweep key=value1,value2`"))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(bad("the key path has an empty part"));
        }
        if values.trim().is_empty() {
            return Err(bad("an empty axis: give at least one value"));
        }
        let values = values
            .split(',')
            .map(|v| {
                Self::parse(&format!("+{key}={v}"))
                    .map(|o| o.value)
                    .map_err(|_| bad("expected `--sweep key=value1,value2`"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            arg,
            path: key.split('.').map(str::to_owned).collect(),
            value: Value::Sequence(values),
            every: false,
            sweep: true,
        })
    }

    /// Whether `experiment` (a document of the file, before merging) sets
    /// this override's path itself, or replaces a mapping on it.
    pub fn is_set_in(&self, experiment: &Mapping) -> bool {
        let mut map = experiment;
        for part in &self.path {
            match map.get(part.as_str()) {
                None => return false,
                Some(Value::Mapping(inner)) => map = inner,
                Some(_) => return true,
            }
        }
        true
    }
}

/// Set the override's dotted path in `defaults`, creating mappings on the way.
pub fn apply_override(defaults: &mut Mapping, o: &Override) -> Result<(), ConfigError> {
    let mut map = defaults;
    let (last, parents) = o.path.split_last().expect("path is never empty");
    for (depth, part) in parents.iter().enumerate() {
        let key = Value::String(part.clone());
        if !map.contains_key(&key) {
            map.insert(key.clone(), Value::Mapping(Mapping::new()));
        }
        map = match map.get_mut(&key) {
            Some(Value::Mapping(inner)) => inner,
            _ => {
                return Err(ConfigError::Override {
                    arg: o.arg.clone(),
                    message: format!(
                        "`{}` is not a mapping in the default config",
                        o.path[..=depth].join(".")
                    ),
                })
            }
        };
    }
    map.insert(Value::String(last.clone()), o.value.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_yaml_scalars() {
        let o = Override::parse("+Global.repeat=3").unwrap();
        assert_eq!(o.path, ["Global", "repeat"]);
        assert_eq!(o.value, Value::from(3));
        assert_eq!(
            Override::parse("+lr=1e-3").unwrap().value,
            Value::from(0.001)
        );
        assert_eq!(Override::parse("+q=").unwrap().value, Value::Null);
        assert_eq!(Override::parse("+q='3'").unwrap().value, Value::from("3"));
        assert_eq!(
            Override::parse("+q=a: b: c").unwrap().value,
            Value::from("a: b: c")
        );
        // A Slack channel is not a YAML comment.
        assert_eq!(
            Override::parse("+Global.slack.channel=#experiments")
                .unwrap()
                .value,
            Value::from("#experiments")
        );
        assert_eq!(Override::parse("+q=~").unwrap().value, Value::Null);
        assert!(Override::parse("+=3").is_err());
        assert!(Override::parse("+a..b=3").is_err());
        assert!(Override::parse("+a").is_err());
        let every = Override::parse("++opt.lr=0.5").unwrap();
        assert!(every.every && every.path == ["opt", "lr"]);
        assert!(Override::parse("++Global.repeat=2").is_err());
    }

    #[test]
    fn sweeps_are_lists_of_scalars() {
        let o = Override::parse_sweep("opt.lr=0.1,1e-3,x,'3',").unwrap();
        assert!(o.sweep && !o.every && o.path == ["opt", "lr"]);
        assert_eq!(
            o.value,
            Value::Sequence(vec![
                Value::from(0.1),
                Value::from(0.001),
                Value::from("x"),
                Value::from("3"),
                Value::Null
            ])
        );
        assert_eq!(o.arg, "--sweep opt.lr=0.1,1e-3,x,'3',");
        for bad in ["lr", "lr=", "=1,2", "a..b=1"] {
            assert!(Override::parse_sweep(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shadowing() {
        let o = Override::parse("+opt.lr=0.5").unwrap();
        let doc = |t: &str| yaml_serde::from_str::<Mapping>(t).unwrap();
        assert!(o.is_set_in(&doc("opt: {lr: 1}")));
        assert!(o.is_set_in(&doc("opt: sgd")));
        assert!(!o.is_set_in(&doc("opt: {m: 1}")));
        assert!(!o.is_set_in(&doc("x: 1")));
        let s = Shadowing {
            arg: o.arg,
            shadowed: 15,
            of: 15,
        };
        assert_eq!(
            s.to_string(),
            "`+opt.lr=0.5` is overridden by all 15 experiments: they set `opt.lr` themselves, \
             and `+` changes the default config only; `++opt.lr=0.5` sets it in every experiment"
        );
    }

    #[test]
    fn apply_creates_and_refuses_scalars() {
        let mut defaults: Mapping = yaml_serde::from_str("Global: {repeat: 1}\nlr: 0.1\n").unwrap();
        apply_override(
            &mut defaults,
            &Override::parse("+Global.queue=q.yaml").unwrap(),
        )
        .unwrap();
        apply_override(&mut defaults, &Override::parse("+new.deep.key=1").unwrap()).unwrap();
        assert_eq!(defaults["Global"]["queue"], Value::from("q.yaml"));
        assert_eq!(defaults["new"]["deep"]["key"], Value::from(1));
        assert!(apply_override(&mut defaults, &Override::parse("+lr.x=1").unwrap()).is_err());
    }
}
