//! The engine against the fake backend ([`crate::backend::fake`]): runs, the warm pool,
//! limits, sessions and resume, in milliseconds and without root. The programs are scripts
//! in a tiny language that the fake interpreter reads from the run's main file (see
//! [`script`]), so each test says what its program does in its source, as a real one would.
//!
//! What only a kernel can show (isolation, the hostile corpus, real toolchains) stays in the
//! real-sandbox suites of `crates/sandbox` and `crates/cli`.

mod api;
mod driver;
mod log;
mod pool;
mod runs;
mod script;
mod sessions;
mod warm;

use std::time::Duration;

use runnel_languages::{HostDirs, Language, Registry};
use runnel_protocol::{RunStatus, StreamName};

use crate::backend::fake::FakeBackend;
use crate::{Engine, EngineConfig, Limits, RunEvent, RunOutcome, RunRequest, SourceFile};

/// An interpreted language: `/fake/interp main.fk args...`.
const INTERPRETED: &str = r#"
id = "fake"
name = "Fake"
source_file = "main.fk"
[version]
command = ["/fake/interp", "--version"]
[run]
argv = ["/fake/interp", "{main}", "{args}"]
"#;

/// A compiled language: `/fake/cc` turns `main.fc` into an executable `main` that runs the
/// same script.
const COMPILED: &str = r#"
id = "fakec"
name = "Fake C"
source_file = "main.fc"
[version]
command = ["/fake/cc", "--version"]
[compile]
argv = ["/fake/cc", "-o", "main", "{compiler_args}", "{sources}"]
source_extensions = [".fc"]
[run]
argv = ["./main", "{args}"]
"#;

/// A language with sessions: `/fake/repl` speaks the session drivers' wire
/// ([`runnel_languages::wire`]); see [`driver`].
const REPL: &str = r#"
id = "fakerepl"
name = "Fake REPL"
source_file = "main.fr"
[version]
command = ["/fake/repl", "--version"]
[run]
argv = ["/fake/interp", "{main}", "{args}"]
[repl]
argv = ["/fake/repl", "-i"]
driver = "python"
driver_argv = ["/fake/repl", "{driver}"]
"#;

/// A language with a warm start: `/fake/warm` waits for its launch request on fd 3; see
/// [`warm`].
const WARM: &str = r#"
id = "fakewarm"
name = "Fake Warm"
source_file = "main.fw"
[version]
command = ["/fake/warm", "--version"]
[run]
argv = ["/fake/interp", "{main}", "{args}"]
[warm]
driver = "python"
argv = ["/fake/warm", "{driver}"]
"#;

fn language(text: &str) -> Language {
    let host = HostDirs {
        home: None,
        // Only version detection runs there, and these languages are never detected.
        scratch: std::path::PathBuf::from("/"),
    };
    Registry::parse_file("fake.toml", text, &host).expect("a valid fake language file")
}

/// An engine on the fake backend, its backend, and the directory of its compile cache.
pub(crate) struct Harness {
    pub(crate) engine: Engine,
    pub(crate) backend: FakeBackend,
    pub(crate) toolchain: script::Toolchain,
    pub(crate) warm: warm::WarmDrivers,
    _data: tempfile::TempDir,
}

impl Harness {
    /// No warm pools: every run makes its sandbox.
    pub(crate) async fn new() -> Harness {
        Harness::with(|_| {}).await
    }

    /// With the configuration changed by `configure` first.
    pub(crate) async fn with(configure: impl FnOnce(&mut EngineConfig)) -> Harness {
        Harness::build(configure, |_, _| {}).await
    }

