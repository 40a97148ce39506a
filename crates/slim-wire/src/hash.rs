//! Name-component hashing, identical to upstream so both compute the same routing keys.
//!
//! A component is hashed with XXH64 (seed 0) over its UTF-8 bytes followed by one `0xFF`
//! byte; the trailing byte is what Rust's `Hash for str` feeds a hasher, which is how upstream
//! arrives at it. Application instance ids are XXH3-128 of the identity's token id, folded out
//! of the reserved range.

use std::hash::Hasher as _;

use twox_hash::{XxHash3_128, XxHash64};

/// Ids at or above this value are reserved (the all-ones id means "any instance").
pub const FIRST_RESERVED_ID: u128 = u128::MAX - 50;

/// Hashes one name component (`org`, `namespace` or `service`).
pub fn component_hash(component: &str) -> u64 {
    let mut hasher = XxHash64::with_seed(0);
    hasher.write(component.as_bytes());
    hasher.write(&[0xFF]);
    hasher.finish()
}

/// Derives an application instance id from the id of its identity token, the way upstream
/// apps do, so a restarted app with the same identity keeps its address.
pub fn instance_id_for(token_id: &str) -> u128 {
    let id = XxHash3_128::oneshot(token_id.as_bytes());
    if id >= FIRST_RESERVED_ID {
        id % FIRST_RESERVED_ID
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors computed with Python's `xxhash` package (an independent implementation) over
    /// `b"<text>\xff"` with seed 0.
    #[test]
    fn component_hash_matches_independent_vectors() {
        assert_eq!(component_hash("org"), 0x873e_5803_76ea_963b);
        assert_eq!(component_hash("ns"), 0xeef9_769a_4c69_90d1);
        assert_eq!(component_hash("svc"), 0xe830_1a27_3f71_3c0e);
        assert_eq!(component_hash("agntcy"), 0x169c_a82e_b17d_6bc2);
        assert_eq!(component_hash(""), 0x9563_4172_a60b_7544);
    }

    /// XXH3-128 vectors from Python's `xxhash` package.
    #[test]
    fn instance_id_matches_independent_vectors() {
        assert_eq!(
            instance_id_for("alice_abcdefgh"),
            0xb588_7ab8_6553_4cb5_5c2b_c96c_5f7b_02ea
        );
        assert_eq!(
            instance_id_for("x"),
            0x5c74_01c0_ec22_eeee_eaf0_6c64_80b2_cd11
        );
    }

    #[test]
    fn instance_ids_avoid_the_reserved_range() {
        for token in ["a", "b", "app_12345678", ""] {
            assert!(instance_id_for(token) < FIRST_RESERVED_ID);
        }
        assert_eq!(instance_id_for("x"), instance_id_for("x"));
    }
}
