//! [`ClientOptions`]: how a [`Client`](crate::Client) notices a dead connection and how it
//! reconnects, with every default in one place.

use std::time::Duration;

/// Settings of a [`Client`](crate::Client).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientOptions {
    /// Reconnect after the connection is lost, resuming every streamed run in flight; `None`
    /// ends the runs in flight with an `unavailable` error instead.
    pub reconnect: Option<Backoff>,
    /// Ping while connected and treat silence as a dead connection; `None` for no heartbeat.
    pub heartbeat: Option<Heartbeat>,
}

impl ClientOptions {
    /// Reconnect with [`Backoff::DEFAULT`] and ping with [`Heartbeat::DEFAULT`].
    pub const DEFAULT: ClientOptions = ClientOptions {
        reconnect: Some(Backoff::DEFAULT),
        heartbeat: Some(Heartbeat::DEFAULT),
    };
    /// One socket, no heartbeat: what a benchmark wants.
    pub const SINGLE_SOCKET: ClientOptions = ClientOptions {
        reconnect: None,
        heartbeat: None,
    };
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions::DEFAULT
    }
}

/// Exponential backoff with jitter between reconnection attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// Attempts before giving up.
    pub max_retries: u32,
    /// The delay before the first attempt.
    pub min_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Each delay is this many times the one before.
    pub factor: f64,
    /// A delay varies by up to this fraction either way, so that clients cut off together do
    /// not all come back at the same instant.
    pub jitter: f64,
}

impl Backoff {
    /// 10 attempts, from 100 ms doubling up to 5 s, ±30 %.
    pub const DEFAULT: Backoff = Backoff {
        max_retries: 10,
        min_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(5),
        factor: 2.0,
        jitter: 0.3,
    };

    /// The delay before attempt `attempt` (1 for the first), for `random` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let base = (self.min_delay.as_secs_f64() * self.factor.max(1.0).powi(exponent))
            .min(self.max_delay.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let spread = 1.0 - jitter + 2.0 * jitter * random.clamp(0.0, 1.0);
        Duration::from_secs_f64((base * spread).clamp(0.0, self.max_delay.as_secs_f64()))
    }
}

/// Pings that keep watch on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// How often to ping.
    pub interval: Duration,
    /// A connection from which nothing arrived for this long is dead.
    pub timeout: Duration,
}

impl Heartbeat {
    /// A ping every 5 s; dead after 15 s of silence.
    pub const DEFAULT: Heartbeat = Heartbeat {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(15),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let backoff = Backoff {
            jitter: 0.0,
            ..Backoff::DEFAULT
        };
        let delays: Vec<u128> = (1..=8)
            .map(|attempt| backoff.delay(attempt, 0.5).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn jitter_spreads_a_delay_both_ways_within_its_fraction() {
        let backoff = Backoff::DEFAULT;
        assert_eq!(backoff.delay(2, 0.0), Duration::from_millis(140));
        assert_eq!(backoff.delay(2, 0.5), Duration::from_millis(200));
        assert!(backoff.delay(2, 0.999_999) > Duration::from_millis(259));
        assert!(backoff.delay(9, 0.999) <= backoff.max_delay);
    }
}
