//! [`AppState`]: what every handler shares (engine, store, configuration, metrics, quotas).

use std::sync::Arc;
use std::time::Instant;

use runnel_engine::Engine;
use runnel_store::Store;
use tokio::sync::watch;

use crate::door::Door;
use crate::metrics::Metrics;
use crate::quota::QuotaTracker;
use crate::revocation::Revocations;
use crate::ws::resumable::RunRegistry;
use crate::GatewayConfig;

/// Shared state of the gateway. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    store: Store,
    config: GatewayConfig,
    metrics: Metrics,
    quotas: QuotaTracker,
    runs: RunRegistry,
    revocations: Revocations,
    door: Arc<Door>,
    started: Instant,
    /// Flips to `true` once when the server begins shutting down.
    shutdown: watch::Sender<bool>,
}

impl AppState {
    /// State for a gateway over `engine` and `store`.
    pub fn new(engine: Engine, store: Store, config: GatewayConfig) -> AppState {
        let door = Door::new(config.door);
        AppState {
            inner: Arc::new(Shared {
                engine,
                store,
                config,
                metrics: Metrics::default(),
                quotas: QuotaTracker::new(),
                runs: RunRegistry::default(),
                revocations: Revocations::default(),
                door,
                started: Instant::now(),
                shutdown: watch::Sender::new(false),
            }),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// The gateway's own counters (connections, frames, HTTP requests).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Per-key admission.
    pub(crate) fn quotas(&self) -> &QuotaTracker {
        &self.inner.quotas
    }

    /// Streamed one-shot runs kept for `resume`.
    pub(crate) fn runs(&self) -> &RunRegistry {
        &self.inner.runs
    }

    /// The keys revoked while the server runs.
    pub(crate) fn revocations(&self) -> &Revocations {
        &self.inner.revocations
    }

    /// The front door's counts of open connections.
    pub(crate) fn door(&self) -> &Arc<Door> {
        &self.inner.door
    }

    /// When the gateway state was made.
    pub(crate) fn started(&self) -> Instant {
        self.inner.started
    }

    /// Tell open WebSocket connections that the server is going away: each answers
    /// `unavailable` and closes with 1001. `serve` calls this when its shutdown future resolves.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// A receiver that sees `true` once the server is shutting down.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }
}
