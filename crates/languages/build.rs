//! Embeds the repository's `languages/<id>/language.toml` files into the crate, so that a
//! binary built from a fresh clone knows its languages whatever its working directory.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let languages_dir = manifest_dir.join("../../languages");
    println!("cargo:rerun-if-changed={}", languages_dir.display());
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&languages_dir)
        .unwrap_or_else(|error| panic!("read {}: {error}", languages_dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    folders.sort();
    let mut out = String::from("&[\n");
    for folder in &folders {
        // A new folder is seen through the directory's own rerun-if-changed; a folder's own
        // files through its own.
        println!("cargo:rerun-if-changed={}", folder.display());
        let file = folder.join("language.toml");
        assert!(file.is_file(), "{} is missing", file.display());
        println!("cargo:rerun-if-changed={}", file.display());
        let id = folder
            .file_name()
            .expect("listed folders have names")
            .to_string_lossy();
        let name = format!("{id}/language.toml");
        let absolute = file.canonicalize().expect("listed files exist");
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            absolute.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    out.push(']');
    // Cargo hands a build script its output directory through the environment; there is no
    // Config to read it from here.
    #[allow(clippy::disallowed_methods)]
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("embedded_languages.rs"), out).expect("write to OUT_DIR");
}
