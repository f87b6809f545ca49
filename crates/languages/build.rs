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
    let mut extensions: Vec<(String, String, PathBuf)> = Vec::new();
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
        for extension in extensions_of(&file) {
            if let Some((_, other, _)) = extensions.iter().find(|(known, ..)| *known == extension) {
                panic!(
                    "{}: extension {extension:?} is already claimed by {other}; say `extensions = [...]`",
                    file.display()
                );
            }
            extensions.push((extension, id.to_string(), file.clone()));
        }
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

    extensions.sort();
    let mut table = String::from("&[\n");
    for (extension, id, _) in &extensions {
        writeln!(table, "    ({extension:?}, {id:?}),").expect("writing to a String cannot fail");
    }
    table.push(']');
    std::fs::write(out_dir.join("embedded_extensions.rs"), table).expect("write to OUT_DIR");
}

/// A language file's `extensions`, or else its `source_file`'s extension, lowercase. (The
/// registry validates the file; here only these two fields matter.)
fn extensions_of(file: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("listed files are readable");
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    if let Some(list) = table.get("extensions").and_then(toml::Value::as_array) {
        return list
            .iter()
            .filter_map(toml::Value::as_str)
            .map(str::to_lowercase)
            .collect();
    }
    table
        .get("source_file")
        .and_then(toml::Value::as_str)
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, extension)| vec![extension.to_lowercase()])
        .unwrap_or_default()
}
