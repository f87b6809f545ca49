//! The subjects of the bus. Every subject starts with one prefix (`runnel` unless configured),
//! so that several fleets, or a fleet and other services, can share a NATS cluster.
//!
//! | subject | who listens | what |
//! |---|---|---|
//! | `<p>.node.<id>.call` | node `id` | a [`Request`](runnel_engine::api::Request), answered with a [`Response`](runnel_engine::api::Response) |
//! | `<p>.node.<id>.open` | node `id` | an [`Open`](crate::wire::Open), answered with an [`Opened`](crate::wire::Opened) or a fault |
//! | `<p>.node.<id>.stream.<n>` | node `id` | the [`Control`](crate::wire::Control)s of stream `n` |
//! | `<p>.heartbeat` | gateways | every node's [`NodeStatus`](crate::wire::NodeStatus), each heartbeat |
//! | `<p>.census` | nodes | a gateway asking every node for its status at once |
//!
//! A node subscribes to its own subjects only, so a request names the node that must answer
//! it: placement is the gateway's choice, made from the heartbeats.

/// The default prefix.
pub const DEFAULT_PREFIX: &str = "runnel";

/// The subjects of one fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// The subjects under `prefix`: NATS tokens (letters, digits, `-`, `_`), `.`-separated.
    pub fn new(prefix: &str) -> Result<Subjects, String> {
        if prefix.is_empty() || !prefix.split('.').all(is_token) {
            return Err(format!(
                "`{prefix}` is not a subject prefix: dot-separated words of letters, digits, `-` and `_`"
            ));
        }
        Ok(Subjects {
            prefix: prefix.to_owned(),
        })
    }

    /// Node `node`'s requests.
    pub fn call(&self, node: &str) -> String {
        format!("{}.node.{node}.call", self.prefix)
    }

    /// Node `node`'s stream openings.
    pub fn open(&self, node: &str) -> String {
        format!("{}.node.{node}.open", self.prefix)
    }

    /// Stream `stream`'s controls, on node `node`.
    pub fn stream(&self, node: &str, stream: u64) -> String {
        format!("{}.node.{node}.stream.{stream}", self.prefix)
    }

    /// The nodes' heartbeats.
    pub fn heartbeat(&self) -> String {
        format!("{}.heartbeat", self.prefix)
    }

    /// A census of the nodes.
    pub fn census(&self) -> String {
        format!("{}.census", self.prefix)
    }
}

impl Default for Subjects {
    fn default() -> Subjects {
        Subjects {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

/// Whether `word` may be a node id or a prefix's word: a NATS token without wildcards.
pub fn is_token(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= 64
        && word
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_built_under_the_prefix_and_bad_words_are_refused() {
        let subjects = Subjects::new("acme.runnel").expect("prefix");
        assert_eq!(subjects.call("n1"), "acme.runnel.node.n1.call");
        assert_eq!(subjects.stream("n1", 7), "acme.runnel.node.n1.stream.7");
        assert_eq!(Subjects::default().heartbeat(), "runnel.heartbeat");
        for bad in ["", "a..b", "a.*", "a.>", "a b", "ä"] {
            assert!(Subjects::new(bad).is_err(), "{bad:?}");
        }
        assert!(is_token("node-1_a"));
        assert!(!is_token("node.1"));
    }
}
