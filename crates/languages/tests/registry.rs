//! The embedded language files: parsing, validation, lookup and what the engine gets from them.

// Test helpers panic on setup failures; that is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use runnel_languages::{Language, LanguageError, Registry};

/// The languages the engine must support now.
const REQUIRED: &[&str] = &[
    "python",
    "javascript",
    "typescript",
    "c",
    "cpp",
    "java",
    "go",
    "rust",
    "bash",
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

fn language(id: &str) -> Language {
    let registry = Registry::embedded(&common::host_dirs()).expect("embedded files are valid");
    registry.get(id).expect("language is embedded").clone()
}

fn env_value(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

#[test]
fn every_embedded_file_parses_and_validates() {
    let registry = Registry::embedded(&common::host_dirs()).unwrap();
    let ids: Vec<&str> = registry.languages().iter().map(|l| l.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "languages() is sorted by id");
    for id in REQUIRED {
        assert!(ids.contains(id), "{id} is embedded");
    }
    for language in registry.languages() {
        assert!(language.version.is_empty(), "no version before detection");
        assert!(!language.run_command(&[], &[]).is_empty());
        assert_eq!(
            language.compiled,
            language.compile_command(&[], &[]).is_some()
        );
        assert!(language.file().ends_with(".toml"));
    }
}

#[test]
fn the_directory_loads_like_the_embedded_copy() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../languages");
    let from_dir = Registry::load_dir(&dir, &common::host_dirs()).unwrap();
    let embedded = Registry::embedded(&common::host_dirs()).unwrap();
    assert_eq!(from_dir.languages().len(), embedded.languages().len());
    for language in embedded.languages() {
        assert_eq!(
            language.file(),
            format!("{}/language.toml", language.id),
            "embedded from its own folder"
        );
    }
}

#[test]
fn a_directory_may_mix_folders_and_flat_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("demo")).unwrap();
    std::fs::write(dir.path().join("demo/language.toml"), MINIMAL).unwrap();
    std::fs::write(
        dir.path().join("other.toml"),
        MINIMAL.replace("\"demo\"", "\"other\""),
    )
    .unwrap();
    // A folder without a language.toml, and other files, are not languages.
    std::fs::create_dir(dir.path().join("notes")).unwrap();
    std::fs::write(dir.path().join("notes/cases.toml"), "").unwrap();
    std::fs::write(dir.path().join("README.md"), "").unwrap();
    let registry = Registry::load_dir(dir.path(), &common::host_dirs()).unwrap();
    let ids: Vec<&str> = registry.languages().iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["demo", "other"]);
}

#[test]
fn ids_and_aliases_resolve_case_insensitively() {
    let registry = Registry::embedded(&common::host_dirs()).unwrap();
    let cases = [
        ("python", "python"),
        ("py", "python"),
        ("Python3", "python"),
        ("JS", "javascript"),
        ("node", "javascript"),
        ("ts", "typescript"),
        ("c", "c"),
        ("c++", "cpp"),
        ("CPP", "cpp"),
        ("java", "java"),
        ("golang", "go"),
        ("rs", "rust"),
        ("sh", "bash"),
        ("rb", "ruby"),
    ];
    for (name, id) in cases {
        assert_eq!(
            registry.get(name).map(|l| l.id.as_str()),
            Some(id),
            "{name}"
        );
    }
    assert!(registry.get("cobol-2077").is_none());
}

#[test]
fn placeholders_expand_files_args_and_compiler_args() {
    let files = strings(&["main.c", "util.c", "util.h"]);
    let args = strings(&["hello world", "", "--flag=a b"]);
    let c = language("c");
    let compile = c
        .compile_command(&files, &strings(&["-Wall", "-DNAME=x y"]))
        .unwrap();
    assert_eq!(
        compile,
        strings(&[
            "/usr/bin/gcc",
            "-O2",
            "-pipe",
            "-o",
            "main",
            "-Wall",
            "-DNAME=x y",
            "main.c",
            "util.c",
            "-lm"
        ])
    );
    assert_eq!(
        c.run_command(&files, &args),
        strings(&["./main", "hello world", "", "--flag=a b"])
    );

    let python = language("python");
    assert_eq!(
        python.run_command(&strings(&["app.py", "lib.py"]), &args),
        strings(&[
            "/usr/bin/python3",
            "app.py",
            "hello world",
            "",
            "--flag=a b"
        ])
    );
    assert!(python.compile_command(&files, &[]).is_none());

    let typescript = language("typescript");
    let ts_files = strings(&["src/main.ts", "src/util.ts", "data.json"]);
    let compile = typescript.compile_command(&ts_files, &[]).unwrap();
    assert!(compile[0].ends_with("/esbuild"));
    assert_eq!(&compile[1..3], &strings(&["src/main.ts", "src/util.ts"]));
    assert_eq!(
        typescript.run_command(&ts_files, &strings(&["x"])),
        strings(&["/usr/bin/node", "src/main.js", "x"])
    );

    let rust = language("rust");
    let compile = rust
        .compile_command(&strings(&["main.rs", "util.rs"]), &[])
        .unwrap();
    assert!(
        compile[0].starts_with('/') && compile[0].ends_with("/bin/rustc"),
        "{compile:?}"
    );
    assert_eq!(compile.last().map(String::as_str), Some("main.rs"));
    assert!(rust
        .binds
        .iter()
        .any(|bind| compile[0].starts_with(&*bind.to_string_lossy())));
}

