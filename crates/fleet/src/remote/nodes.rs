//! The nodes a gateway knows of, from their heartbeats, and where new work goes.
//!
//! # Placement
//! A run or session goes to a node that is alive (heard from within the loss timeout), not
//! draining and not `down`. Among those, nodes with a ready warm sandbox of the language come
//! first; then the node with the most free run slots for its capacity (`capacity - running -
//! placed`, where `placed` counts what this gateway sent it since its last heartbeat, so that
//! a burst between two heartbeats spreads instead of piling on one node); ties are broken at
//! random. The caller tries the candidates in that order and moves on when one refuses
//! `unavailable` (it began draining, say).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::wire::NodeStatus;

/// A node as one gateway knows it.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub(crate) status: NodeStatus,
    pub(crate) seen: Instant,
    /// Runs and sessions placed on it since its last heartbeat.
    pub(crate) placed: u64,
}

/// What a heartbeat told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// A node not known before.
    Joined,
    /// A node known, as it was.
    Again,
    /// A node known, as a new incarnation: the one it was (this one) is lost.
    Restarted(u64),
}

/// The nodes, by id.
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    pub(crate) known: HashMap<String, Known>,
}

impl Nodes {
    /// A heartbeat (or census answer) from a node.
    pub(crate) fn heard(&mut self, status: NodeStatus, now: Instant) -> Heard {
        let heard = match self.known.get(&status.id) {
            None => Heard::Joined,
            Some(known) if known.status.incarnation != status.incarnation => {
                Heard::Restarted(known.status.incarnation)
            }
            Some(_) => Heard::Again,
        };
        self.known.insert(
            status.id.clone(),
            Known {
                status,
                seen: now,
                placed: 0,
            },
        );
        heard
    }

    /// Forget the nodes not heard from for `missed` of their heartbeats; their ids.
    pub(crate) fn reap(&mut self, now: Instant, missed: u32) -> Vec<String> {
        let lost: Vec<String> = self
            .known
            .iter()
            .filter(|(_, known)| {
                let heartbeat = Duration::from_millis(known.status.heartbeat_ms.max(1));
                now.duration_since(known.seen) > heartbeat * missed
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &lost {
            self.known.remove(id);
        }
        lost
    }

    /// The nodes that may take new work of `language`, best first (see the module's doc).
    pub(crate) fn candidates(&self, language: Option<&str>) -> Vec<String> {
        let mut ranked: Vec<(bool, i64, u64, &str)> = self
            .known
            .values()
            .filter(|known| !known.status.draining && known.status.health != "down")
            .map(|known| {
                let status = &known.status;
                let warm = language
                    .and_then(|language| status.warm.get(language))
                    .is_some_and(|ready| *ready > known.placed);
                let busy = status.running.saturating_add(known.placed);
                let free = i64::try_from(status.capacity).unwrap_or(i64::MAX)
                    - i64::try_from(busy).unwrap_or(i64::MAX);
                // Free slots per 1000 of capacity: a node twice as large takes twice as much.
                let share =
                    free.saturating_mul(1000) / i64::try_from(status.capacity.max(1)).unwrap_or(1);
                (warm, share, rand::random::<u64>(), status.id.as_str())
            })
            .collect();
        ranked.sort_by_key(|rank| std::cmp::Reverse((rank.0, rank.1, rank.2)));
        ranked
            .into_iter()
            .map(|(_, _, _, id)| id.to_owned())
            .collect()
    }

    /// Work was sent to `node`.
    pub(crate) fn placed(&mut self, node: &str) {
        if let Some(known) = self.known.get_mut(node) {
            known.placed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn status(id: &str, running: u64, capacity: u64, warm: &[(&str, u64)]) -> NodeStatus {
        NodeStatus {
            id: id.to_owned(),
            version: "0".to_owned(),
            incarnation: 1,
            running,
            capacity,
            sessions: 0,
            warm: warm
                .iter()
                .map(|(language, ready)| ((*language).to_owned(), *ready))
                .collect::<BTreeMap<_, _>>(),
            draining: false,
            health: "ready".to_owned(),
            heartbeat_ms: 1000,
        }
    }

    #[test]
    fn a_warm_sandbox_comes_first_then_free_slots_and_draining_nodes_get_nothing() {
        let now = Instant::now();
        let mut nodes = Nodes::default();
        nodes.heard(status("busy-warm", 7, 8, &[("python", 1)]), now);
        nodes.heard(status("idle-cold", 0, 8, &[]), now);
        nodes.heard(status("half", 4, 8, &[]), now);
        let mut draining = status("draining", 0, 8, &[("python", 4)]);
        draining.draining = true;
        nodes.heard(draining, now);
        assert_eq!(
            nodes.candidates(Some("python")),
            ["busy-warm", "idle-cold", "half"]
        );
        assert_eq!(
            nodes.candidates(Some("c")),
            ["idle-cold", "half", "busy-warm"]
        );
        // The warm sandbox is taken by the first placement until the next heartbeat.
        nodes.placed("busy-warm");
        assert_eq!(nodes.candidates(Some("python"))[0], "idle-cold");
    }

    #[test]
    fn placements_between_heartbeats_spread_and_silent_nodes_are_reaped() {
        let now = Instant::now();
        let mut nodes = Nodes::default();
        nodes.heard(status("a", 0, 4, &[]), now);
        nodes.heard(status("b", 0, 4, &[]), now);
        let mut counts: HashMap<String, u32> = HashMap::new();
        for _ in 0..8 {
            let first = nodes.candidates(None).remove(0);
            nodes.placed(&first);
            *counts.entry(first).or_default() += 1;
        }
        assert_eq!(counts.get("a"), Some(&4), "{counts:?}");
        assert_eq!(counts.get("b"), Some(&4), "{counts:?}");

        assert_eq!(
            nodes.heard(status("a", 0, 4, &[]), now + Duration::from_secs(3)),
            Heard::Again
        );
        let mut restarted = status("a", 0, 4, &[]);
        restarted.incarnation = 2;
        assert_eq!(
            nodes.heard(restarted, now + Duration::from_secs(3)),
            Heard::Restarted(1)
        );
        let lost = nodes.reap(now + Duration::from_millis(3500), 3);
        assert_eq!(lost, ["b"]);
        assert_eq!(nodes.candidates(None), ["a"]);
    }
}
