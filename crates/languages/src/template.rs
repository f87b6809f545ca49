//! Placeholders in argv and environment templates.
//!
//! A placeholder is `{name}` with `name` made of lowercase letters, digits, `_` and `.`; any
//! other brace is literal text, so shell and awk snippets need no escaping. A list placeholder
//! (`{files}`, `{sources}`, `{args}`, `{compiler_args}`) must be a whole argv item and expands
//! to zero or more items, each kept as one item whatever it contains. Scalar placeholders may
//! appear anywhere inside a string. Unknown names are rejected when a file is loaded, so a typo
//! fails at start-up and not on the first run.

use std::collections::BTreeMap;

/// Placeholders that expand to a list of argv items.
pub(crate) const LIST_PLACEHOLDERS: &[&str] = &["files", "sources", "args", "compiler_args"];

/// Scalar placeholders of argv templates (besides the language's `[paths]`).
pub(crate) const ARGV_SCALARS: &[&str] = &["main", "main_stem", "driver"];

/// Scalar placeholders of environment templates (besides the language's `[paths]`).
pub(crate) const ENV_SCALARS: &[&str] = &[
    "memory_mb",
    "memory_bytes",
    "heap_mb",
    "heap_bytes",
    "work",
    "tmp",
];

/// One piece of a parsed template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text.
    Text(String),
    /// `{name}`.
    Placeholder(String),
}

/// Split `template` into literal text and placeholders.
pub(crate) fn parse(template: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !is_name_char(c))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('}') {
            text.push_str(&rest[..open]);
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Placeholder(after[..name_len].to_string()));
            rest = &after[name_len + 1..];
        } else {
            text.push_str(&rest[..=open]);
            rest = after;
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
}

/// The placeholder names used in `template`.
pub(crate) fn names(template: &str) -> impl Iterator<Item = String> {
    parse(template).into_iter().filter_map(|piece| match piece {
        Piece::Placeholder(name) => Some(name),
        Piece::Text(_) => None,
    })
}

/// Replace scalar placeholders in `template`; names missing from `values` stay as they are
/// (validation has already rejected unknown names).
pub(crate) fn expand_scalar(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in parse(template) {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Placeholder(name) => match values.get(name.as_str()) {
                Some(value) => out.push_str(value),
                None => {
                    out.push('{');
                    out.push_str(&name);
                    out.push('}');
                }
            },
        }
    }
    out
}

/// Expand an argv template: list placeholders splice their items in, scalars are substituted.
pub(crate) fn expand_argv(
    template: &[String],
    scalars: &BTreeMap<&str, String>,
    lists: &BTreeMap<&str, &[String]>,
) -> Vec<String> {
    let mut argv = Vec::with_capacity(template.len());
    for item in template {
        if let [Piece::Placeholder(name)] = parse(item).as_slice() {
            if let Some(list) = lists.get(name.as_str()) {
                argv.extend(list.iter().cloned());
                continue;
            }
        }
        argv.push(expand_scalar(item, scalars));
    }
    argv
}

/// Check an argv template: known names only, and list placeholders as whole items.
pub(crate) fn check_argv(template: &[String], paths: &[&str]) -> Result<(), String> {
    for item in template {
        let pieces = parse(item);
        let whole = pieces.len() == 1;
        for piece in &pieces {
            let Piece::Placeholder(name) = piece else {
                continue;
            };
            if LIST_PLACEHOLDERS.contains(&name.as_str()) {
                if !whole {
                    return Err(format!(
                        "placeholder {{{name}}} expands to several items and must be a whole \
                         argv item, not part of {item:?}"
                    ));
                }
            } else if !ARGV_SCALARS.contains(&name.as_str()) && !paths.contains(&name.as_str()) {
                return Err(format!("unknown placeholder {{{name}}} in {item:?}"));
            }
        }
    }
    Ok(())
}

/// Check an environment template: known scalar names only.
pub(crate) fn check_env(value: &str, paths: &[&str]) -> Result<(), String> {
    for name in names(value) {
        if !ENV_SCALARS.contains(&name.as_str()) && !paths.contains(&name.as_str()) {
            return Err(format!("unknown placeholder {{{name}}} in {value:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn braces_that_are_not_placeholders_are_literal() {
        let awk = "{ p = $2 } END { printf \"%s\", x }";
        assert_eq!(parse(awk), vec![Piece::Text(awk.to_string())]);
        assert_eq!(parse("${HOME}"), vec![Piece::Text("${HOME}".to_string())]);
        assert_eq!(
            parse("--out={main_stem}.js"),
            vec![
                Piece::Text("--out=".to_string()),
                Piece::Placeholder("main_stem".to_string()),
                Piece::Text(".js".to_string()),
            ]
        );
    }

    #[test]
    fn list_placeholders_splice_and_keep_items_whole() {
        let template = strings(&["/bin/x", "-o", "{main_stem}", "{compiler_args}", "{args}"]);
        let args = strings(&["hello world", "", "{main}"]);
        let compiler_args = strings(&["-Wall"]);
        let scalars = BTreeMap::from([("main_stem", "main".to_string())]);
        let lists = BTreeMap::from([
            ("args", args.as_slice()),
            ("compiler_args", compiler_args.as_slice()),
        ]);
        assert_eq!(
            expand_argv(&template, &scalars, &lists),
            strings(&["/bin/x", "-o", "main", "-Wall", "hello world", "", "{main}"])
        );
    }

    #[test]
    fn checks_reject_unknown_names_and_split_lists() {
        assert!(check_argv(&strings(&["{mian}"]), &[]).is_err());
        assert!(check_argv(&strings(&["--x={args}"]), &[]).is_err());
        assert!(check_argv(&strings(&["{goroot}/bin/go", "{files}"]), &["goroot"]).is_ok());
        assert!(check_env("-Xmx{heap_mb}m", &[]).is_ok());
        assert!(check_env("{args}", &[]).is_err());
    }
}