#[test]
fn single_file_programs_default_to_the_source_file() {
    let java = language("java");
    let compile = java.compile_command(&[], &[]).unwrap();
    assert_eq!(compile[0], "/bin/sh");
    assert_eq!(&compile[3..], &strings(&["javac", "Main.java"]));
    let run = java.run_command(&[], &strings(&["a b"]));
    assert_eq!(run.last().map(String::as_str), Some("a b"));
}

#[test]
fn memory_hints_scale_with_the_limit() {
    const MIB: u64 = 1024 * 1024;
    let java = language("java");
    let small = env_value(&java.run_environment(256 * MIB), "JAVA_OPTS").unwrap();
    let large = env_value(&java.run_environment(1024 * MIB), "JAVA_OPTS").unwrap();
    // The heap may use the whole limit: the cgroup, not the JVM, stops a hungry program, so it
    // gets memory_limit; the cap only keeps the JVM from sizing itself from the host's memory.
    assert!(
        small.contains("-Xmx256m") && small.contains("-XX:+UseSerialGC"),
        "{small}"
    );
    assert!(large.contains("-Xmx1024m"), "{large}");
    let node = language("javascript");
    let options = env_value(&node.run_environment(512 * MIB), "NODE_OPTIONS").unwrap();
    assert!(options.contains("--max-old-space-size=512"), "{options}");
    let go = language("go");
    let env = go.run_environment(128 * MIB);
    assert_eq!(env_value(&env, "GOMEMLIMIT").as_deref(), Some("96MiB"));
    assert!(env_value(&env, "GOMAXPROCS").is_some());
    let javac = env_value(
        &java.compile_environment(java.compile_limits().memory_bytes),
        "JAVAC_OPTS",
    );
    assert!(javac.unwrap().contains("-J-Xmx576m"));
}

/// Whether `value` still holds a `{placeholder}` (other braces, such as Erlang's tuples in
/// erlang.toml's ERL_AFLAGS, are literal text).
fn has_placeholder(value: &str) -> bool {
    value.split('{').skip(1).any(|rest| {
        rest.find('}').is_some_and(|end| {
            end > 0
                && rest[..end]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        })
    })
}

#[test]
fn environments_are_complete_and_clean() {
    let registry = Registry::embedded(&common::host_dirs()).unwrap();
    for language in registry.languages() {
        let env = language.run_environment(256 * 1024 * 1024);
        let path = env_value(&env, "PATH").unwrap();
        assert!(
            path.ends_with("/usr/local/bin:/usr/bin:/bin"),
            "{}: {path}",
            language.id
        );
        assert!(
            !path.contains("pyenv") && !path.contains(".cargo"),
            "{}",
            language.id
        );
        assert_eq!(env_value(&env, "HOME").as_deref(), Some("/work"));
        assert_eq!(env_value(&env, "LANG").as_deref(), Some("C.UTF-8"));
        assert_eq!(env_value(&env, "TMPDIR").as_deref(), Some("/tmp"));
        assert!(env_value(&env, "NODE_EXTRA_CA_CERTS").is_none());
        assert!(
            env.iter().all(|(_, value)| !has_placeholder(value)),
            "{}: {env:?}",
            language.id
        );
    }
    let c = language("c").run_environment(64 * 1024 * 1024);
    assert_eq!(
        env_value(&c, "LD_PRELOAD").as_deref(),
        Some("/usr/libexec/coreutils/libstdbuf.so")
    );
    assert_eq!(env_value(&c, "_STDBUF_O").as_deref(), Some("L"));
    let gcc = language("c").compile_environment(512 * 1024 * 1024);
    assert!(
        env_value(&gcc, "LD_PRELOAD").is_none(),
        "no preload in the compiler"
    );
    let python = language("python").run_environment(64 * 1024 * 1024);
    assert_eq!(env_value(&python, "PYTHONUNBUFFERED").as_deref(), Some("1"));
    assert_eq!(
        env_value(&python, "PYTHONDONTWRITEBYTECODE").as_deref(),
        Some("1")
    );
    let go = language("go").compile_environment(512 * 1024 * 1024);
    assert_eq!(
        env_value(&go, "GOCACHE").as_deref(),
        Some("/opt/langs/gocache")
    );
    assert_eq!(env_value(&go, "GOTMPDIR").as_deref(), Some("/tmp"));
    assert_eq!(env_value(&go, "GOTOOLCHAIN").as_deref(), Some("local"));
}

