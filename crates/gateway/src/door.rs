//! The front door: how many connections may be open, from where, and for whom.
//!
//! Every accepted TCP connection gets a [`Ticket`] before any byte is read. A ticket counts
//! towards three caps until the connection (and every request and WebSocket it carried) is
//! gone:
//! - the server's: at most `max_connections` open at once, set below the process's file
//!   descriptor limit so that `accept` itself never fails for want of one;
//! - its address's, while it has not authenticated: at most `max_per_address` unauthenticated
//!   connections from one IPv4 address or one IPv6 /64 (the block one host is usually given),
//!   so that one client cannot hold the door shut with half-sent requests;
//! - its key's, once it has: the first key a connection authenticates with is charged for it,
//!   up to the key's `max_connections`.
//!
//! Connections over the server's or the address's cap get a one-line HTTP error and are closed
//! at once, without reading their request.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use runnel_protocol::http::HttpError;
use runnel_protocol::ErrorCode;

use crate::error::ApiError;

/// Default cap on open connections (lowered at start-up to fit the file descriptor limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default cap on unauthenticated connections from one address.
pub const DEFAULT_MAX_PER_ADDRESS: usize = 128;

/// The caps of the front door.
#[derive(Debug, Clone, Copy)]
pub struct DoorConfig {
    /// Open connections at once, authenticated or not.
    pub max_connections: usize,
    /// Unauthenticated connections at once from one IPv4 address or IPv6 /64.
    pub max_per_address: usize,
}

impl Default for DoorConfig {
    fn default() -> Self {
        DoorConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_address: DEFAULT_MAX_PER_ADDRESS,
        }
    }
}

/// The counts behind the caps, shared by the accept loop and every ticket.
#[derive(Debug)]
pub(crate) struct Door {
    config: DoorConfig,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    open: usize,
    /// Unauthenticated connections by address block.
    by_address: HashMap<IpAddr, usize>,
    /// Authenticated connections by key id.
    by_key: HashMap<String, u32>,
}

/// Why a connection was turned away at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The server has `max_connections` open.
    Full,
    /// The address has `max_per_address` unauthenticated connections open.
    Address,
}

