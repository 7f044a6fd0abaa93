//! Tells the tests where the shared real-data folder is (`shared/data/` beside or above the
//! checkout, or `LAYERCAST_SHARED_DATA`), as `env!("LAYERCAST_SHARED_DATA")`.

use std::path::{Path, PathBuf};

fn find_shared_data(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("shared").join("data"))
        .find(|candidate| candidate.join("README.md").is_file())
}

fn main() {
    println!("cargo:rerun-if-env-changed=LAYERCAST_SHARED_DATA");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let data = std::env::var("LAYERCAST_SHARED_DATA")
        .map(PathBuf::from)
        .ok()
        .or_else(|| find_shared_data(&manifest))
        // Not found: the tests that read it fail naming this path.
        .unwrap_or_else(|| manifest.join("../../shared/data"));
    println!("cargo:rustc-env=LAYERCAST_SHARED_DATA={}", data.display());
}
