//! What the warm pool of one-shot runs holds: a sandbox made with the default limits and,
//! where the language has a warm-start driver, its interpreter (or compiler) already started
//! and blocked on its launch pipe. Each one serves exactly one run and is destroyed after it.

use std::sync::Arc;
use std::time::Duration;

use runnel_languages::Language;
use runnel_sandbox::{CommandSpec, ExtraEnd, ExtraPipe, FileEntry, StdioMode};

use super::Pooled;
use crate::backend::{BoxFuture, Process, Sandbox};
use crate::context::Context;
use crate::error::EngineError;

/// A sandbox ready for one run.
pub(crate) struct WarmSandbox {
    pub(crate) sandbox: Sandbox,
    /// The interpreter, already started and blocked on its launch pipe.
    pub(crate) warm: Option<WarmProcess>,
    /// Memory limit the sandbox (and the warm interpreter's hints) were made for.
    pub(crate) memory_bytes: u64,
}

/// A started driver waiting for its launch request.
pub(crate) struct WarmProcess {
    pub(crate) process: Process,
    pub(crate) launch: tokio::net::unix::pipe::Sender,
}

impl Pooled for WarmSandbox {
    const KIND: &'static str = "warm pool";

    fn spawner_lost(&self) -> bool {
        self.sandbox.spawner_lost()
    }

    fn discard(self) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.sandbox.destroy().await;
        })
    }

    fn prepare(
        context: Arc<Context>,
        language: Language,
    ) -> BoxFuture<'static, Result<Self, EngineError>> {
        Box::pin(async move { prepare(&context, &language).await })
    }

    /// A warm compiler takes seconds to warm up: it is prepared aside, so that the other
    /// languages' refills do not wait for it.
    fn prepared_aside(language: &Language) -> bool {
        language.compiled && language.warm_start().is_some()
    }
}

/// Create a sandbox for `language` and start its warm driver. A compiled language's driver
/// is its compiler, so its sandbox starts with the compile step's limits.
async fn prepare(engine: &Arc<Context>, language: &Language) -> Result<WarmSandbox, EngineError> {
    let limits = engine.config.default_limits.at_least_floors_of(language);
    let (memory_bytes, pids) = if language.compiled && language.warm_start().is_some() {
        let compile = language.compile_limits();
        (compile.memory_bytes, compile.pids)
    } else {
        (limits.memory_bytes, limits.pids)
    };
    let spec = engine.sandbox_spec(language, memory_bytes, pids);
    let sandbox = engine.backend.create(&spec).await?;
    let warm = match language.warm_start() {
        Some(warm_start) => match start_driver(engine, language, &sandbox, warm_start).await {
            Ok(process) => Some(process),
            Err(error) => {
                let _ = sandbox.destroy().await;
                return Err(error);
            }
        },
        None => None,
    };
    Ok(WarmSandbox {
        sandbox,
        warm,
        memory_bytes,
    })
}

async fn start_driver(
    engine: &Context,
    language: &Language,
    sandbox: &Sandbox,
    warm_start: runnel_languages::WarmStart,
) -> Result<WarmProcess, EngineError> {
    let limits = engine.config.default_limits.at_least_floors_of(language);
    let (env, cpu_time) = if language.compiled {
        let compile = language.compile_limits();
        (
            language.compile_environment(compile.memory_bytes),
            compile.wall,
        )
    } else {
        (language.run_environment(limits.memory_bytes), limits.cpu)
    };
    sandbox
        .write_files(&[FileEntry {
            path: warm_start.driver_file.clone(),
            contents: warm_start.driver_source.as_bytes().to_vec(),
            executable: false,
        }])
        .await?;
    let command = CommandSpec {
        argv: warm_start.argv.clone(),
        env,
        cwd: crate::backend::WORK_DIR.to_owned(),
        stdio: StdioMode::Pipes,
        cpu_time: Some(cpu_time),
        file_size: engine.config.work_bytes,
        extra_pipes: if language.compiled {
            vec![ExtraPipe::Read, ExtraPipe::Write]
        } else {
            vec![ExtraPipe::Read]
        },
    };
    let mut process = sandbox.start(&command).await?;
    if language.compiled {
        // A warm compiler spends seconds warming up: it is ready, and so counted in the pool,
        // only once it says so on fd 4.
        let ready = match process.extra.pop() {
            Some(ExtraEnd::Receiver(receiver)) => receiver,
            _ => return Err(missing_pipe("readiness")),
        };
        wait_until_ready(ready, language.compile_limits().wall).await?;
    }
    let launch = match process.extra.pop() {
        Some(ExtraEnd::Sender(sender)) => sender,
        _ => return Err(missing_pipe("launch")),
    };
    Ok(WarmProcess { process, launch })
}

fn missing_pipe(which: &str) -> EngineError {
    EngineError::Unavailable(format!("warm driver started without its {which} pipe"))
}

/// Wait for the driver's readiness line on `ready` (closed right after by the driver).
async fn wait_until_ready(
    mut ready: tokio::net::unix::pipe::Receiver,
    within: Duration,
) -> Result<(), EngineError> {
    use tokio::io::AsyncReadExt;
    let mut byte = [0_u8; 1];
    match tokio::time::timeout(within, ready.read(&mut byte)).await {
        Ok(Ok(1)) => Ok(()),
        Ok(_) => Err(EngineError::Unavailable(
            "the warm compiler exited while warming up".to_owned(),
        )),
        Err(_) => Err(EngineError::Unavailable(format!(
            "the warm compiler was not ready within {} s",
            within.as_secs()
        ))),
    }
}
