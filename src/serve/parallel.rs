//! Parallel coordinates, drawn on the server as SVG: one vertical axis per
//! chosen parameter and a last one for the metric; one line per
//! combination of the parameters' values, through the mean of the metric
//! over its `done` runs (seeds, repetitions), coloured from low (blue) to
//! high (orange), the highest drawn last and thicker. The groups are those
//! of `filter --group-by AXES --agg METRIC`.

use std::fmt::Write as _;

use yaml_serde::Value;

use super::html::esc;
use super::plot::{number, ticks};
use crate::filter::aggregate::Group;
use crate::filter::format::inline;
use crate::filter::sort::SortKey;

/// Parameters shown when `axes` is not given.
pub(crate) const DEFAULT_AXES: usize = 5;
/// Lines drawn at most (those with the highest means): the page stays
/// small whatever the number of combinations.
const MAX_LINES: usize = 300;
/// Category labels written on one axis at most.
const MAX_LABELS: usize = 12;

const W: f64 = 720.0;
const H: f64 = 320.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 64.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 24.0;

/// One line: its values on the parameter axes and the metric.
struct Line<'g> {
    values: Vec<Option<&'g Value>>,
    mean: f64,
    std: f64,
    n: usize,
}

/// How an axis maps values to a height between 0 (bottom) and 1 (top).
enum Scale {
    /// `values`: the distinct values when there are few (labelled each).
    Numeric {
        lo: f64,
        hi: f64,
        log: bool,
        values: Vec<f64>,
    },
    /// Labels from the bottom up (missing values last, at the top).
    Categories(Vec<String>),
}

fn finite(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn label(value: Option<&Value>) -> String {
    value.map_or_else(|| "(none)".to_owned(), inline)
}

impl Scale {
    /// A numeric scale; `label_each`: label every distinct value when
    /// there are few.
    fn numeric(values: impl Iterator<Item = f64>, label_each: bool) -> Self {
        let mut all: Vec<f64> = values.collect();
        let (lo, hi) = all
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(*x), b.max(*x))
            });
        let log = lo > 0.0 && hi / lo >= 50.0;
        all.sort_by(f64::total_cmp);
        all.dedup();
        let values = if label_each && all.len() <= MAX_LABELS {
            all
        } else {
            Vec::new()
        };
        Scale::Numeric {
            lo,
            hi,
            log,
            values,
        }
    }

    fn of(values: &[Option<&Value>]) -> Self {
        if values.iter().all(|v| finite(*v).is_some()) {
            return Self::numeric(values.iter().filter_map(|v| finite(*v)), true);
        }
        let mut keyed: Vec<(SortKey, String)> = values
            .iter()
            .map(|v| (v.map_or(SortKey::Missing, SortKey::from_value), label(*v)))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp_asc(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut labels: Vec<String> = keyed.into_iter().map(|(_, l)| l).collect();
        labels.dedup();
        Scale::Categories(labels)
    }

    /// From 0 (bottom) to 1 (top).
    fn at(&self, value: Option<&Value>) -> f64 {
        match self {
            Scale::Numeric { .. } => self.at_number(finite(value).unwrap_or(f64::NAN)),
            Scale::Categories(labels) => {
                let i = labels.iter().position(|l| *l == label(value)).unwrap_or(0);
                if labels.len() < 2 {
                    0.5
                } else {
                    i as f64 / (labels.len() - 1) as f64
                }
            }
        }
    }

    fn at_number(&self, x: f64) -> f64 {
        let Scale::Numeric { lo, hi, log, .. } = self else {
            return 0.5;
        };
        let (lo, hi, log) = (*lo, *hi, *log);
        let t = |v: f64| if log { v.log10() } else { v };
        if (hi - lo).abs() < f64::EPSILON {
            0.5
        } else {
            (t(x) - t(lo)) / (t(hi) - t(lo))
        }
    }

    /// Tick positions (0..=1) and labels.
    fn ticks(&self) -> Vec<(f64, String)> {
        let Scale::Numeric {
            lo,
            hi,
            log,
            values,
        } = self
        else {
            return self.category_ticks();
        };
        if !values.is_empty() {
            return values
                .iter()
                .map(|v| (self.at_number(*v), number(*v)))
                .collect();
        }
        let inner: Vec<f64> = if *log {
            let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
            (a..=b).map(|e| 10f64.powi(e)).collect()
        } else {
            ticks(*lo, *hi)
        };
        // The ends, and the round values not too close to them.
        let mut out = vec![(0.0, number(*lo)), (1.0, number(*hi))];
        out.extend(
            inner
                .into_iter()
                .map(|v| (self.at_number(v), number(v)))
                .filter(|(t, _)| *t > 0.06 && *t < 0.94),
        );
        out
    }

    fn category_ticks(&self) -> Vec<(f64, String)> {
        let Scale::Categories(labels) = self else {
            return Vec::new();
        };
        let every = labels.len().div_ceil(MAX_LABELS).max(1);
        labels
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every == 0 || *i == labels.len() - 1)
            .map(|(i, l)| {
                let at = if labels.len() < 2 {
                    0.5
                } else {
                    i as f64 / (labels.len() - 1) as f64
                };
                (at, l.clone())
            })
            .collect()
    }
}

