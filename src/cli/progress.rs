//! The terminal's [`Reporter`]: status lines, warnings, verbose log lines, the plan, and
//! an indicatif progress bar for fleets (only on a terminal, never with `--json` or `-q`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::output::{Output, print_stdout};
use crate::cli::render;
use crate::ops::{PlanRow, Reporter};

pub struct CliReporter {
    output: Output,
    bar: Mutex<Option<ProgressBar>>,
    /// Working on many tenants: per-module lines only with `-v`.
    fleet: AtomicBool,
    failed: AtomicUsize,
}

impl CliReporter {
    pub fn new(output: Output) -> Self {
        CliReporter { output, bar: Mutex::new(None), fleet: AtomicBool::new(false), failed: AtomicUsize::new(0) }
    }

    /// Prints a line on stderr without tearing the progress bar.
    fn line(&self, text: String) {
        match self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn in_fleet(&self) -> bool {
        self.fleet.load(Ordering::Relaxed)
    }
}

impl Reporter for CliReporter {
    fn status(&self, verb: &str, message: &str) {
        if self.output.quiet || (self.in_fleet() && self.output.verbose == 0) {
            return;
        }
        self.line(self.output.status_line(verb, message));
    }

    fn warning(&self, message: &str) {
        if !self.output.quiet {
            self.line(self.output.warning_line(message));
        }
    }

    fn log(&self, job: i64, tenant: &str, module: &str, step: &str, message: &str) {
        if self.output.verbose > 0 && !self.output.quiet {
            self.line(format!("[job {job} tenant={tenant} module={module} step={step}] {message}"));
        }
    }

    fn plan(&self, rows: &[PlanRow]) {
        // Fleets and `--json` show plans in their final report instead; `-q` not at all.
        if self.output.json || self.output.quiet || self.in_fleet() {
            return;
        }
        print_stdout(&render::plan(rows));
    }

    fn progress_start(&self, total: usize) {
        self.fleet.store(true, Ordering::Relaxed);
        if self.output.json || self.output.quiet || !self.output.stderr_is_terminal {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} tenants {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
    }

    fn progress_tenant_done(&self, tenant: &str, ok: bool) {
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            bar.inc(1);
            let failed = self.failed.load(Ordering::Relaxed);
            bar.set_message(if failed > 0 { format!("({failed} failed) {tenant}") } else { tenant.to_string() });
        }
    }

    fn progress_finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}
