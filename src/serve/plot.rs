//! The plot, drawn on the server as SVG: a metric against one parameter,
//! each point the mean over the runs with that value (seeds, repetitions)
//! and a bar of ± one standard deviation, the best mean marked. It uses
//! the aggregation of `filter --group-by X --agg Y` (`done` runs only,
//! each run once), so the plot and the grouped table agree. With
//! `plot=parallel`, parallel coordinates instead ([`super::parallel`]).

use std::fmt::Write as _;

use yaml_serde::Value;

use super::data::{Kind, Runs};
use super::html::esc;
use super::query::{Answer, Params};
use crate::filter::aggregate::{AggregateSpec, Group};
use crate::filter::format::inline;

const W: f64 = 640.0;
const H: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;

/// One point: the x value, its label, mean, std and count.
struct Point {
    x: Option<f64>,
    label: String,
    mean: f64,
    std: f64,
    n: usize,
}

/// The plot's metric: `y`, else the first result key.
fn metric(runs: &Runs, params: &Params) -> Option<String> {
    params
        .y
        .clone()
        .or_else(|| runs.keys_of(Kind::Result).first().map(|k| (*k).to_owned()))
}

/// The parallel coordinates' axes: `axes`, else the first
/// [`super::parallel::DEFAULT_AXES`] parameter keys.
pub(crate) fn parallel_axes(runs: &Runs, params: &Params) -> Vec<String> {
    if params.axes.is_empty() {
        runs.keys_of(Kind::Parameter)
            .into_iter()
            .take(super::parallel::DEFAULT_AXES)
            .map(str::to_owned)
            .collect()
    } else {
        params.axes.clone()
    }
}

/// What the plot aggregates: `--group-by X --agg Y` (or the axes for
/// parallel coordinates), or `None` when there is nothing to plot.
pub(crate) fn spec(runs: &Runs, params: &Params) -> Option<AggregateSpec> {
    let y = metric(runs, params)?;
    let group_by = if params.parallel {
        Some(parallel_axes(runs, params)).filter(|a| !a.is_empty())?
    } else {
        vec![params.x.clone().or_else(|| {
            runs.keys_of(Kind::Parameter)
                .first()
                .map(|k| (*k).to_owned())
        })?]
    };
    Some(AggregateSpec {
        group_by,
        agg: vec![y],
        ..AggregateSpec::default()
    })
}

/// `<figure>` with the plot, or a hint when there is nothing to plot.
pub(crate) fn figure(params: &Params, answer: &Answer) -> String {
    let Some((spec, groups)) = &answer.plot else {
        return "<figure id=plot><figcaption>plot: no parameter and result to plot yet</figcaption></figure>".to_owned();
    };
    let y = &spec.agg[0];
    if params.parallel {
        return super::parallel::figure(&spec.group_by, y, groups);
    }
    let x = &spec.group_by[0];
    let points = points(groups);
    let mut out = format!(
        "<figure id=plot><figcaption><b>{}</b> against <b>{}</b>: mean ± std over the <code>done</code> runs with each value</figcaption>",
        esc(y),
        esc(x)
    );
    if points.is_empty() {
        let _ = write!(
            out,
            "<p class=empty>no <code>done</code> run with a number in {}</p></figure>",
            esc(y)
        );
        return out;
    }
    out.push_str(&svg(x, y, &points));
    out.push_str("</figure>");
    out
}

fn points(groups: &[Group]) -> Vec<Point> {
    groups
        .iter()
        .filter_map(|g| {
            let acc = g.accumulators[0];
            let mean = acc.mean()?;
            let value = g.values[0].as_ref();
            Some(Point {
                x: value.and_then(|v| match v {
                    Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
                    _ => None,
                }),
                label: value.map_or_else(|| "(none)".to_owned(), inline),
                mean,
                std: acc.std().unwrap_or(0.0),
                n: acc.count,
            })
        })
        .collect()
}

/// Round tick values across `[lo, hi]`.
pub(crate) fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).abs().max(f64::EPSILON);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(mag * 10.0);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

