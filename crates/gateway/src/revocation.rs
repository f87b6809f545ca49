//! A revoked key stops working everywhere within a second, not only for new requests: the
//! [`watcher`] polls the store's data version every `POLL` (one pragma; keys are revoked by
//! `runnel keys revoke`, another process writing the same SQLite file), and when the set of
//! revoked keys grows it closes those keys' sessions, kills their streamed runs, and tells
//! every open socket, which closes itself if it is one of theirs. Here: what the sockets
//! watch ([`Revoked`]) and its sending side ([`Revocations`]), which the state holds.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::watch;

pub(crate) mod watcher;

/// The keys revoked so far, for sockets to watch.
#[derive(Clone)]
pub(crate) struct Revoked(watch::Receiver<Arc<HashSet<String>>>);

impl Revoked {
    /// Resolves once `key_id` is revoked (never for `None`, nor when the watcher is gone).
    pub(crate) async fn of(&mut self, key_id: Option<&str>) {
        let Some(key_id) = key_id else {
            return std::future::pending().await;
        };
        loop {
            if self.0.borrow_and_update().contains(key_id) {
                return;
            }
            if self.0.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

/// The sending side, held by the state.
pub(crate) struct Revocations {
    sender: watch::Sender<Arc<HashSet<String>>>,
}

impl Default for Revocations {
    fn default() -> Revocations {
        Revocations {
            sender: watch::Sender::new(Arc::new(HashSet::new())),
        }
    }
}

impl Revocations {
    /// A receiver for one socket.
    pub(crate) fn subscribe(&self) -> Revoked {
        Revoked(self.sender.subscribe())
    }
}
