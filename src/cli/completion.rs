//! `clusterctl completion SHELL` (clap_complete) and `clusterctl man` (clap_mangen): generated from the clap
//! definitions, so they never drift from `--help`. Generated at run time, not at build time: `cargo test`
//! stays as fast as it was.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use super::{Cli, CliError, ExitCode, Ui};

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write clusterctl.1 and one clusterctl-COMMAND.1 per command into DIR instead of printing clusterctl.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn completion(args: &CompletionArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "clusterctl", &mut buf);
    ui.out(&String::from_utf8_lossy(&buf));
    Ok(ExitCode::Ok)
}

fn render(cmd: clap::Command) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| anyhow::anyhow!("cannot render the man page: {e}"))?;
    Ok(buf)
}

/// The man pages: the root page, and with `--out-dir` one page per command (`clusterctl-plan.1`, …).
pub fn man(args: &ManArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let mut root = Cli::command();
    root.build();
    let Some(dir) = &args.out_dir else {
        ui.out(&String::from_utf8_lossy(&render(root)?));
        return Ok(ExitCode::Ok);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut pages = vec![("clusterctl.1".to_string(), render(root.clone())?)];
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("clusterctl-{}", sub.get_name());
        // clap names are `&'static str` without its `string` feature; a few bytes for a one-shot command.
        let page = sub.clone().name(&*Box::leak(name.clone().into_boxed_str()));
        pages.push((format!("{name}.1"), render(page)?));
    }
    for (file, text) in &pages {
        let path = dir.join(file);
        std::fs::write(&path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    ui.info(&format!(
        "wrote {} man pages to {}",
        pages.len(),
        dir.display()
    ));
    Ok(ExitCode::Ok)
}