impl Refused {
    /// The whole HTTP response written to a refused connection before it is closed.
    pub(crate) fn response(self, config: &DoorConfig) -> Vec<u8> {
        let (status, error, message) = match self {
            Refused::Full => (
                "503 Service Unavailable",
                ErrorCode::Unavailable,
                format!(
                    "the server has its maximum of {} connections open; retry later",
                    config.max_connections
                ),
            ),
            Refused::Address => (
                "429 Too Many Requests",
                ErrorCode::RateLimited,
                format!(
                    "your address has {} connections open that have not authenticated; \
                     authenticate or close some",
                    config.max_per_address
                ),
            ),
        };
        let body = serde_json::to_string(&HttpError { error, message }).unwrap_or_default();
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             retry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

impl Door {
    pub(crate) fn new(config: DoorConfig) -> Arc<Door> {
        Arc::new(Door {
            config,
            counts: Mutex::new(Counts::default()),
        })
    }

    pub(crate) fn config(&self) -> &DoorConfig {
        &self.config
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent whatever panicked while holding the lock: every update is
        // one arithmetic step.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admit a connection from `address`, or say why not.
    pub(crate) fn admit(self: &Arc<Door>, address: IpAddr) -> Result<Arc<Ticket>, Refused> {
        let block = address_block(address);
        let mut counts = self.counts();
        if counts.open >= self.config.max_connections {
            return Err(Refused::Full);
        }
        let from_address = counts.by_address.entry(block).or_insert(0);
        if *from_address >= self.config.max_per_address {
            return Err(Refused::Address);
        }
        *from_address += 1;
        counts.open += 1;
        Ok(Arc::new(Ticket {
            door: Arc::clone(self),
            block,
            key: Mutex::new(None),
        }))
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.counts().open
    }
}

/// One open connection's place at the door; released when the last clone is dropped (the
/// connection's task, its requests and any WebSocket it was upgraded to each hold one).
#[derive(Debug)]
pub(crate) struct Ticket {
    door: Arc<Door>,
    block: IpAddr,
    /// The key charged for this connection, once it authenticated.
    key: Mutex<Option<String>>,
}

impl Ticket {
    /// Charge the connection to `key_id`, whose maximum is `max_connections`, the first time
    /// it authenticates. Later keys on the same connection are not charged again.
    pub(crate) fn charge(&self, key_id: &str, max_connections: u32) -> Result<(), ApiError> {
        let mut key = self.key.lock().unwrap_or_else(PoisonError::into_inner);
        if key.is_some() {
            return Ok(());
        }
        let mut counts = self.door.counts();
        let of_key = counts.by_key.get(key_id).copied().unwrap_or(0);
        if of_key >= max_connections {
            return Err(ApiError::new(
                ErrorCode::ConcurrencyLimit,
                format!(
                    "the key has its maximum of {max_connections} connections open; close one \
                     first"
                ),
            ));
        }
        counts.by_key.insert(key_id.to_owned(), of_key + 1);
        release_address(&mut counts, self.block);
        *key = Some(key_id.to_owned());
        Ok(())
    }
}

/// The ticket of the connection a request came on (it rides in the request's extensions), for
/// a handler whose WebSocket holds the connection's place while it is open. Empty only when
/// the router is driven without the accept loop, as in tests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Place(pub(crate) Option<Arc<Ticket>>);

impl Place {
    /// The ticket of the request of `parts`.
    pub(crate) fn of(parts: &Parts) -> Place {
        Place(parts.extensions.get::<Arc<Ticket>>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Place {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Place::of(parts))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let key = self
            .key
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut counts = self.door.counts();
        counts.open = counts.open.saturating_sub(1);
        match key {
            Some(key) => {
                if let Some(of_key) = counts.by_key.get_mut(&key) {
                    *of_key = of_key.saturating_sub(1);
                    if *of_key == 0 {
                        counts.by_key.remove(&key);
                    }
                }
            }
            None => release_address(&mut counts, self.block),
        }
    }
}

fn release_address(counts: &mut Counts, block: IpAddr) {
    if let Some(from_address) = counts.by_address.get_mut(&block) {
        *from_address = from_address.saturating_sub(1);
        if *from_address == 0 {
            counts.by_address.remove(&block);
        }
    }
}

/// The block an address is counted in: the IPv4 address itself (an IPv4-mapped IPv6 address
/// counts as its IPv4 address), or the /64 of an IPv6 address.
fn address_block(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn door(max_connections: usize, max_per_address: usize) -> Arc<Door> {
        Door::new(DoorConfig {
            max_connections,
            max_per_address,
        })
    }

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn unauthenticated_connections_are_capped_per_address_until_they_authenticate() {
        let door = door(100, 2);
        let first = door.admit(A).expect("first");
        let _second = door.admit(A).expect("second");
        assert_eq!(door.admit(A).err(), Some(Refused::Address));
        let _other = door.admit(B).expect("another address");
        first.charge("key_a", 10).expect("charge");
        // Authenticated, the first no longer counts against its address.
        let third = door.admit(A).expect("room again");
        drop(third);
        drop(first);
        assert_eq!(door.open(), 2);
    }

    #[test]
    fn the_server_cap_counts_every_connection() {
        let door = door(2, 10);
        let first = door.admit(A).expect("first");
        let _second = door.admit(B).expect("second");
        assert_eq!(door.admit(A).err(), Some(Refused::Full));
        drop(first);
        door.admit(A).expect("room after a close");
    }

    #[test]
    fn a_key_is_charged_once_per_connection_up_to_its_maximum() {
        let door = door(100, 100);
        let first = door.admit(A).expect("first");
        let second = door.admit(A).expect("second");
        first.charge("key_a", 1).expect("first charge");
        first.charge("key_a", 1).expect("the same connection again");
        first
            .charge("key_b", 1)
            .expect("another key on a charged connection");
        let refused = second
            .charge("key_a", 1)
            .expect_err("over the key's maximum");
        assert_eq!(refused.code, ErrorCode::ConcurrencyLimit);
        second.charge("key_b", 1).expect("another key has room");
        drop(first);
        let third = door.admit(A).expect("third");
        third
            .charge("key_a", 1)
            .expect("room after the first closed");
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        let door = door(100, 1);
        let one: IpAddr = "2001:db8:1:2::1".parse::<Ipv6Addr>().expect("v6").into();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9"
            .parse::<Ipv6Addr>()
            .expect("v6")
            .into();
        let other_64: IpAddr = "2001:db8:1:3::1".parse::<Ipv6Addr>().expect("v6").into();
        let _one = door.admit(one).expect("one");
        assert_eq!(door.admit(same_64).err(), Some(Refused::Address));
        let _other = door.admit(other_64).expect("another /64");
        let _a = door.admit(A).expect("v4");
        let mapped: IpAddr = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().into();
        assert_eq!(door.admit(mapped).err(), Some(Refused::Address));
    }

    #[test]
    fn refusals_are_complete_http_responses_with_a_named_error() {
        let config = DoorConfig::default();
        let text = String::from_utf8(Refused::Address.response(&config)).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 429 "), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let error: HttpError = serde_json::from_str(body).expect("json body");
        assert_eq!(error.error, ErrorCode::RateLimited);
        let text = String::from_utf8(Refused::Full.response(&config)).expect("utf-8");
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    }
}
