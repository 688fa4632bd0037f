//! Expressions over one document: `filter`'s `--filter` and `--sort`.
//!
//! The document is bound as a constant `exp` (and under the parameter name
//! of a Python-style `lambda e: ...`, which is stripped). Compilation knows
//! these names, so a misspelt variable is an error before any document is
//! read rather than a silent "false" for every document.

use std::collections::BTreeSet;

use yaml_serde::{Mapping, Value};

use super::convert::{mapping_to_map, plain_yaml_to_map};
use super::keys::used_keys;
use super::sandbox::{CompiledExpr, ExprError, Sandbox, Scope};
use super::to_yaml::dynamic_to_yaml;
use super::translate::translate;
use rhai::Dynamic;

/// The name the document is always bound to.
pub const DOCUMENT: &str = "exp";

/// A compiled expression over one document.
#[derive(Clone)]
pub struct DocumentExpr {
    /// The text as given on the command line.
    pub text: String,
    /// The expression after removing `lambda NAME:`.
    pub body: String,
    /// The parameter name of a `lambda`, when it is not `exp`.
    pub param: Option<String>,
    /// The top-level keys it can read; `None` for any.
    pub keys: Option<BTreeSet<String>>,
    compiled: CompiledExpr,
}

/// Remove a `lambda NAME:` prefix: `(body, Some(NAME))`.
fn strip_lambda(src: &str) -> Result<(&str, Option<&str>), ExprError> {
    let trimmed = src.trim_start();
    let Some(rest) = trimmed.strip_prefix("lambda") else {
        return Ok((src, None));
    };
    if !rest.starts_with(char::is_whitespace) && !rest.starts_with(':') {
        return Ok((src, None)); // an identifier such as `lambdas`
    }
    let bad = || ExprError {
        message: "a `lambda` takes exactly one parameter, the document: `lambda exp: ...`"
            .to_owned(),
        line: None,
        column: None,
    };
    let (param, body) = rest.split_once(':').ok_or_else(bad)?;
    let param = param.trim();
    let valid = !param.is_empty()
        && param.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !param.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(bad());
    }
    Ok((body.trim_start(), Some(param)))
}

impl Sandbox {
    /// Compile an expression over a document; unknown variables are errors.
    pub fn compile_document_expr(&self, src: &str) -> Result<DocumentExpr, ExprError> {
        let (body, param) = strip_lambda(src)?;
        if body.trim().is_empty() {
            return Err(ExprError {
                message: "the expression is empty".to_owned(),
                line: None,
                column: None,
            });
        }
        let mut names = vec![DOCUMENT];
        names.extend(param.filter(|p| *p != DOCUMENT));
        let compiled = self.compile_with_variables(body, &names)?;
        Ok(DocumentExpr {
            keys: used_keys(&translate(body), &names),
            text: src.to_owned(),
            body: body.to_owned(),
            param: param.filter(|p| *p != DOCUMENT).map(str::to_owned),
            compiled,
        })
    }
}

/// One document bound as `exp` (and the other given names), ready for
/// expressions.
pub struct BoundDocument {
    scope: Scope,
}

impl BoundDocument {
    pub fn from_mapping(doc: &Mapping, other_names: &[String]) -> Self {
        Self::bind(mapping_to_map(doc), other_names)
    }

    /// Straight from the text of a document in the plain subset of YAML
    /// (`yaml_fast`); `None` outside it. With `only`, just these top-level
    /// keys are bound (the union of the expressions' [`DocumentExpr::keys`]).
    pub fn from_plain_yaml(
        text: &str,
        only: Option<&[String]>,
        other_names: &[String],
    ) -> Option<Self> {
        plain_yaml_to_map(text, only).map(|map| Self::bind(map, other_names))
    }

    fn bind(map: rhai::Map, other_names: &[String]) -> Self {
        let mut scope = Scope::new();
        let value = Dynamic::from_map(map);
        for name in other_names {
            scope.push_constant_dynamic(name.clone(), value.clone());
        }
        scope.push_constant_dynamic(DOCUMENT, value);
        Self { scope }
    }
}