#[test]
fn compile_limits_and_toolchain_keys() {
    let java = language("java");
    let limits = java.compile_limits();
    assert!(limits.pids >= 32 && limits.memory_bytes >= 512 * 1024 * 1024);
    assert!(limits.wall.as_secs() >= 10);
    let mut detected = java.clone();
    assert_eq!(java.toolchain_key(), detected.toolchain_key());
    detected.version = "17.0.99".to_string();
    assert_ne!(java.toolchain_key(), detected.toolchain_key());
    assert_ne!(java.toolchain_key(), language("c").toolchain_key());
}

#[test]
fn warm_starts_and_repls() {
    let python = language("python").warm_start().unwrap();
    assert_eq!(
        python.argv,
        strings(&["/usr/bin/python3", &python.driver_file])
    );
    assert!(python.driver_source.contains("os.read(3"));
    let node = language("javascript").warm_start().unwrap();
    assert_eq!(node.argv[0], "/usr/bin/node");
    assert!(language("c").warm_start().is_none());
    assert_eq!(language("python").repl.unwrap().argv[0], "/usr/bin/python3");
}

fn parse_error(text: &str) -> String {
    match Registry::parse_file("languages/broken.toml", text, &common::host_dirs()) {
        Ok(language) => panic!("accepted {language:?}"),
        Err(error) => {
            assert!(matches!(error, LanguageError::Invalid { .. }));
            error.to_string()
        }
    }
}

const MINIMAL: &str = r#"
id = "demo"
name = "Demo"
source_file = "main.demo"
[version]
command = ["/bin/true"]
[run]
argv = ["/bin/cat", "{main}"]
"#;

#[test]
fn bad_files_name_the_file_and_the_field() {
    assert!(Registry::parse_file("demo.toml", MINIMAL, &common::host_dirs()).is_ok());
    let cases = [
        (MINIMAL.replace("id = \"demo\"\n", ""), "id"),
        (MINIMAL.replace("id = \"demo\"", "id = \"Demo!\""), "id"),
        (
            MINIMAL.replace("name = \"Demo\"", "name = \"Demo\"\nnmae = 1"),
            "nmae",
        ),
        (MINIMAL.replace("\"{main}\"", "\"{mian}\""), "run.argv"),
        (MINIMAL.replace("\"{main}\"", "\"--x={args}\""), "run.argv"),
        (MINIMAL.replace("\"/bin/cat\"", "\"cat\""), "run.argv"),
        (
            MINIMAL.replace("argv = [\"/bin/cat\", \"{main}\"]", "argv = []"),
            "run.argv",
        ),
        (
            MINIMAL.to_string() + "[env]\nX = \"{memory_gb}\"\n",
            "env.X",
        ),
        (
            MINIMAL.to_string() + "[warm]\ndriver = \"cobol\"\nargv = [\"/bin/x\"]\n",
            "warm.driver",
        ),
        (
            MINIMAL.replace("source_file = \"main.demo\"", "source_file = 3"),
            "source_file",
        ),
        (
            MINIMAL.replace("name =", "extensions = [\".demo\"]\nname ="),
            "extensions[0]",
        ),
        (
            MINIMAL.replace("name =", "extensions = [\"Demo\"]\nname ="),
            "extensions[0]",
        ),
    ];
    for (text, field) in cases {
        let message = parse_error(&text);
        assert!(message.starts_with("languages/broken.toml: "), "{message}");
        assert!(message.contains(field), "{field} not named in {message}");
    }
}

#[test]
fn duplicate_aliases_are_rejected_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        MINIMAL.replace("name =", "aliases = [\"x\"]\nname ="),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        MINIMAL
            .replace("\"demo\"", "\"other\"")
            .replace("name =", "aliases = [\"X\"]\nname ="),
    )
    .unwrap();
    let message = Registry::load_dir(dir.path(), &common::host_dirs())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("a.toml") && message.contains("b.toml"),
        "{message}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Registry::load_dir(empty.path(), &common::host_dirs()),
        Err(LanguageError::NoLanguages { .. })
    ));
}