fn py(t: f64) -> f64 {
    TOP + (1.0 - t) * (H - TOP - BOTTOM)
}

/// Blue (low) to orange (high).
fn colour(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(70.0, 217.0),
        mix(110.0, 72.0),
        mix(200.0, 15.0)
    )
}

/// `<figure>` with parallel coordinates of `axes` against `metric`.
pub(crate) fn figure(axes: &[String], metric: &str, groups: &[Group]) -> String {
    let names: Vec<String> = axes.iter().map(|a| format!("<b>{}</b>", esc(a))).collect();
    let mut out = format!(
        "<figure id=plot><figcaption>parallel coordinates: {} against <b>{}</b>, one line per combination through the mean over its <code>done</code> runs",
        names.join(", "),
        esc(metric)
    );
    let mut lines: Vec<Line> = groups
        .iter()
        .filter_map(|g| {
            let acc = g.accumulators[0];
            Some(Line {
                values: g.values.iter().map(Option::as_ref).collect(),
                mean: acc.mean()?,
                std: acc.std().unwrap_or(0.0),
                n: acc.count,
            })
        })
        .collect();
    if lines.is_empty() {
        let _ = write!(
            out,
            "</figcaption><p class=empty>no <code>done</code> run with a number in {}</p></figure>",
            esc(metric)
        );
        return out;
    }
    let total = lines.len();
    lines.sort_by(|a, b| b.mean.total_cmp(&a.mean));
    lines.truncate(MAX_LINES);
    if total > lines.len() {
        let _ = write!(out, " (the {} highest of {total})", lines.len());
    }
    out.push_str("</figcaption>");
    // Lowest first: the best are drawn on top.
    lines.reverse();
    out.push_str(&svg(axes, metric, &lines));
    out.push_str("</figure>");
    out
}