impl DocumentExpr {
    /// Evaluate as a condition: `true`/`false`; `()` counts as false; any
    /// other type is an error (Rhai, unlike Python, has no truthiness).
    pub fn eval_bool(&self, sandbox: &Sandbox, doc: &mut BoundDocument) -> Result<bool, ExprError> {
        let value = sandbox.eval(&self.compiled, &mut doc.scope)?;
        if value.is_unit() {
            return Ok(false);
        }
        value.as_bool().map_err(|type_name| ExprError {
            message: format!(
                "the expression returned a value of type `{type_name}`, not a boolean"
            ),
            line: None,
            column: None,
        })
    }

    /// Evaluate to a YAML value (a sort key).
    pub fn eval_value(
        &self,
        sandbox: &Sandbox,
        doc: &mut BoundDocument,
    ) -> Result<Value, ExprError> {
        let value = sandbox.eval(&self.compiled, &mut doc.scope)?;
        dynamic_to_yaml(&value).map_err(|message| {
            self.compiled.remember(ExprError {
                message,
                line: None,
                column: None,
            })
        })
    }

    /// The sandbox's refusal of this expression (a limit, or a function it
    /// leaves out), once an evaluation hit one: bad input, not a failure.
    pub fn refusal(&self) -> Option<&ExprError> {
        self.compiled.refusal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Mapping {
        yaml_serde::from_str(text).unwrap()
    }

    fn check(src: &str, text: &str) -> Result<bool, ExprError> {
        let sandbox = Sandbox::new();
        let expr = sandbox.compile_document_expr(src)?;
        let names: Vec<String> = expr.param.iter().cloned().collect();
        let mut bound = BoundDocument::from_mapping(&doc(text), &names);
        let fast = BoundDocument::from_plain_yaml(text, None, &names)
            .map(|mut b| expr.eval_bool(&sandbox, &mut b));
        let result = expr.eval_bool(&sandbox, &mut bound);
        if let Some(fast) = fast {
            assert_eq!(fast, result, "{src}");
        }
        result
    }

    #[test]
    fn rhai_and_python_forms() {
        let d = "ACC: 0.95\nTIME: 3\nname: a\nnested: {x: 1}\n";
        for src in [
            r#""ACC" in exp && exp.ACC > 0.9"#,
            "lambda exp: 'ACC' in exp and exp['ACC'] > 0.9",
            "lambda e: e.nested.x == 1 and not ('LOSS' in e)",
            "lambda exp: 'TIME' in exp",
            "exp.name == 'a'",
        ] {
            assert_eq!(check(src, d), Ok(true), "{src}");
        }
        assert_eq!(check(r#""LOSS" in exp"#, d), Ok(false));
    }

    #[test]
    fn missing_keys_fail_and_unknown_variables_do_not_compile() {
        let d = "ACC: 0.95\n";
        assert!(check("exp.LOSS > 1", d).is_err());
        let err = check("ACC > 0.9", d).unwrap_err();
        assert!(err.message.contains("ACC"), "{err}");
        assert!(err.column.is_some(), "{err:?}");
        assert!(check("lambda a, b: a", d).is_err());
        assert!(check("exp.ACC >", d).is_err());
        assert!(check("exp.ACC", d)
            .unwrap_err()
            .message
            .contains("not a boolean"));
    }

    #[test]
    fn sort_values() {
        let sandbox = Sandbox::new();
        let expr = sandbox.compile_document_expr("[exp.a, exp.b]").unwrap();
        let mut bound = BoundDocument::from_mapping(&doc("a: 1\nb: x\n"), &[]);
        let value = expr.eval_value(&sandbox, &mut bound).unwrap();
        assert_eq!(value, yaml_serde::from_str::<Value>("[1, x]").unwrap());
    }
}
