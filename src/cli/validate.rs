//! `clusterctl validate`: manifests and inventory only; contacts no host.

use clap::Args;

use super::{CliError, ExitCode, Global, Ui, pipeline};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Treat warnings (unknown fields) as errors.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(g: &Global, args: &ValidateArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let inv = match pipeline::load_inventory(g) {
        Ok(inv) => inv,
        // The inventory is optional for validate: manifests can be checked without any hosts.
        Err(e) if !g.cluster.exists() => {
            tracing::debug!("no inventory: {e}");
            crate::inventory::Inventory::default()
        }
        Err(e) => return Err(e),
    };
    let desired = pipeline::load_desired(g, &inv, args.strict, ui)?;
    pipeline::warn_dirty(&desired, ui);
    let objects = desired.source.files.len();
    ui.info(&format!(
        "Success! {objects} manifest file(s) at commit {} are valid.",
        desired.source.short
    ));
    Ok(ExitCode::Ok)
}
