//! The sandboxed Rhai engine and its limits.
//!
//! User text from experiment files and `filter` arguments runs here, so the
//! engine is built to be harmless whatever it is given:
//!
//! * no file, process, network or clock access: the engine is built from a
//!   raw one with only the packages expressions need (see `engine`), so
//!   `sleep`, `timestamp` and `exit` do not exist, `no_module` removes
//!   `import`, `eval` is disabled and `print`/`debug` are swallowed (stdout
//!   carries `--dry` output);
//! * every resource is bounded (Rhai's defaults are unlimited): operations,
//!   call depth, expression depth, string, array and map sizes, the nesting
//!   of values and the wall-clock time of one evaluation (see `limits`) —
//!   `loop {}` stops after a million operations, a few milliseconds;
//! * a refusal (a limit, or a function left out) is remembered by the
//!   compiled expression: it is refused again at once, and `filter` turns it
//!   into bad input instead of a document that does not match;
//! * `OptimizationLevel::None`: the default optimiser panics on assignments
//!   to constants in rhai 1.27 (see `CRATES.md`); expressions are tiny, so
//!   nothing is lost. Evaluation is also wrapped in `catch_unwind`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use rhai::{Dynamic, Engine, EvalAltResult, ParseError, Position, AST};

use super::engine::{evaluator, strict_compiler, MAX_OPERATIONS};
use super::limits::{self, REFUSED, TIME_LIMIT};
use super::translate::translate;

pub type Scope = rhai::Scope<'static>;

/// An expression error: a message and, when Rhai knows it, a position in
/// the (translated) expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            if line > 1 {
                write!(f, " (line {line}, column {column} of the expression)")?;
            } else {
                write!(f, " (column {column} of the expression)")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ExprError {}

impl ExprError {
    fn at(message: String, pos: Position) -> Self {
        Self {
            message,
            line: pos.line(),
            column: pos.position(),
        }
    }

    fn from_parse(err: &ParseError) -> Self {
        Self::at(format!("syntax error: {}", err.err_type()), err.position())
    }

    /// Whether the sandbox refused the expression (a limit, or a function
    /// it leaves out) rather than the expression failing on its data.
    pub fn is_refusal(&self) -> bool {
        self.message.starts_with(REFUSED)
    }

    fn from_eval(err: &EvalAltResult) -> Self {
        let message = match err {
            EvalAltResult::ErrorVariableNotFound(name, _) => format!(
                "unknown variable `{name}`: an expression sees only the keys written \
                 before it, at its own level and the levels that enclose it"
            ),
            EvalAltResult::ErrorFunctionNotFound(signature, _)
                if limits::refused_function(function_name(signature)).is_some() =>
            {
                limits::refused_function(function_name(signature)).unwrap_or_default()
            }
            EvalAltResult::ErrorTooManyOperations(_) => format!(
                "{REFUSED}the expression ran for more than {MAX_OPERATIONS} operations \
                 (endless loop?)"
            ),
            EvalAltResult::ErrorTerminated(..) => format!(
                "{REFUSED}the expression ran for more than {} ms",
                TIME_LIMIT.as_millis()
            ),
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                format!("{REFUSED}{what} exceeds the sandbox limit")
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                format!("{REFUSED}too many nested function calls (recursion?)")
            }
            EvalAltResult::ErrorTooManyVariables(_) | EvalAltResult::ErrorTooManyModules(_) => {
                format!("{REFUSED}{err}")
            }
            EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
            EvalAltResult::ErrorInFunctionCall(name, _, inner, _)
                if name.is_empty() || is_refusal(inner) =>
            {
                return Self::from_eval(inner)
            }
            other => {
                // Rhai appends the position itself; we print it separately.
                let text = other.to_string();
                match text.rfind(" (line ") {
                    Some(at) => text[..at].to_owned(),
                    None => text,
                }
            }
        };
        Self::at(message, err.position())
    }
}

