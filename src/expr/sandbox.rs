//! The sandboxed Rhai engine and its limits.
//!
//! User text from experiment files and `filter` arguments runs here, so the
//! engine is built to be harmless whatever it is given:
//!
//! * no file, process, network or clock access: the standard library has
//!   none, `no_module` removes `import`, `eval` is disabled and `print`/`debug`
//!   are swallowed (stdout carries `--dry` output);
//! * every resource is bounded (Rhai's defaults are unlimited): operations,
//!   call depth, expression depth, string, array and map sizes — `loop {}`
//!   stops after a million operations, a few milliseconds;
//! * `OptimizationLevel::None`: the default optimiser panics on assignments
//!   to constants in rhai 1.27 (see `CRATES.md`); expressions are tiny, so
//!   nothing is lost. Evaluation is also wrapped in `catch_unwind`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use rhai::{
    Dynamic, Engine, EvalAltResult, ImmutableString, OptimizationLevel, ParseError, Position, AST,
    FLOAT, INT,
};

use super::history::{Experiment, History};
use super::translate::translate;

pub type Scope = rhai::Scope<'static>;

/// Limits, chosen far above what a sensible expression needs.
const MAX_OPERATIONS: u64 = 1_000_000;
const MAX_EXPR_DEPTH: usize = 64;
const MAX_FN_EXPR_DEPTH: usize = 32;
const MAX_CALL_LEVELS: usize = 32;
const MAX_STRING_SIZE: usize = 1 << 20;
const MAX_ARRAY_SIZE: usize = 100_000;
const MAX_MAP_SIZE: usize = 10_000;
const MAX_VARIABLES: usize = 1_000;
const MAX_FUNCTIONS: usize = 100;

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

    fn from_eval(err: &EvalAltResult) -> Self {
        let message = match err {
            EvalAltResult::ErrorVariableNotFound(name, _) => format!(
                "unknown variable `{name}`: an expression sees only the keys written \
                 before it, at its own level and the levels that enclose it"
            ),
            EvalAltResult::ErrorTooManyOperations(_) => format!(
                "the expression ran for more than {MAX_OPERATIONS} operations (endless loop?)"
            ),
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                format!("{what} exceeds the sandbox limit")
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                "too many nested function calls (recursion?)".to_owned()
            }
            EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
            EvalAltResult::ErrorInFunctionCall(name, _, inner, _) if name.is_empty() => {
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

/// A compiled expression, cheap to clone and to evaluate many times.
#[derive(Clone)]
pub struct CompiledExpr {
    ast: Arc<AST>,
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
        let mut engine = Engine::new();
        engine
            .set_optimization_level(OptimizationLevel::None)
            .set_max_operations(MAX_OPERATIONS)
            .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH)
            .set_max_call_levels(MAX_CALL_LEVELS)
            .set_max_string_size(MAX_STRING_SIZE)
            .set_max_array_size(MAX_ARRAY_SIZE)
            .set_max_map_size(MAX_MAP_SIZE)
            .set_max_variables(MAX_VARIABLES)
            .set_max_functions(MAX_FUNCTIONS)
            .set_fail_on_invalid_map_property(true)
            // The interner evicts by scanning its whole cache once full, which
            // every unique f-string result triggers: slower than no interning.
            .set_max_strings_interned(0);
        engine.disable_symbol("eval");
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});

        engine
            .register_type_with_name::<History>("History")
            .register_indexer_get(|h: &mut History, i: INT| h.get_index(i))
            .register_indexer_get(|h: &mut History, name: ImmutableString| h.get_name(&name))
            .register_get("len", |h: &mut History| h.len() as INT)
            .register_fn("len", |h: &mut History| h.len() as INT)
            .register_type_with_name::<Experiment>("Experiment")
            // `E[-1].key` falls back to this indexer: Rhai tries an indexer
            // when a type has no getter for a property.
            .register_indexer_get(|e: &mut Experiment, key: ImmutableString| e.get(&key))
            .register_fn("keys", |e: &mut Experiment| -> rhai::Array {
                e.yaml()
                    .keys()
                    .map(|k| Dynamic::from(super::key_name(k)))
                    .collect()
            })
            .register_get("len", |e: &mut Experiment| e.yaml().len() as INT)
            .register_fn("len", |e: &mut Experiment| e.yaml().len() as INT)
            .register_fn("contains", |e: &mut Experiment, key: ImmutableString| {
                e.yaml().contains_key(key.as_str())
            })
            .register_fn("to_map", |e: &mut Experiment| e.to_map());

        // Python spellings that files written for the original tool use.
        engine
            .register_fn("str", |x: Dynamic| -> ImmutableString {
                display(&x).into()
            })
            .register_fn("int", |x: INT| x)
            .register_fn("int", |x: FLOAT| x.trunc() as INT)
            .register_fn("int", |x: bool| INT::from(x))
            .register_fn("int", parse_int)
            .register_fn("float", |x: INT| x as FLOAT)
            .register_fn("float", |x: FLOAT| x)
            .register_fn("float", parse_float)
            .register_fn(
                "fmt",
                |x: Dynamic,
                 spec: ImmutableString|
                 -> Result<ImmutableString, Box<EvalAltResult>> {
                    super::format::format_spec(&x, &spec)
                        .map(Into::into)
                        .map_err(Into::into)
                },
            );
        Self {
            engine,
            strict: OnceLock::new(),
        }
    }

    /// Translate Python-isms and compile.
    pub fn compile(&self, src: &str) -> Result<CompiledExpr, ExprError> {
        let text = translate(src);
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
        let len = scope.len();
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.engine.eval_ast_with_scope::<Dynamic>(scope, &expr.ast)
        }));
        scope.rewind(len);
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(ExprError::from_eval(&err)),
            Err(_) => Err(ExprError {
                message: "internal error in the expression engine while evaluating".to_owned(),
                line: None,
                column: None,
            }),
        }
    }
}

/// An engine that only compiles: same syntax limits, `eval` disabled, and
/// variables must be declared in the compile scope.
fn strict_compiler() -> Engine {
    let mut engine = Engine::new_raw();
    engine
        .set_optimization_level(OptimizationLevel::None)
        .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH)
        .set_max_functions(MAX_FUNCTIONS)
        .set_strict_variables(true);
    engine.disable_symbol("eval");
    engine
}

/// The outcome of a compilation run under `catch_unwind`.
fn compiled(
    result: std::thread::Result<Result<AST, ParseError>>,
) -> Result<CompiledExpr, ExprError> {
    match result {
        Ok(Ok(ast)) => Ok(CompiledExpr { ast: Arc::new(ast) }),
        Ok(Err(err)) => Err(ExprError::from_parse(&err)),
        Err(_) => Err(ExprError {
            message: "internal error in the expression engine while compiling".to_owned(),
            line: None,
            column: None,
        }),
    }
}

fn display(x: &Dynamic) -> String {
    if x.is_string() {
        x.clone().into_string().unwrap_or_default()
    } else if x.is_unit() {
        "None".to_owned()
    } else {
        x.to_string()
    }
}

fn parse_int(s: &str) -> Result<INT, Box<EvalAltResult>> {
    s.trim()
        .parse::<INT>()
        .map_err(|_| format!("`int` cannot read {s:?} as an integer").into())
}

fn parse_float(s: &str) -> Result<FLOAT, Box<EvalAltResult>> {
    s.trim()
        .parse::<FLOAT>()
        .map_err(|_| format!("`float` cannot read {s:?} as a number").into())
}
