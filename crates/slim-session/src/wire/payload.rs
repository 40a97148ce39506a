//! Received payloads: small ones are copied out of the link's read buffer, large ones share it.
//!
//! A payload read from a frame is a part of the link's HTTP/2 read buffer: kilobytes, shared
//! by every message read with it. Held as a slice, it keeps that whole buffer alive until the
//! application drops the payload on its own thread: one cross-thread reference count per
//! message (contended when several applications of a shared connection get the same frame),
//! and buffers freed away from the thread that allocated them, which the allocator then hands
//! back to the system and faults in again. Copying a few bytes is cheaper than all that;
//! copying a large payload is not.

use bytes::Bytes;

/// Payloads up to this size are copied out of the received buffer.
pub(crate) const DETACH_BELOW: usize = 1024;

/// The payload `part` of the received `buffer`: a copy when small, a shared slice otherwise.
pub(crate) fn from_buffer(buffer: &Bytes, part: &[u8]) -> Bytes {
    if part.len() <= DETACH_BELOW {
        Bytes::copy_from_slice(part)
    } else {
        buffer.slice_ref(part)
    }
}

/// A payload already sliced out of a received buffer (by prost), made the same way.
pub(crate) fn detach_small(payload: Bytes) -> Bytes {
    if payload.len() <= DETACH_BELOW {
        Bytes::copy_from_slice(&payload)
    } else {
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_payloads_leave_the_read_buffer_and_large_ones_share_it() {
        let buffer = Bytes::from(vec![7u8; 4 * DETACH_BELOW]);
        let inside = |payload: &Bytes| {
            let start = buffer.as_ptr() as usize;
            (start..start + buffer.len()).contains(&(payload.as_ptr() as usize))
        };
        let small = detach_small(buffer.slice(10..10 + DETACH_BELOW));
        assert_eq!(small, buffer.slice(10..10 + DETACH_BELOW));
        assert!(!inside(&small), "a small payload is a copy");
        let large = detach_small(buffer.slice(10..11 + DETACH_BELOW));
        assert!(inside(&large), "a large payload stays a slice");

        let small = from_buffer(&buffer, &buffer[10..10 + DETACH_BELOW]);
        assert_eq!(small, buffer.slice(10..10 + DETACH_BELOW));
        assert!(!inside(&small), "a small part is a copy");
        let large = from_buffer(&buffer, &buffer[10..11 + DETACH_BELOW]);
        assert_eq!(large, buffer.slice(10..11 + DETACH_BELOW));
        assert!(inside(&large), "a large part is shared");
    }
}
