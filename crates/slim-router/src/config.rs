//! [`RouterConfig`]: the router's tunables, with upstream's defaults.
//!
//! The node embeds this struct in its YAML configuration; every field has a default, so an
//! empty section is valid, and unknown keys are rejected so a typo is reported instead of
//! silently ignored.

use std::time::Duration;

use serde::Deserialize;

/// Longest acknowledgement timeout honoured (one day).
const MAX_ACK_TIMEOUT_MS: u64 = 86_400_000;

/// Router settings. `RouterConfig::default()` is a standalone node.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// This node's id, used only to label logs and listings. Default: empty.
    pub node_id: String,
    /// Full-mesh deployment (every node linked to every other peer). Applies upstream's "1-hop
    /// rule": publishes received from a peer are never forwarded to another peer, and
    /// propagated subscriptions get a TTL of 2 so peers do not relay them. Leave off for chains
    /// and other partial meshes, where nodes must relay. Default: false.
    pub full_mesh: bool,
    /// TTL given to subscriptions this node propagates to its peers; bounds how far they are
    /// relayed. Default: 2 when `full_mesh`, else 8 (upstream's values).
    pub subscription_ttl: Option<u32>,
    /// How long to wait for the acknowledgement of a subscription forwarded on a `forward_to`
    /// connection before resending it, in milliseconds (at most one day). Default: 5000.
    pub ack_timeout_ms: u64,
    /// How many times such a subscription is resent before the requester gets an error.
    /// Default: 3.
    pub ack_retries: u32,
    /// At most this many forwarded subscriptions wait for acknowledgement at once; more are
    /// refused with an error acknowledgement. Default: 65 536.
    pub max_pending_acks: usize,
    /// Subscription ids remembered for loop prevention, at most. The oldest is forgotten first.
    /// Default: 65 536.
    pub seen_ids_capacity: usize,
    /// How long a subscription id is remembered for loop prevention, in seconds. Loops close
    /// within one propagation round (milliseconds); the TTL bounds any that outlive it.
    /// Default: 60.
    pub seen_ids_ttl_secs: u64,
    /// Most subscriptions (references) one connection may hold; more are refused with an error
    /// acknowledgement, so a misbehaving client cannot grow the table without bound. Peers
    /// carry the subscriptions of their whole side of the network, so keep this generous.
    /// Default: 1 000 000.
    pub max_subscriptions_per_connection: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            node_id: String::new(),
            full_mesh: false,
            subscription_ttl: None,
            ack_timeout_ms: 5_000,
            ack_retries: 3,
            max_pending_acks: 65_536,
            seen_ids_capacity: 65_536,
            seen_ids_ttl_secs: 60,
            max_subscriptions_per_connection: 1_000_000,
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A TTL of 0 or 1 would never reach a peer.
    #[error("subscription_ttl must be at least 2 (got {0})")]
    SubscriptionTtlTooSmall(u32),
    /// A zero timeout would resend in a busy loop.
    #[error("ack_timeout_ms must be positive")]
    ZeroAckTimeout,
    /// Loop prevention needs room for at least one id.
    #[error("seen_ids_capacity must be positive")]
    ZeroSeenCapacity,
}

impl RouterConfig {
    /// Default settings for a full-mesh deployment.
    pub fn full_mesh() -> Self {
        RouterConfig {
            full_mesh: true,
            ..RouterConfig::default()
        }
    }

    /// The TTL propagated subscriptions get (see [`RouterConfig::subscription_ttl`]).
    pub fn effective_subscription_ttl(&self) -> u32 {
        self.subscription_ttl.unwrap_or(if self.full_mesh {
            2
        } else {
            slim_wire::DEFAULT_TTL
        })
    }

    /// [`RouterConfig::ack_timeout_ms`] as a duration, capped at one day so deadlines computed
    /// from it cannot overflow.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms.min(MAX_ACK_TIMEOUT_MS))
    }

    /// [`RouterConfig::seen_ids_ttl_secs`] as a duration.
    pub fn seen_ids_ttl(&self) -> Duration {
        Duration::from_secs(self.seen_ids_ttl_secs)
    }

    /// Checks that the settings can work; the node calls this when loading its config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ttl = self.effective_subscription_ttl();
        if ttl < 2 {
            return Err(ConfigError::SubscriptionTtlTooSmall(ttl));
        }
        if self.ack_timeout_ms == 0 {
            return Err(ConfigError::ZeroAckTimeout);
        }
        if self.seen_ids_capacity == 0 {
            return Err(ConfigError::ZeroSeenCapacity);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_gives_the_documented_defaults() {
        let config: RouterConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, RouterConfig::default());
        assert_eq!(config.effective_subscription_ttl(), 8);
        assert_eq!(config.ack_timeout(), Duration::from_secs(5));
        assert_eq!(config.ack_retries, 3);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn full_mesh_lowers_the_subscription_ttl_unless_set() {
        let config: RouterConfig = serde_json::from_str(r#"{"full_mesh": true}"#).unwrap();
        assert_eq!(config.effective_subscription_ttl(), 2);
        let config: RouterConfig =
            serde_json::from_str(r#"{"full_mesh": true, "subscription_ttl": 4}"#).unwrap();
        assert_eq!(config.effective_subscription_ttl(), 4);
    }

    #[test]
    fn unknown_keys_and_unworkable_values_are_reported() {
        let err = serde_json::from_str::<RouterConfig>(r#"{"full_mech": true}"#).unwrap_err();
        assert!(err.to_string().contains("full_mech"), "{err}");
        let config = RouterConfig {
            subscription_ttl: Some(1),
            ..RouterConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::SubscriptionTtlTooSmall(1))
        );
        let config = RouterConfig {
            ack_timeout_ms: 0,
            ..RouterConfig::default()
        };
        assert_eq!(config.validate(), Err(ConfigError::ZeroAckTimeout));
        let config = RouterConfig {
            ack_timeout_ms: u64::MAX,
            ..RouterConfig::default()
        };
        assert_eq!(config.ack_timeout(), Duration::from_secs(86_400));
    }
}
