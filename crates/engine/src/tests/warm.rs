//! The fake warm-start driver, `/fake/warm`: started ahead of a run in a pooled sandbox, it
//! blocks on its launch pipe (fd 3) as the real drivers do (`runnel_languages` `warm.rs`),
//! reads one JSON line `{"argv":[...],"main":"main.fw"}`, then runs that file's script with
//! those arguments. It counts its starts and launches, and can be told to die before its
//! launch (as an interpreter killed while it waits in the pool would).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;

use super::script;
use crate::backend::fake::{Exit, FakeBackend, Io};

/// What the fake warm drivers did.
#[derive(Debug, Default, Clone)]
pub(crate) struct WarmDrivers {
    started: Arc<AtomicUsize>,
    launched: Arc<AtomicUsize>,
    die: Arc<AtomicUsize>,
}

impl WarmDrivers {
    /// Drivers started (each in its own pooled sandbox).
    pub(crate) fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Drivers that got their launch request and ran a program.
    pub(crate) fn launched(&self) -> usize {
        self.launched.load(Ordering::SeqCst)
    }

    /// The next `count` drivers to start die at once, before any launch.
    pub(crate) fn die_next(&self, count: usize) {
        self.die.store(count, Ordering::SeqCst);
    }
}

/// Registers `/fake/warm` on `backend`.
pub(crate) fn install(backend: &FakeBackend) -> WarmDrivers {
    let drivers = WarmDrivers::default();
    let counts = drivers.clone();
    backend.program("/fake/warm", move |io: Io| {
        let counts = counts.clone();
        async move { drive(io, &counts).await }
    });
    drivers
}

async fn drive(mut io: Io, counts: &WarmDrivers) -> Exit {
    if io.command.argv.get(1).map(String::as_str) == Some("--version") {
        return Exit::code(0);
    }
    counts.started.fetch_add(1, Ordering::SeqCst);
    let dying = counts
        .die
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if dying {
        return Exit::signal(9);
    }
    let mut launch = io.extra_reader(0);
    let mut line = Vec::new();
    // The engine closes the pipe after the one line.
    if launch.read_to_end(&mut line).await.is_err() || line.is_empty() {
        return Exit::code(1);
    }
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&line) else {
        return Exit::code(2);
    };
    let main = request["main"].as_str().unwrap_or_default().to_owned();
    let args: Vec<String> = request["argv"]
        .as_array()
        .map(|args| {
            args.iter()
                .filter_map(|arg| arg.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    counts.launched.fetch_add(1, Ordering::SeqCst);
    let Some(file) = io.files.get(&main) else {
        return Exit::code(3);
    };
    script::run(io, &String::from_utf8_lossy(&file.contents), &args).await
}
