//! The sandbox's limits on values and time, and what it refuses.
//!
//! Rhai bounds operations and sizes, but not the nesting depth of values
//! (its `==` and `to_string` on nested arrays recurse through the whole
//! function-call machinery, a few kilobytes of stack per level), and its size
//! checks walk a whole array on every `push`, so a loop that fills a list is
//! quadratic. Here: a nesting limit enforced by depth-bounded replacements
//! of those functions and by the conversion of results, and a wall-clock
//! budget per evaluation, checked from Rhai's progress callback.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, NativeCallContext};

/// Every refusal message starts with this: `filter` treats them as bad
/// input (exit 2) rather than as a document that does not match.
pub(crate) const REFUSED: &str = "refused by the sandbox: ";

/// The deepest nesting of lists and mappings a value may have.
pub(crate) const MAX_DEPTH: usize = 100;
/// The widest field and the longest precision of a format spec.
pub(crate) const MAX_FORMAT_WIDTH: usize = 1_000;
/// The stack a thread that evaluates expressions should have. Rhai clones,
/// drops and measures nested values recursively while an expression runs;
/// the time limit bounds how deep a value can get (each level costs a walk
/// of the whole value, so depth grows with the square root of the time),
/// to a few thousand levels: a few megabytes of stack, more than the 2 MiB
/// of a spawned thread. The main thread has 8 MiB.
pub const EVAL_STACK_SIZE: usize = 64 << 20;
/// The wall-clock budget of one evaluation.
pub(crate) const TIME_LIMIT: Duration = Duration::from_millis(500);

/// Functions of Rhai's standard library that the sandbox leaves out, and
/// why: `filter` names them in an error rather than counting a failure.
pub(crate) const REFUSED_FUNCTIONS: &[(&str, &str)] = &[
    ("sleep", "expressions cannot wait"),
    ("timestamp", "expressions have no clock access"),
    ("elapsed", "expressions have no clock access"),
    ("eval", "expressions cannot evaluate text as code"),
    ("exit", "expressions cannot stop the program"),
];

/// The refusal message for a call to `name`, if it is a refused function.
pub(crate) fn refused_function(name: &str) -> Option<String> {
    let (name, why) = REFUSED_FUNCTIONS.iter().find(|(n, _)| *n == name)?;
    Some(format!(
        "{REFUSED}the function `{name}` is not available ({why})"
    ))
}

pub(crate) fn too_deep_message() -> String {
    format!("{REFUSED}a value is nested more than {MAX_DEPTH} levels deep")
}

/// Whether `value` nests lists and mappings more than `MAX_DEPTH - depth`
/// levels deep; never descends further than that.
pub(crate) fn too_deep(value: &Dynamic, depth: usize) -> bool {
    if value.is_array() {
        if depth >= MAX_DEPTH {
            return true;
        }
        if let Some(array) = value.read_lock::<Array>() {
            return array.iter().any(|v| too_deep(v, depth + 1));
        }
    } else if value.is_map() {
        if depth >= MAX_DEPTH {
            return true;
        }
        if let Some(map) = value.read_lock::<Map>() {
            return map.values().any(|v| too_deep(v, depth + 1));
        }
    }
    false
}

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Run `f` with the evaluation budget of this thread set.
pub(crate) fn with_deadline<T>(f: impl FnOnce() -> T) -> T {
    let previous = DEADLINE.replace(Some(Instant::now() + TIME_LIMIT));
    let result = f();
    DEADLINE.set(previous);
    result
}

/// The text of the token that stops an evaluation over its time budget.
pub(crate) const OUT_OF_TIME: &str = "out of time";

/// Rhai's progress callback: stop when the deadline has passed (looked at
/// every 256 operations: reading the clock costs more than an operation).
fn progress(operations: u64) -> Option<Dynamic> {
    if operations % 256 != 0 {
        return None;
    }
    let late = DEADLINE
        .get()
        .is_some_and(|deadline| Instant::now() > deadline);
    late.then(|| Dynamic::from(OUT_OF_TIME))
}

/// `a == b` with Rhai's meaning, descending at most `MAX_DEPTH` levels.
fn equal(
    ctx: &NativeCallContext,
    a: &Dynamic,
    b: &Dynamic,
    depth: usize,
) -> Result<bool, Box<EvalAltResult>> {
    if let (Some(x), Some(y)) = (a.read_lock::<Array>(), b.read_lock::<Array>()) {
        return equal_lists(ctx, &x, &y, depth + 1);
    }
    if let (Some(x), Some(y)) = (a.read_lock::<Map>(), b.read_lock::<Map>()) {
        return equal_maps(ctx, &x, &y, depth + 1);
    }
    if a.is_array() || a.is_map() || b.is_array() || b.is_map() {
        return Ok(false);
    }
    let (mut a, mut b) = (a.clone(), b.clone());
    let same_type = a.type_id() == b.type_id();
    match ctx.call_native_fn_raw("==", true, &mut [&mut a, &mut b]) {
        Ok(result) => Ok(result.as_bool().unwrap_or(false)),
        Err(err) if !same_type && matches!(*err, EvalAltResult::ErrorFunctionNotFound(..)) => {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

fn equal_lists(
    ctx: &NativeCallContext,
    x: &[Dynamic],
    y: &[Dynamic],
    depth: usize,
) -> Result<bool, Box<EvalAltResult>> {
    if depth > MAX_DEPTH {
        return Err(too_deep_message().into());
    }
    if x.len() != y.len() {
        return Ok(false);
    }
    for (x, y) in x.iter().zip(y) {
        if !equal(ctx, x, y, depth)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn equal_maps(
    ctx: &NativeCallContext,
    x: &Map,
    y: &Map,
    depth: usize,
) -> Result<bool, Box<EvalAltResult>> {
    if depth > MAX_DEPTH {
        return Err(too_deep_message().into());
    }
    if x.len() != y.len() {
        return Ok(false);
    }
    for (key, x) in x {
        let Some(y) = y.get(key) else {
            return Ok(false);
        };
        if !equal(ctx, x, y, depth)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Text of a list or mapping as Rhai writes it, within the depth limit.
fn debug_text(value: &Dynamic) -> Result<ImmutableString, Box<EvalAltResult>> {
    if too_deep(value, 0) {
        return Err(too_deep_message().into());
    }
    Ok(format!("{value:?}").into())
}

/// Replace Rhai's recursive `==`, `!=`, `to_string` and `to_debug` on
/// lists and mappings, and install the time budget.
pub(crate) fn register(engine: &mut Engine) {
    engine.on_progress(progress);
    engine
        .register_fn("==", |ctx: NativeCallContext, a: Array, b: Array| {
            equal_lists(&ctx, &a, &b, 1)
        })
        .register_fn("!=", |ctx: NativeCallContext, a: Array, b: Array| {
            equal_lists(&ctx, &a, &b, 1).map(|same| !same)
        })
        .register_fn("==", |ctx: NativeCallContext, a: Map, b: Map| {
            equal_maps(&ctx, &a, &b, 1)
        })
        .register_fn("!=", |ctx: NativeCallContext, a: Map, b: Map| {
            equal_maps(&ctx, &a, &b, 1).map(|same| !same)
        });
    for name in ["to_string", "to_debug"] {
        engine
            .register_fn(name, |a: Array| debug_text(&Dynamic::from_array(a)))
            .register_fn(name, |m: Map| debug_text(&Dynamic::from_map(m)));
    }
}
