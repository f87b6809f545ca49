//! The stop signals of the long-running commands (`runnel serve`, `runnel node`).

/// The stop signals: the first SIGTERM or SIGINT starts a graceful stop (`.0`), a second one
/// stops at once (`.1`). With `stop_on_stdin_close`, stdin closing (the parent is gone) stops
/// at once too.
pub(crate) fn stop_signals(
    stop_on_stdin_close: bool,
) -> std::io::Result<(
    impl std::future::Future<Output = ()>,
    impl std::future::Future<Output = ()>,
)> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    // 0: serving, 1: stopping gracefully, 2: stopping at once.
    let (stage, watch) = tokio::sync::watch::channel(0_u8);
    tokio::spawn(async move {
        let mut stdin_closed = std::pin::pin!(stdin_closed(stop_on_stdin_close));
        while *stage.borrow() < 2 {
            tokio::select! {
                _ = interrupt.recv() => stage.send_modify(|stage| *stage += 1),
                _ = terminate.recv() => stage.send_modify(|stage| *stage += 1),
                () = &mut stdin_closed => {
                    stage.send_replace(2);
                }
            }
            if *stage.borrow() == 1 {
                tracing::info!(
                    "stopping: runs in flight may finish (signal again to stop at once)"
                );
            }
        }
        // Keep the sender, so that the receivers never see the channel closed.
        std::future::pending::<()>().await;
    });
    let at = |level: u8| {
        let mut watch = watch.clone();
        async move {
            let _ = watch.wait_for(|stage| *stage >= level).await;
        }
    };
    Ok((at(1), at(2)))
}

/// Resolves when stdin closes, if `enabled` (else never).
async fn stdin_closed(enabled: bool) {
    if !enabled {
        return std::future::pending::<()>().await;
    }
    // A plain thread, not tokio's stdin: a blocking read on tokio's blocking pool would keep
    // the runtime from shutting down on SIGTERM while stdin stays open.
    let (closed, stdin_gone) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::Builder::new()
        .name("stdin-watch".to_owned())
        .spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin();
            let mut buffer = [0u8; 256];
            while matches!(stdin.read(&mut buffer), Ok(n) if n > 0) {}
            let _ = closed.send(());
        });
    if let Err(error) = watcher {
        tracing::warn!(%error, "cannot watch stdin");
        return std::future::pending::<()>().await;
    }
    let _ = stdin_gone.await;
}