/// The function a signature such as `sleep (i64)` names.
fn function_name(signature: &str) -> &str {
    signature.split([' ', '(']).next().unwrap_or(signature)
}

fn is_refusal(err: &EvalAltResult) -> bool {
    ExprError::from_eval(err).is_refusal()
}

/// A compiled expression, cheap to clone and to evaluate many times.
#[derive(Clone)]
pub struct CompiledExpr {
    ast: Arc<AST>,
    /// The sandbox's refusal, once it happened: later evaluations return it
    /// at once instead of running into the same limit again.
    refused: Arc<OnceLock<ExprError>>,
}

impl CompiledExpr {
    /// The sandbox's refusal of this expression, if an evaluation hit one.
    pub fn refusal(&self) -> Option<&ExprError> {
        self.refused.get()
    }

    /// Remember `err` if it is a refusal; hand it back.
    pub(crate) fn remember(&self, err: ExprError) -> ExprError {
        if err.is_refusal() {
            let _ = self.refused.set(err.clone());
        }
        err
    }
}

/// The engine. Build it once: construction costs about a millisecond.
pub struct Sandbox {
    engine: Engine,
    /// Compiles (never runs) expressions over documents with strict
    /// variables; built on first use.
    strict: OnceLock<Engine>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            engine: evaluator(),
            strict: OnceLock::new(),
        }
    }

    /// Translate Python-isms and compile.
    pub fn compile(&self, src: &str) -> Result<CompiledExpr, ExprError> {
        let text = translate(src);
        refuse_calls(&text)?;
        compiled(catch_unwind(AssertUnwindSafe(|| {
            self.engine.compile(&text)
        })))
    }

    /// Compile with strict variables: a variable that is not one of `names`
    /// is a compile error (used for expressions over a document).
    pub fn compile_with_variables(
        &self,
        src: &str,
        names: &[&str],
    ) -> Result<CompiledExpr, ExprError> {
        let text = translate(src);
        refuse_calls(&text)?;
        let mut scope = Scope::new();
        for name in names {
            scope.push_constant(*name, ());
        }
        compiled(catch_unwind(AssertUnwindSafe(|| {
            self.strict
                .get_or_init(strict_compiler)
                .compile_with_scope(&scope, &text)
        })))
    }

    /// Evaluate against `scope`; the scope is left as it was given.
    pub fn eval(&self, expr: &CompiledExpr, scope: &mut Scope) -> Result<Dynamic, ExprError> {
        if let Some(refusal) = expr.refused.get() {
            return Err(refusal.clone());
        }
        let len = scope.len();
        let result = catch_unwind(AssertUnwindSafe(|| {
            limits::with_deadline(|| self.engine.eval_ast_with_scope::<Dynamic>(scope, &expr.ast))
        }));
        scope.rewind(len);
        let err = match result {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => ExprError::from_eval(&err),
            Err(_) => ExprError {
                message: "internal error in the expression engine while evaluating".to_owned(),
                line: None,
                column: None,
            },
        };
        Err(expr.remember(err))
    }
}

/// A direct call of a function the sandbox leaves out is a compile error;
/// indirect ones (`Fn("sleep")`) are refused when they run.
fn refuse_calls(text: &str) -> Result<(), ExprError> {
    match super::keys::called_functions(text)
        .into_iter()
        .find_map(limits::refused_function)
    {
        Some(message) => Err(ExprError {
            message,
            line: None,
            column: None,
        }),
        None => Ok(()),
    }
}

/// The outcome of a compilation run under `catch_unwind`.
fn compiled(
    result: std::thread::Result<Result<AST, ParseError>>,
) -> Result<CompiledExpr, ExprError> {
    match result {
        Ok(Ok(ast)) => Ok(CompiledExpr {
            ast: Arc::new(ast),
            refused: Arc::default(),
        }),
        Ok(Err(err)) => Err(ExprError::from_parse(&err)),
        Err(_) => Err(ExprError {
            message: "internal error in the expression engine while compiling".to_owned(),
            line: None,
            column: None,
        }),
    }
}
