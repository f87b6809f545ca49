//! `runnel-codegen`: writes the files generated from crates/protocol; `--check` only tells which
//! are stale (and fails if any is).

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => bail!("unknown argument `{other}` (usage: runnel-codegen [--check])"),
    };
    let root = runnel_codegen::workspace_root();
    if check {
        let stale = runnel_codegen::stale(&root)?;
        if !stale.is_empty() {
            bail!(
                "generated files are stale: {}; run `cargo run -p runnel-codegen` and commit them",
                stale.join(", ")
            );
        }
        println!("generated files are up to date");
        return Ok(());
    }
    for file in runnel_codegen::generate(&root)? {
        let path = root.join(file.path);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(&file.text) {
            std::fs::write(&path, &file.text)
                .with_context(|| format!("write {}", path.display()))?;
            println!("wrote {}", file.path);
        }
    }
    Ok(())
}
