//! The maps the layer looks up for every received message (sessions by id, senders by name,
//! reorder slots by message id) hash with foldhash instead of std's SipHash.
//!
//! Their keys are a few fixed-size integers, and SipHash's rounds cost more than the rest of
//! such a lookup: in a group fan-out it was the largest single item of the receiving side.
//! The keys come from the network (a peer picks session and message ids and, through its
//! name strings, name hashes), so the hasher is still seeded at random per map: foldhash's
//! `fast::RandomState` resists a peer that tries to crowd one bucket, which is all these maps
//! need (they are bounded by the session limits anyway).

use std::collections::{HashMap, HashSet};

/// The per-map random seed.
pub(crate) type FastState = foldhash::fast::RandomState;

/// A `HashMap` with [`FastState`].
pub(crate) type FastMap<K, V> = HashMap<K, V, FastState>;

/// A `HashSet` with [`FastState`].
pub(crate) type FastSet<T> = HashSet<T, FastState>;
