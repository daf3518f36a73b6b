//! What the end-to-end benchmarks share: samples of durations and their medians, the
//! ratios goals are judged on, and the Markdown report they print.

use std::fmt::Write as _;
use std::time::Duration;

#[derive(Default, Clone)]
pub struct Stats {
    samples: Vec<Duration>,
}

impl Stats {
    pub fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }

    pub fn sorted(&self) -> Vec<Duration> {
        let mut s = self.samples.clone();
        s.sort();
        s
    }

    pub fn median(&self) -> Duration {
        let s = self.sorted();
        match s.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => s[n / 2],
            n => (s[n / 2 - 1] + s[n / 2]) / 2,
        }
    }

    #[allow(dead_code)]
    pub fn describe(&self) -> String {
        let s = self.sorted();
        match (s.first(), s.last()) {
            (Some(min), Some(max)) => format!("median {} (min {}, max {}, n={})", fmt(self.median()), fmt(*min), fmt(*max), s.len()),
            _ => "no samples".into(),
        }
    }
}

pub fn ratio(a: &Stats, b: &Stats) -> f64 {
    a.median().as_secs_f64() / b.median().as_secs_f64()
}

/// The median of `a[i] / b[i]` over repetitions, with a description that gives their
/// range and the ratio of the medians.
pub fn paired(a: &Stats, b: &Stats) -> (f64, String) {
    let mut ratios: Vec<f64> = a.samples.iter().zip(&b.samples).map(|(x, y)| x.as_secs_f64() / y.as_secs_f64()).collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    let median = if n % 2 == 1 { ratios[n / 2] } else { (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0 };
    let text = format!("{median:.2}x (per repetition {:.2}–{:.2}; ratio of medians {:.2}x)", ratios[0], ratios[n - 1], ratio(a, b));
    (median, text)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn fmt(d: Duration) -> String {
    if d >= Duration::from_secs(1) { format!("{:.2} s", d.as_secs_f64()) } else { format!("{:.1} ms", ms(d)) }
}

/// The figures, printed at the end as Markdown tables.
#[derive(Default)]
pub struct Report {
    rows: Vec<(String, Stats, String)>,
    goals: Vec<(String, String, bool)>,
}

impl Report {
    pub fn row(&mut self, name: impl Into<String>, stats: &Stats, note: String) {
        self.rows.push((name.into(), stats.clone(), note));
    }

    pub fn goal(&mut self, goal: &str, figure: String, met: bool) {
        self.goals.push((goal.to_string(), figure, met));
    }

    pub fn print(&self) {
        let mut out = String::from("\n| case | median | min | max | n | note |\n| --- | ---: | ---: | ---: | ---: | --- |\n");
        for (name, stats, note) in &self.rows {
            let s = stats.sorted();
            let (min, max) = (s.first().copied().unwrap_or_default(), s.last().copied().unwrap_or_default());
            let _ = writeln!(out, "| {name} | {} | {} | {} | {} | {note} |", fmt(stats.median()), fmt(min), fmt(max), s.len());
        }
        out.push_str("\n| goal | measured | met |\n| --- | ---: | --- |\n");
        for (goal, figure, met) in &self.goals {
            let _ = writeln!(out, "| {goal} | {figure} | {} |", if *met { "yes" } else { "**no**" });
        }
        println!("{out}");
    }
}
