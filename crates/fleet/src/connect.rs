//! Connecting to the bus: one NATS connection per process, which reconnects by itself (to any
//! server of the cluster it learnt of) and says so in the log.

use std::path::PathBuf;
use std::time::Duration;

use crate::subjects::Subjects;

/// How to reach the bus.
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// NATS server URLs, comma-separated (`nats://host:4222,nats://other:4222`).
    pub url: String,
    /// A NATS credentials file (JWT and nkey seed), for an operator-mode cluster.
    pub credentials: Option<PathBuf>,
    /// A file holding an nkey seed (`SU...`), for a cluster that lists its users' nkeys.
    pub nkey_seed: Option<PathBuf>,
    /// The subjects' prefix.
    pub subjects: Subjects,
    /// The connection's name, as the NATS server's monitoring shows it.
    pub name: String,
}

/// Why the bus could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A credentials or seed file could not be read.
    #[error("read {path}: {error}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A URL is not a NATS server's address.
    #[error("`{url}` is not a NATS server URL: {error}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        error: std::io::Error,
    },
    /// The NATS server refused or could not be reached.
    #[error("connect to NATS at {url}: {error}")]
    Nats {
        /// The URLs tried.
        url: String,
        /// Why.
        error: async_nats::ConnectError,
    },
}

/// How long a request waits for its answer unless it says otherwise.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect. The first connection must succeed (a process that cannot reach its bus at start
/// says so and exits, for its supervisor to start it again); after it, the connection comes
/// back by itself, and each disconnect and reconnect is logged.
pub async fn connect(options: &BusOptions) -> Result<async_nats::Client, ConnectError> {
    let mut connect = async_nats::ConnectOptions::new()
        .name(&options.name)
        .request_timeout(Some(REQUEST_TIMEOUT))
        .connection_timeout(Duration::from_secs(5))
        .ping_interval(Duration::from_secs(5))
        // Messages to a subscriber that does not keep up wait here, then are dropped (and a
        // stream notices the gap in its `seq`s and reopens).
        .subscription_capacity(4096)
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Connected => tracing::info!("bus: connected to NATS"),
                async_nats::Event::Disconnected => {
                    tracing::warn!("bus: disconnected from NATS; reconnecting")
                }
                other => tracing::warn!(event = %other, "bus"),
            }
        });
    if let Some(path) = &options.credentials {
        connect =
            connect
                .credentials_file(path)
                .await
                .map_err(|error| ConnectError::Credentials {
                    path: path.clone(),
                    error,
                })?;
    }
    if let Some(path) = &options.nkey_seed {
        let seed = std::fs::read_to_string(path).map_err(|error| ConnectError::Credentials {
            path: path.clone(),
            error,
        })?;
        connect = connect.nkey(seed.trim().to_owned());
    }
    let addresses = options
        .url
        .split(',')
        .map(str::trim)
        .map(|url| {
            url.parse::<async_nats::ServerAddr>()
                .map_err(|error| ConnectError::Url {
                    url: url.to_owned(),
                    error,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    connect
        .connect(addresses)
        .await
        .map_err(|error| ConnectError::Nats {
            url: options.url.clone(),
            error,
        })
}
