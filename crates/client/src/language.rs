//! Inferring a program's language id from its file name.

use std::path::Path;

/// File extensions (lowercase, without the dot) and the language id each one means.
pub const EXTENSIONS: &[(&str, &str)] = &[
    ("py", "python"),
    ("js", "javascript"),
    ("mjs", "javascript"),
    ("cjs", "javascript"),
    ("ts", "typescript"),
    ("c", "c"),
    ("cpp", "cpp"),
    ("cc", "cpp"),
    ("cxx", "cpp"),
    ("c++", "cpp"),
    ("java", "java"),
    ("go", "go"),
    ("rs", "rust"),
    ("sh", "bash"),
    ("bash", "bash"),
    ("rb", "ruby"),
    ("php", "php"),
    ("kt", "kotlin"),
    ("kts", "kotlin"),
    ("lua", "lua"),
    ("pl", "perl"),
    ("swift", "swift"),
    ("cs", "csharp"),
    ("scala", "scala"),
    ("hs", "haskell"),
    ("r", "r"),
    ("dart", "dart"),
    ("ex", "elixir"),
    ("exs", "elixir"),
    ("jl", "julia"),
    ("zig", "zig"),
    ("nim", "nim"),
    ("ml", "ocaml"),
    ("clj", "clojure"),
    ("erl", "erlang"),
    ("f90", "fortran"),
    ("pas", "pascal"),
    ("d", "d"),
    ("sql", "sqlite"),
];

/// The language id for a file, from its extension (case-insensitive); `None` when unknown.
pub fn language_for_path(path: &Path) -> Option<&'static str> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    EXTENSIONS
        .iter()
        .find(|(known, _)| *known == extension)
        .map(|(_, language)| *language)
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
            ("Makefile", None),
            ("notes.txt", None),
            (".py", None),
        ];
        for (path, expected) in cases {
            assert_eq!(language_for_path(Path::new(path)), expected, "{path}");
        }
    }
}
