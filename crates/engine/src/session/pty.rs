//! Terminals in a session's sandbox: `shell` (an interactive bash) and the language's own
//! interactive REPL (`python` runs `python3 -i`), on a pty with `TERM=xterm-256color`.

use runnel_languages::Language;
use runnel_sandbox::{CommandSpec, PtyMaster, StdioMode};

use crate::backend::Process;

use super::{closed, SessionHandle};
use crate::backend::WORK_DIR;
use crate::error::EngineError;
use crate::run::Signal;

/// The shell service.
const SHELL: &str = "shell";

/// The service names of a language's sessions.
pub(crate) fn services(language: &Language) -> Vec<String> {
    let mut services = vec![SHELL.to_owned()];
    if language.repl.is_some() {
        services.push(language.id.clone());
    }
    services
}

/// A program running on a terminal in the session. Dropping it kills the program.
#[derive(Debug)]
pub struct PtyProcess {
    /// The terminal: read output, write input, resize.
    pub master: PtyMaster,
    process: Process,
}

impl PtyProcess {
    /// Wait for the program to exit; its exit code (or 128 + signal).
    pub async fn wait(&mut self) -> i32 {
        match self.process.wait(None).await {
            Ok(outcome) => outcome
                .exit_code
                .or(outcome.signal.map(|signal| 128 + signal))
                .unwrap_or(-1),
            Err(_) => -1,
        }
    }
}

impl Drop for PtyProcess {
    fn drop(&mut self) {
        let _ = self.process.signal(Signal::Hangup.number());
        let _ = self.process.signal(Signal::Kill.number());
    }
}

impl SessionHandle {
    /// Start `service` on a terminal of `rows` x `cols`.
    pub async fn open_pty(
        &self,
        service: &str,
        rows: u16,
        cols: u16,
    ) -> Result<PtyProcess, EngineError> {
        self.touch();
        let language = &self.session.language;
        let argv = if service == SHELL {
            vec!["/bin/bash".to_owned(), "-i".to_owned()]
        } else if service == language.id {
            match &language.repl {
                Some(repl) => repl.argv.clone(),
                None => return Err(unknown_service(service, language)),
            }
        } else {
            return Err(unknown_service(service, language));
        };
        let mut env: Vec<(String, String)> = language
            .run_environment(self.session.limits.memory_bytes)
            .into_iter()
            .filter(|(name, _)| name != "TERM" && name != "LD_PRELOAD")
            .collect();
        env.push(("TERM".to_owned(), "xterm-256color".to_owned()));
        env.push(("PS1".to_owned(), "\\w$ ".to_owned()));
        let command = CommandSpec {
            argv,
            env,
            cwd: WORK_DIR.to_owned(),
            stdio: StdioMode::Pty {
                rows: rows.max(1),
                cols: cols.max(1),
            },
            cpu_time: None,
            file_size: self.session.engine.config.work_bytes,
            extra_pipes: Vec::new(),
        };
        let sandbox = self.session.sandbox.read().await;
        let mut process = sandbox.as_ref().ok_or_else(closed)?.start(&command).await?;
        let master = process.pty.take().ok_or_else(|| {
            EngineError::Unavailable("the terminal started without its pty".to_owned())
        })?;
        Ok(PtyProcess { master, process })
    }
}

fn unknown_service(service: &str, language: &Language) -> EngineError {
    EngineError::NotFound(format!(
        "no service `{service}` in this session (services: {})",
        services(language).join(", ")
    ))
}
