//! A keyed, fast hasher for the routing tables.
//!
//! Table keys are name-component hashes, instance ids and connection ids: fixed-size integers
//! that arrive from the network. SipHash (std's default) is needlessly slow for them, while an
//! unkeyed multiply hash would let a client that picks its own component values crowd one
//! bucket. This hasher mixes each word with a secret key through a folded 64×64→128-bit
//! multiply (the construction foldhash and wyhash use); the key comes from the router's seed,
//! so tables behave identically from run to run in tests and unpredictably in production.

use std::hash::{BuildHasher, Hasher};

/// Odd constants from the fractional digits of pi, spreading bits across the product.
const MULTIPLIER: u64 = 0x243f_6a88_85a3_08d3;
const FINAL: u64 = 0x1319_8a2e_0370_7344;

fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Builds [`KeyedHasher`]s that share one secret key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyedState {
    key: u64,
}

impl KeyedState {
    /// A state keyed by `seed` (mixed, so nearby seeds give unrelated keys).
    pub(crate) fn new(seed: u64) -> Self {
        KeyedState {
            key: folded_multiply(seed ^ MULTIPLIER, FINAL) | 1,
        }
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;

    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            key: self.key,
            acc: self.key,
        }
    }
}

/// The hasher itself; see the module docs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyedHasher {
    key: u64,
    acc: u64,
}

impl Hasher for KeyedHasher {
    fn finish(&self) -> u64 {
        folded_multiply(self.acc, FINAL ^ self.key)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length tag keeps "ab" and "ab\0" apart.
            self.write_u64(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.acc = folded_multiply(self.acc ^ value, MULTIPLIER ^ self.key);
    }

    fn write_u128(&mut self, value: u128) {
        self.write_u64(value as u64);
        self.write_u64((value >> 64) as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

/// A `HashMap` using [`KeyedState`].
pub(crate) type KeyedMap<K, V> = std::collections::HashMap<K, V, KeyedState>;

/// A `HashSet` using [`KeyedState`].
pub(crate) type KeyedSet<K> = std::collections::HashSet<K, KeyedState>;

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(state: KeyedState, value: impl std::hash::Hash) -> u64 {
        state.hash_one(value)
    }

    #[test]
    fn equal_inputs_hash_equal_and_keys_change_the_hash() {
        let a = KeyedState::new(1);
        let b = KeyedState::new(2);
        assert_eq!(hash_of(a, [1u64, 2, 3]), hash_of(a, [1u64, 2, 3]));
        assert_ne!(hash_of(a, [1u64, 2, 3]), hash_of(a, [1u64, 2, 4]));
        assert_ne!(hash_of(a, [1u64, 2, 3]), hash_of(b, [1u64, 2, 3]));
        assert_ne!(hash_of(a, 5u128), hash_of(a, 5u128 << 64));
    }

    #[test]
    fn sequential_keys_spread_over_buckets() {
        // 4096 consecutive ids into 256 buckets: every bucket gets some, none gets a crowd.
        let state = KeyedState::new(7);
        let mut buckets = [0u32; 256];
        for id in 0u64..4096 {
            buckets[(hash_of(state, id) >> 56) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (4..=40).contains(&n)),
            "{buckets:?}"
        );
    }
}
