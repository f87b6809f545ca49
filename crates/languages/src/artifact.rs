//! What a compile step leaves for the run step: glob patterns over paths relative to the work
//! dir (`main`, `**/*.class`). Only files that match are kept in the compile cache; everything
//! else a compile writes (object files, temporaries, whatever compile-time code made) is not.
//!
//! A pattern is `/`-separated segments: `**` matches any number of directories (none too),
//! and in any other segment `*` matches any run of characters and `?` one character, never a
//! `/`. A leading `.` is matched like any other character.

/// The default when a language declares nothing: the `main` binary most toolchains write.
pub(crate) const DEFAULT_ARTIFACTS: &[&str] = &["main"];

/// Checks one pattern of a language file.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.starts_with('/') || pattern.ends_with('/') {
        return Err(format!(
            "{pattern:?} must be a relative path pattern (`main`, `**/*.class`)"
        ));
    }
    for segment in pattern.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!("{pattern:?} has an empty, `.` or `..` segment"));
        }
        if segment.contains("**") && segment != "**" {
            return Err(format!("{pattern:?}: `**` must be a whole segment"));
        }
    }
    Ok(())
}

/// Whether `path` (relative, `/`-separated) matches `pattern`.
pub(crate) fn matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    match_segments(&pattern, &path)
}

fn match_segments(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| match_segments(rest, &path[skip..])),
        Some((first, rest)) => match path.split_first() {
            Some((segment, path_rest)) => {
                match_segment(first.as_bytes(), segment.as_bytes())
                    && match_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*` and `?` within one segment; iterative, with one backtrack point (linear enough for
/// the short names of a work dir).
fn match_segment(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_match_only_themselves() {
        assert!(matches("main", "main"));
        assert!(!matches("main", "main.o"));
        assert!(!matches("main", "sub/main"));
        assert!(!matches("main.jar", "main"));
    }

    #[test]
    fn stars_stay_within_a_segment() {
        assert!(matches("*.class", "Main.class"));
        assert!(matches("*.class", "Main$Inner.class"));
        assert!(!matches("*.class", "pkg/Main.class"));
        assert!(!matches("*.class", "Main.classes"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("?.js", "a.js"));
        assert!(!matches("?.js", "ab.js"));
    }

    #[test]
    fn double_star_spans_directories() {
        assert!(matches("**/*.class", "Main.class"));
        assert!(matches("**/*.class", "com/example/Main.class"));
        assert!(!matches("**/*.class", "com/example/Main.java"));
        assert!(matches("out/**", "out/a/b"));
        assert!(matches("**/x/**/y", "a/x/b/c/y"));
        assert!(!matches("**/x/**/y", "a/x/b/c/z"));
    }

    #[test]
    fn bad_patterns_are_named() {
        for bad in ["", "/main", "out/", "a//b", "../main", "./main", "a**"] {
            assert!(check_pattern(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["main", "**/*.class", ".runnel-main-class", "main.exe"] {
            assert!(check_pattern(good).is_ok(), "{good:?} refused");
        }
    }
}
