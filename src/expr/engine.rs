//! The Rhai engines: built from a raw engine with only the packages that
//! expressions need, so that nothing the README does not list is there.
//!
//! Left out on purpose: `LanguageCorePackage` (`sleep`, `exit`, `take`,
//! `parse_json`, reflection), `BasicTimePackage` (`timestamp`, `elapsed`),
//! `BasicBlobPackage` and `DebuggingPackage`. `no_module` removes `import`;
//! `eval` is disabled; `print`/`debug` write nowhere.

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, BitFieldPackage, LogicPackage, MoreStringPackage,
    Package,
};
use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, OptimizationLevel, FLOAT, INT};

use super::history::{Experiment, History};

/// Limits, chosen far above what a sensible expression needs.
pub(crate) const MAX_OPERATIONS: u64 = 1_000_000;
const MAX_EXPR_DEPTH: usize = 64;
const MAX_FN_EXPR_DEPTH: usize = 32;
const MAX_CALL_LEVELS: usize = 32;
const MAX_STRING_SIZE: usize = 1 << 20;
const MAX_ARRAY_SIZE: usize = 100_000;
const MAX_MAP_SIZE: usize = 10_000;
const MAX_VARIABLES: usize = 1_000;
const MAX_FUNCTIONS: usize = 100;

/// The engine that evaluates: `parse` values and `filter` expressions.
pub(crate) fn evaluator() -> Engine {
    let mut engine = Engine::new_raw();
    for package in [
        ArithmeticPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicStringPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
        BasicIteratorPackage::new().as_shared_module(),
        BasicFnPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BitFieldPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(package);
    }
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
    super::limits::register(&mut engine);
    register_history(&mut engine);
    register_python(&mut engine);
    engine
}

/// An engine that only compiles: same syntax limits, `eval` disabled, and
/// variables must be declared in the compile scope.
pub(crate) fn strict_compiler() -> Engine {
    let mut engine = Engine::new_raw();
    engine
        .set_optimization_level(OptimizationLevel::None)
        .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH)
        .set_max_functions(MAX_FUNCTIONS)
        .set_strict_variables(true);
    engine.disable_symbol("eval");
    engine
}

/// `E` and its entries: read-only.
fn register_history(engine: &mut Engine) {
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
            e.key_names().into_iter().map(Dynamic::from).collect()
        })
        .register_get("len", |e: &mut Experiment| e.len() as INT)
        .register_fn("len", |e: &mut Experiment| e.len() as INT)
        .register_fn("contains", |e: &mut Experiment, key: ImmutableString| {
            e.contains(key.as_str())
        })
        .register_fn("to_map", |e: &mut Experiment| e.to_map());
}

/// Python spellings that files written for the original tool use.
fn register_python(engine: &mut Engine) {
    engine
        .register_fn(
            "str",
            |x: Dynamic| -> Result<ImmutableString, Box<EvalAltResult>> {
                if super::limits::too_deep(&x, 0) {
                    return Err(super::limits::too_deep_message().into());
                }
                Ok(display(&x).into())
            },
        )
        .register_fn("int", |x: INT| x)
        .register_fn("int", |x: FLOAT| x.trunc() as INT)
        .register_fn("int", |x: bool| INT::from(x))
        .register_fn("int", parse_int)
        .register_fn("float", |x: INT| x as FLOAT)
        .register_fn("float", |x: FLOAT| x)
        .register_fn("float", parse_float)
        .register_fn(
            "fmt",
            |x: Dynamic, spec: ImmutableString| -> Result<ImmutableString, Box<EvalAltResult>> {
                super::format::format_spec(&x, &spec)
                    .map(Into::into)
                    .map_err(Into::into)
            },
        );
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
