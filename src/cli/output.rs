//! The printer: data on stdout (tables, or exactly one JSON document with `--json`),
//! status lines, warnings and errors on stderr in cargo's voice, colors only when asked
//! for or on a terminal (and never with `NO_COLOR`). With `-q` only errors are printed,
//! and the JSON document when `--json` asks for it.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::domain::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
    color: bool,
    pub stderr_is_terminal: bool,
}

const GREEN: &str = "\x1b[1;32m";
const CYAN: &str = "\x1b[1;36m";
const YELLOW: &str = "\x1b[1;33m";
const RED: &str = "\x1b[1;31m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

impl Output {
    pub fn new(json: bool, quiet: bool, verbose: u8, color: ColorChoice) -> Self {
        let stderr_is_terminal = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stderr_is_terminal && !no_color,
        };
        Output { json, quiet, verbose, color, stderr_is_terminal }
    }

    /// Whether stderr gets colors (`--color`, `NO_COLOR`, a terminal).
    pub fn colored(&self) -> bool {
        self.color
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color { format!("{style}{text}{RESET}") } else { text.to_string() }
    }

    /// `   Installing finance 1.2.0 for acme`: the verb right-aligned in twelve columns.
    pub fn status_line(&self, verb: &str, message: &str) -> String {
        let style = if verb == "Failed" || verb == "Refused" || verb == "Interrupted" {
            RED
        } else if verb == "Planned" || verb == "Would" || verb == "Blocking" {
            CYAN
        } else {
            GREEN
        };
        format!("{} {message}", self.paint(style, &format!("{verb:>12}")))
    }

    pub fn status(&self, verb: &str, message: &str) {
        if !self.quiet {
            eprintln!("{}", self.status_line(verb, message));
        }
    }

    pub fn warning_line(&self, message: &str) -> String {
        format!("{}{} {message}", self.paint(YELLOW, "warning"), self.paint(BOLD, ":"))
    }

    pub fn warning(&self, message: &str) {
        if !self.quiet {
            eprintln!("{}", self.warning_line(message));
        }
    }

    /// Verbose log lines (`-v`).
    pub fn log(&self, line: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{line}");
        }
    }

    /// Prints a report: its JSON with `--json`, otherwise the human text (none with `-q`).
    pub fn data<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            self.json_document(value);
        } else if !self.quiet {
            let text = human();
            if !text.is_empty() {
                print_stdout(&text);
            }
        }
    }

    pub fn json_document<T: Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => print_stdout(&format!("{text}\n")),
            Err(e) => eprintln!("error: cannot encode the report: {e}"),
        }
    }

    /// Prints an error: `{"error": {...}}` on stdout with `--json`, else
    /// `error: …` and `hint: …` on stderr.
    pub fn error(&self, error: &Error) {
        if self.json {
            let mut object = serde_json::json!({ "kind": error.kind.as_str(), "message": error.message });
            if let Some(hint) = &error.hint {
                object["hint"] = hint.clone().into();
            }
            if let Some(serde_json::Value::Object(details)) = &error.details {
                for (k, v) in details {
                    object[k] = v.clone();
                }
            }
            self.json_document(&serde_json::json!({ "error": object }));
            return;
        }
        let mut lines = error.message.lines();
        let first = lines.next().unwrap_or_default();
        eprintln!("{}{} {first}", self.paint(RED, "error"), self.paint(BOLD, ":"));
        for line in lines {
            eprintln!("{line}");
        }
        if let Some(hint) = &error.hint {
            eprintln!("{}{} {hint}", self.paint(CYAN, "hint"), self.paint(BOLD, ":"));
        }
    }
}

/// Writes to stdout, ignoring a closed pipe (`modreg jobs list | head`).
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
