//! `+Key.path=value` command-line overrides of the default config.

use yaml_serde::{Mapping, Value};

use super::error::ConfigError;

/// One parsed override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub arg: String,
    pub path: Vec<String>,
    pub value: Value,
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
        let (key, text) = body
            .split_once('=')
            .ok_or_else(|| bad("expected `+Key.path=value`"))?;
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(bad("the key path has an empty part"));
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
        })
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
