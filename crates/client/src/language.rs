//! Inferring a program's language id from its file name.

use std::path::Path;

/// File extensions (lowercase, without the dot) and the language id each one means: from the
/// languages' own files (`languages/<id>/language.toml`, `extensions` or else `source_file`).
pub use runnel_languages::EXTENSIONS;

/// The language id for a file, from its extension (case-insensitive); `None` when unknown.
pub fn language_for_path(path: &Path) -> Option<&'static str> {
    runnel_languages::language_for_extension(path.extension()?.to_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_the_usual_extensions() {
        let cases = [
            ("hello.py", Some("python")),
            ("dir/app.JS", Some("javascript")),
            ("main.ts", Some("typescript")),
            ("a.c", Some("c")),
            ("a.cpp", Some("cpp")),
            ("a.cc", Some("cpp")),
            ("Main.java", Some("java")),
            ("main.go", Some("go")),
            ("main.rs", Some("rust")),
            ("run.sh", Some("bash")),
            ("x.rb", Some("ruby")),
            ("x.php", Some("php")),
            ("Main.kt", Some("kotlin")),
            ("x.lua", Some("lua")),
            ("x.pl", Some("perl")),
            ("a.mjs", Some("javascript")),
            ("a.cxx", Some("cpp")),
            ("a.kts", Some("kotlin")),
            ("a.ex", Some("elixir")),
            ("a.sql", Some("sql")),
            ("a.R", Some("r")),
            ("a.swift", None),
            ("a.dart", None),
            ("a.jl", None),
            ("Makefile", None),
            ("notes.txt", None),
            (".py", None),
        ];
        for (path, expected) in cases {
            assert_eq!(language_for_path(Path::new(path)), expected, "{path}");
        }
    }

    #[test]
    fn every_extension_names_an_embedded_language() {
        let host = runnel_languages::HostDirs {
            home: None,
            scratch: std::path::PathBuf::from("/tmp"),
        };
        let registry = runnel_languages::Registry::embedded(&host).unwrap();
        for (extension, id) in EXTENSIONS {
            assert!(registry.get(id).is_some(), ".{extension} names {id}");
        }
        assert!(EXTENSIONS.len() >= 40, "{EXTENSIONS:?}");
    }
}