fn svg(axes: &[String], metric: &str, lines: &[Line]) -> String {
    let scales: Vec<Scale> = (0..axes.len())
        .map(|i| Scale::of(&lines.iter().map(|l| l.values[i]).collect::<Vec<_>>()))
        .chain([Scale::numeric(lines.iter().map(|l| l.mean), false)])
        .collect();
    let step = (W - LEFT - RIGHT) / axes.len().max(1) as f64;
    let x = |i: usize| LEFT + step * i as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=img aria-label=\"parallel coordinates of {} against {}\" class=\"plot parallel\" font-family=\"sans-serif\" font-size=\"11\">",
        esc(&axes.join(", ")),
        esc(metric)
    );
    let metric_scale = &scales[axes.len()];
    for (k, line) in lines.iter().enumerate() {
        let points: Vec<String> = line
            .values
            .iter()
            .zip(&scales)
            .enumerate()
            .map(|(i, (v, s))| format!("{:.1},{:.1}", x(i), py(s.at(*v))))
            .chain([format!(
                "{:.1},{:.1}",
                x(axes.len()),
                py(metric_scale.at_number(line.mean))
            )])
            .collect();
        let title: Vec<String> = axes
            .iter()
            .zip(&line.values)
            .map(|(a, v)| format!("{} = {}", esc(a), esc(&label(*v))))
            .collect();
        let best = k + 1 == lines.len();
        let _ = write!(
            out,
            "<polyline class=line points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-opacity=\"{}\"><title>{}: {} = {} ± {} (n={})</title></polyline>",
            points.join(" "),
            colour(metric_scale.at_number(line.mean)),
            if best { "3" } else { "1.2" },
            if best { "1" } else { "0.7" },
            title.join(", "),
            esc(metric),
            number(line.mean),
            number(line.std),
            line.n
        );
    }
    for (i, (name, scale)) in axes
        .iter()
        .chain([&metric.to_owned()])
        .zip(&scales)
        .enumerate()
    {
        axis(&mut out, x(i), name, scale, i == axes.len());
    }
    if let Some(best) = lines.last() {
        let values: Vec<String> = axes
            .iter()
            .zip(&best.values)
            .map(|(a, v)| format!("{} = {}", esc(a), esc(&label(*v))))
            .collect();
        let _ = write!(out, "<text x=\"{}\" y=\"12\" text-anchor=\"end\" fill=\"#d9480f\">highest mean: {} ({} ± {}, n={})</text>", W - 4.0, values.join(", "), number(best.mean), number(best.std), best.n);
    }
    out.push_str("</svg>");
    out
}

/// One vertical axis: its line, name above it and tick labels.
fn axis(out: &mut String, x: f64, name: &str, scale: &Scale, is_metric: bool) {
    let _ = write!(
        out,
        "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{}\" stroke=\"#555\"/><text class=axis-name x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\" font-weight=\"bold\">{}{}</text>",
        H - BOTTOM,
        TOP - 10.0,
        if is_metric { "#d9480f" } else { "#222" },
        esc(name),
        if matches!(scale, Scale::Numeric { log: true, .. }) { " (log)" } else { "" }
    );
    for (t, label) in scale.ticks() {
        let y = py(t);
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" x2=\"{x:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#555\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#444\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
            x - 4.0,
            x - 6.0,
            y + 4.0,
            esc(&label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::aggregate::Accumulator;

    fn group(values: &[&str], means: &[f64]) -> Group {
        let mut acc = Accumulator::default();
        for m in means {
            acc.push(*m);
        }
        Group {
            values: values
                .iter()
                .map(|v| yaml_serde::from_str::<Option<Value>>(v).unwrap())
                .collect(),
            n: means.len(),
            accumulators: vec![acc],
        }
    }

    #[test]
    fn draws_one_line_per_combination_with_named_axes() {
        let groups = [
            group(&["0.001", "adam"], &[0.5, 0.6]),
            group(&["0.1", "sgd"], &[0.9, 0.8]),
            group(&["0.01", "~"], &[0.7]),
        ];
        let svg = figure(&["lr".to_owned(), "opt".to_owned()], "ACC", &groups);
        assert_eq!(svg.matches("<polyline class=line").count(), 3);
        for name in ["lr (log)", "opt", "ACC"] {
            assert!(
                svg.contains(&format!("font-weight=\"bold\">{name}</text>")),
                "{name}"
            );
        }
        assert!(svg.contains("highest mean: lr = 0.1, opt = sgd (0.85 ± 0.070711, n=2)"));
        assert!(svg.contains(">(none)</text>"));
        let none = figure(&["lr".to_owned()], "ACC", &[]);
        assert!(none.contains("no <code>done</code> run"));
    }
}