    /// With the configuration changed by `configure`, and `setup` done on the backend and the
    /// warm drivers before the engine starts (and its pools fill).
    pub(crate) async fn build(
        configure: impl FnOnce(&mut EngineConfig),
        setup: impl FnOnce(&FakeBackend, &warm::WarmDrivers),
    ) -> Harness {
        let data = tempfile::tempdir().expect("a temp dir");
        let mut config = EngineConfig::with_data_dir(data.path());
        config.pool_size = 0;
        config.sessions.pool_size = 0;
        config.pool_languages = Vec::new();
        configure(&mut config);
        let registry =
            Registry::from_languages([INTERPRETED, COMPILED, REPL, WARM].map(language).to_vec())
                .expect("a registry");
        let backend = FakeBackend::new();
        let toolchain = script::install(&backend);
        driver::install(&backend);
        let warm = warm::install(&backend);
        setup(&backend, &warm);
        let engine = Engine::start(config, registry, backend.clone())
            .await
            .expect("the engine starts");
        Harness {
            engine,
            backend,
            toolchain,
            warm,
            _data: data,
        }
    }

    /// Run `source` in `language` with `stdin`, to its end.
    pub(crate) async fn run(&self, language: &str, source: &str) -> Finished {
        self.run_request(request(language, source)).await
    }

    pub(crate) async fn run_request(&self, request: RunRequest) -> Finished {
        let handle = self.engine.run(request).expect("the run is accepted");
        finish(handle).await
    }
}

/// A run request of `source` as the main file of `language`, default limits.
pub(crate) fn request(language: &str, source: &str) -> RunRequest {
    let file = if language == "fakec" {
        "main.fc"
    } else {
        "main.fk"
    };
    RunRequest {
        id: "r1".to_owned(),
        owner: "tester".to_owned(),
        language: language.to_owned(),
        files: vec![SourceFile {
            name: file.to_owned(),
            contents: source.as_bytes().to_vec(),
        }],
        stdin: None,
        close_stdin: true,
        args: Vec::new(),
        compiler_args: Vec::new(),
        limits: Limits::DEFAULT,
        replay_bytes: 0,
    }
}

/// What a run sent, in order, and how it ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) events: Vec<RunEvent>,
    pub(crate) outcome: RunOutcome,
}

impl Finished {
    /// Everything written on `stream` in the run step, joined.
    pub(crate) fn output(&self, stream: StreamName) -> String {
        self.stage_output(runnel_protocol::Stage::Run, stream)
    }

    /// Everything the compile step wrote on `stream`.
    pub(crate) fn compile_output(&self, stream: StreamName) -> String {
        self.stage_output(runnel_protocol::Stage::Compile, stream)
    }

    fn stage_output(&self, wanted: runnel_protocol::Stage, stream: StreamName) -> String {
        let mut text = Vec::new();
        for event in &self.events {
            if let RunEvent::Output {
                stage,
                stream: s,
                data,
            } = event
            {
                if *stage == wanted && *s == stream {
                    text.extend_from_slice(data);
                }
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    pub(crate) fn status(&self) -> RunStatus {
        self.outcome.status
    }
}

/// Read a run's events to its `Exit`, checking that `Started` is first and `Exit` last.
pub(crate) async fn finish(mut handle: crate::RunHandle) -> Finished {
    let mut events = Vec::new();
    while let Some(event) = handle.next_event().await {
        events.push(event);
    }
    assert_eq!(events.first(), Some(&RunEvent::Started), "{events:?}");
    let Some(RunEvent::Exit(outcome)) = events.last().cloned() else {
        panic!("the run ended without an exit: {events:?}");
    };
    Finished { events, outcome }
}

/// Waits, on tokio's clock, until `condition` holds; fails after an hour of it (paused time
/// makes that instant when nothing else can happen).
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// As [`finish`], for a handle whose `Started` (and maybe more) was already read.
pub(crate) async fn finish_after_start(mut handle: crate::RunHandle) -> Finished {
    let mut events = Vec::new();
    while let Some(event) = handle.next_event().await {
        events.push(event);
    }
    let Some(RunEvent::Exit(outcome)) = events.last().cloned() else {
        panic!("the run ended without an exit: {events:?}");
    };
    Finished { events, outcome }
}
