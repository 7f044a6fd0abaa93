//! The numeric `--name value` options of the bench binaries.

use anyhow::{Context, Result};

/// The value after `name` on the command line, or `default` when it is not there.
pub fn arg(name: &str, default: u64) -> Result<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .context("missing value")?
            .parse()
            .with_context(|| format!("bad {name}")),
        None => Ok(default),
    }
}
