//! Terminal manners (clig.dev): data to stdout, messages to stderr, colour only on a TTY and never with
//! `--no-color` or `NO_COLOR`. Everything clusterctl prints goes through here: the crate denies
//! `print!`/`eprint!` everywhere else (lib.rs).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};

use owo_colors::OwoColorize;

use super::Global;

#[derive(Debug, Clone)]
pub struct Ui {
    pub color: bool,
    pub stderr_tty: bool,
    pub stdin_tty: bool,
    /// stdin is a terminal, `CI` or not: an explicit `exec -it` asks for one (kubectl's SetupTTY), so
    /// only prompts follow `CI=true`.
    pub stdin_terminal: bool,
}

impl Ui {
    pub fn new(g: &Global) -> Ui {
        let no_color = g.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        // `CI=true` (GitHub, GitLab and most CI systems set it): never a prompt, a colour or a progress
        // bar, even when the runner gives the job a pseudo-terminal (docs/ci.md).
        let ci = std::env::var("CI").is_ok_and(|v| matches!(v.as_str(), "true" | "1" | "yes"));
        Ui {
            color: !no_color && !ci && std::io::stdout().is_terminal(),
            stderr_tty: !ci && std::io::stderr().is_terminal(),
            stdin_tty: !ci && std::io::stdin().is_terminal(),
            stdin_terminal: std::io::stdin().is_terminal(),
        }
    }

    /// Data: goes to stdout as is.
    pub fn out(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// A status line for people: stderr.
    pub fn info(&self, text: &str) {
        eprintln!("{text}");
    }

    pub fn warn(&self, text: &str) {
        if self.stderr_tty && self.color {
            eprintln!("{} {text}", "Warning:".yellow().bold());
        } else {
            eprintln!("Warning: {text}");
        }
    }

    pub fn error(&self, text: &str) {
        if self.stderr_tty && self.color {
            eprintln!("{} {text}", "Error:".red().bold());
        } else {
            eprintln!("Error: {text}");
        }
    }

    /// Asks a yes/no question on the terminal; only "yes" counts, as Terraform does.
    pub fn confirm(&self, question: &str) -> bool {
        eprint!("{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).is_ok() && line.trim() == "yes"
    }
}
