//! File extensions and the languages they mean, for clients that infer a program's language
//! from its file name (`runnel exec main.py`): each embedded `language.toml`'s `extensions`, or
//! else its `source_file`'s extension (`build.rs`, which refuses an extension two languages
//! claim).

/// (extension, lowercase and without the dot; language id), sorted by extension.
pub const EXTENSIONS: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/embedded_extensions.rs"));

/// The language id a file extension means (case-insensitive, without the dot).
pub fn language_for_extension(extension: &str) -> Option<&'static str> {
    let extension = extension.to_ascii_lowercase();
    EXTENSIONS
        .iter()
        .find(|(known, _)| *known == extension)
        .map(|(_, language)| *language)
}
