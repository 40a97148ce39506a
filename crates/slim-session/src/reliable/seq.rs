//! Arithmetic on the 31-bit sequential message ids.
//!
//! Data ids start at 1 and wrap modulo 2^31 (ids above `MAX_PUBLISH_ID` belong to
//! `PUBLISH_TO` messages). Comparisons use serial-number arithmetic: `a` is ahead of `b` when
//! the forward distance from `b` to `a` is below half the id space.

use crate::wire::MAX_PUBLISH_ID;

const MODULUS_MASK: u32 = MAX_PUBLISH_ID; // 2^31 - 1

/// Half the id space: distances at or beyond it mean "behind".
const HALF: u32 = 1 << 30;

/// The id after `id`.
pub(crate) fn next(id: u32) -> u32 {
    id.wrapping_add(1) & MODULUS_MASK
}

/// `id + n` in the id space.
pub(crate) fn add(id: u32, n: u32) -> u32 {
    id.wrapping_add(n) & MODULUS_MASK
}

/// Forward distance from `from` to `to`.
pub(crate) fn distance(from: u32, to: u32) -> u32 {
    to.wrapping_sub(from) & MODULUS_MASK
}

/// True when `id` is `reference` or ahead of it (within half the space).
pub(crate) fn at_or_after(id: u32, reference: u32) -> bool {
    distance(reference, id) < HALF
}

/// True for ids of the sequential stream (not `PUBLISH_TO`).
pub(crate) fn is_sequential(id: u32) -> bool {
    id <= MAX_PUBLISH_ID
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_wrap_at_two_to_the_31() {
        assert_eq!(next(1), 2);
        assert_eq!(next(MAX_PUBLISH_ID), 0);
        assert_eq!(add(MAX_PUBLISH_ID - 1, 3), 1);
        assert_eq!(distance(MAX_PUBLISH_ID, 1), 2);
        assert!(at_or_after(1, MAX_PUBLISH_ID));
        assert!(!at_or_after(MAX_PUBLISH_ID, 1));
        assert!(at_or_after(5, 5));
        assert!(is_sequential(MAX_PUBLISH_ID));
        assert!(!is_sequential(MAX_PUBLISH_ID + 1));
    }
}