pub(crate) fn number(x: f64) -> String {
    let text = format!("{x:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" || text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// The scales: data to pixels.
struct Frame {
    numeric: bool,
    log: bool,
    xmin: f64,
    xmax: f64,
    lo: f64,
    hi: f64,
    ylo: f64,
    yhi: f64,
}

/// `(lo, hi)` widened when empty, with `pad` of the span on each side.
fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    let (lo, hi) = if (hi - lo).abs() < f64::EPSILON {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let pad = (hi - lo) * pad;
    (lo - pad, hi + pad)
}

impl Frame {
    fn new(points: &[Point]) -> Self {
        let numeric = points.iter().all(|p| p.x.is_some());
        let xs = points.iter().map(|p| p.x.unwrap_or(0.0));
        let (xmin, xmax) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
        let log = numeric && xmin > 0.0 && xmax / xmin >= 50.0;
        let mut frame = Self {
            numeric,
            log,
            xmin,
            xmax,
            lo: 0.0,
            hi: 0.0,
            ylo: 0.0,
            yhi: 0.0,
        };
        (frame.lo, frame.hi) = if numeric {
            padded(frame.tx(xmin), frame.tx(xmax), 0.05)
        } else {
            padded(0.0, (points.len() - 1) as f64, 0.05)
        };
        let ylo = points
            .iter()
            .map(|p| p.mean - p.std)
            .fold(f64::INFINITY, f64::min);
        let yhi = points
            .iter()
            .map(|p| p.mean + p.std)
            .fold(f64::NEG_INFINITY, f64::max);
        (frame.ylo, frame.yhi) = padded(ylo, yhi, 0.08);
        frame
    }

    fn tx(&self, x: f64) -> f64 {
        if self.log {
            x.log10()
        } else {
            x
        }
    }

    fn px(&self, v: f64) -> f64 {
        LEFT + (v - self.lo) / (self.hi - self.lo) * (W - LEFT - RIGHT)
    }

    fn py(&self, v: f64) -> f64 {
        TOP + (self.yhi - v) / (self.yhi - self.ylo) * (H - TOP - BOTTOM)
    }

    /// The x position of point `i`.
    fn at(&self, i: usize, p: &Point) -> f64 {
        if self.numeric {
            self.px(self.tx(p.x.unwrap_or(0.0)))
        } else {
            self.px(i as f64)
        }
    }

    fn x_labels(&self, points: &[Point]) -> Vec<(f64, String)> {
        if self.numeric && self.log {
            let (a, b) = (
                self.tx(self.xmin).floor() as i32,
                self.tx(self.xmax).ceil() as i32,
            );
            (a..=b)
                .map(|e| (f64::from(e), number(10f64.powi(e))))
                .filter(|(v, _)| *v >= self.lo && *v <= self.hi)
                .collect()
        } else if self.numeric {
            ticks(self.lo, self.hi)
                .into_iter()
                .map(|t| (t, number(t)))
                .collect()
        } else {
            points
                .iter()
                .enumerate()
                .map(|(i, p)| (i as f64, p.label.clone()))
                .collect()
        }
    }
}

/// The box, grid, ticks and axis names.
fn axes(frame: &Frame, x_key: &str, y_key: &str, points: &[Point], out: &mut String) {
    let _ = write!(out, "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#ccc\"/>", W - LEFT - RIGHT, H - TOP - BOTTOM);
    for t in ticks(frame.ylo, frame.yhi) {
        let y = frame.py(t);
        let _ = write!(out, "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#444\">{}</text>", W - RIGHT, LEFT - 6.0, y + 4.0, number(t));
    }
    for (v, label) in frame.x_labels(points) {
        let x = frame.px(v);
        let _ = write!(out, "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#888\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#444\">{}</text>", H - BOTTOM, H - BOTTOM + 4.0, H - BOTTOM + 16.0, esc(&label));
    }
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#222\">{}{}</text>",
        (LEFT + W - RIGHT) / 2.0,
        H - 8.0,
        esc(x_key),
        if frame.log { " (log scale)" } else { "" }
    );
    let _ = write!(out, "<text x=\"14\" y=\"{}\" text-anchor=\"middle\" fill=\"#222\" transform=\"rotate(-90 14 {0})\">{}</text>", (TOP + H - BOTTOM) / 2.0, esc(y_key));
}

/// The line, the points with their error bars, and the best one named.
fn marks(frame: &Frame, x_key: &str, y_key: &str, points: &[Point], out: &mut String) {
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", frame.at(i, p), frame.py(p.mean)))
        .collect();
    let _ = write!(
        out,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"1.5\"/>",
        line.join(" ")
    );
    let best = points
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.mean.total_cmp(&b.1.mean))
        .map(|(i, _)| i);
    for (i, p) in points.iter().enumerate() {
        let (x, y) = (frame.at(i, p), frame.py(p.mean));
        let (y1, y2) = (frame.py(p.mean - p.std), frame.py(p.mean + p.std));
        let best_mark = Some(i) == best;
        let _ = write!(
            out,
            "<g class=point><title>{} = {}: {} = {} ± {} (n={})</title><line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{y1:.1}\" y2=\"{y2:.1}\" stroke=\"#1f6feb\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y1:.1}\" y2=\"{y1:.1}\" stroke=\"#1f6feb\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y2:.1}\" y2=\"{y2:.1}\" stroke=\"#1f6feb\"/><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{}\" fill=\"{}\"/></g>",
            esc(x_key), esc(&p.label), esc(y_key), number(p.mean), number(p.std), p.n,
            x - 4.0, x + 4.0, x - 4.0, x + 4.0,
            if best_mark { "5" } else { "3.5" }, if best_mark { "#d9480f" } else { "#1f6feb" }
        );
    }
    if let Some(b) = best {
        let p = &points[b];
        let _ = write!(out, "<text x=\"{}\" y=\"16\" text-anchor=\"end\" fill=\"#d9480f\">highest mean: {} = {} ({} ± {}, n={})</text>", W - RIGHT, esc(x_key), esc(&p.label), number(p.mean), number(p.std), p.n);
    }
}

fn svg(x_key: &str, y_key: &str, points: &[Point]) -> String {
    let frame = Frame::new(points);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=img aria-label=\"{} against {}\" class=plot font-family=\"sans-serif\" font-size=\"11\">",
        esc(y_key),
        esc(x_key)
    );
    axes(&frame, x_key, y_key, points, &mut out);
    marks(&frame, x_key, y_key, points, &mut out);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        let t = ticks(0.0, 1.0);
        assert_eq!(t.len(), 6);
        assert!(t
            .iter()
            .zip([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
            .all(|(a, b)| (a - b).abs() < 1e-9));
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(-0.0), "0");
    }
}
