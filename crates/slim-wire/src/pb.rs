//! Just enough of the protobuf wire format to walk a message without decoding it.
//!
//! [`crate::frame`] uses this to find the routing header inside an encoded `Message` and to
//! re-emit it with a new TTL and MAC while copying everything else byte for byte. Every read is
//! bounds-checked and returns an error instead of panicking: these bytes come from the network.

use bytes::BufMut;

/// Why bytes are not a well-formed protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Input ended inside a field.
    #[error("truncated field")]
    Truncated,
    /// A varint ran past ten bytes.
    #[error("varint too long")]
    VarintOverflow,
    /// Wire types 3 and 4 (groups) and 6, 7 do not occur in SLIM messages.
    #[error("unsupported wire type {0}")]
    BadWireType(u8),
    /// Field number 0 is invalid.
    #[error("field number zero")]
    ZeroField,
}

/// The wire types SLIM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Varint,
    LengthDelimited,
}

/// One field as found on the wire: its number, where it starts (tag included) and its value.
///
/// Offsets are `u32`: the walker is only used on frames, which are at most
/// [`crate::MAX_FRAME_LEN`] bytes, and a small `Field` is cheaper to return from the iterator
/// for every field of every frame.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub number: u32,
    /// Offset of the first tag byte in the walked buffer.
    pub start: u32,
    /// Offset one past the last byte of the field.
    pub end: u32,
    pub value: Value,
}

/// A field's value: a varint, a fixed-width value (skipped: SLIM uses none), or the byte range
/// of a length-delimited payload.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Varint(u64),
    Fixed,
    Bytes { start: u32, end: u32 },
}

impl Field {
    /// The payload range of a length-delimited field.
    pub fn bytes(&self) -> Option<(usize, usize)> {
        match self.value {
            Value::Bytes { start, end } => Some((start as usize, end as usize)),
            _ => None,
        }
    }

    /// The value of a varint field.
    pub fn varint(&self) -> Option<u64> {
        match self.value {
            Value::Varint(v) => Some(v),
            _ => None,
        }
    }

    /// Length of the whole field on the wire.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// The whole field's byte range in the walked buffer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Iterates the top-level fields of `buf[start..end]`, yielding offsets into `buf`.
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Fields<'a> {
    /// Walks `buf[start..end]`; callers pass ranges from earlier walks, so they are in bounds,
    /// but the iterator still checks every access.
    pub fn new(buf: &'a [u8], start: usize, end: usize) -> Self {
        Fields {
            buf,
            pos: start,
            end: end.min(buf.len()),
        }
    }

    /// Keys, lengths and most scalars in SLIM messages fit in one byte, so that case is
    /// checked before the general loop (name hashes take nine or ten bytes).
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, WireError> {
        if self.pos < self.end
            && let Some(&byte) = self.buf.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        self.varint_multi_byte()
    }

    fn varint_multi_byte(&mut self) -> Result<u64, WireError> {
        let rest = self
            .buf
            .get(self.pos..self.end)
            .ok_or(WireError::Truncated)?;
        let (value, len) = decode_varint(rest)?;
        self.pos += len;
        Ok(value)
    }

    fn skip_fixed(&mut self, len: usize) -> Result<(), WireError> {
        if self.end - self.pos < len {
            return Err(WireError::Truncated);
        }
        self.pos += len;
        Ok(())
    }

    #[inline(always)]
    fn next_field(&mut self) -> Result<Field, WireError> {
        let start = self.pos;
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| WireError::ZeroField)?;
        if number == 0 {
            return Err(WireError::ZeroField);
        }
        let value = match (key & 7) as u8 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.skip_fixed(8)?;
                Value::Fixed
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
                let data_start = self.pos;
                let data_end = data_start.checked_add(len).ok_or(WireError::Truncated)?;
                if data_end > self.end {
                    return Err(WireError::Truncated);
                }
                self.pos = data_end;
                Value::Bytes {
                    start: data_start as u32,
                    end: data_end as u32,
                }
            }
            5 => {
                self.skip_fixed(4)?;
                Value::Fixed
            }
            other => return Err(WireError::BadWireType(other)),
        };
        Ok(Field {
            number,
            start: start as u32,
            end: self.pos as u32,
            value,
        })
    }
}

impl Iterator for Fields<'_> {
    type Item = Result<Field, WireError>;

    // Inlined into each parse loop, so the field is never materialised in memory.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let field = self.next_field();
        if field.is_err() {
            // Stop after the first error: the rest of the buffer cannot be framed.
            self.pos = self.end;
        }
        Some(field)
    }
}

/// Decodes the varint at the start of `bytes`: its value and encoded length.
///
/// Name hashes and instance ids are nine or ten bytes long and make up most of a frame's
/// varint bytes, so when eight bytes are available they are read as one word: the first byte
/// without a continuation bit gives the length, and the 7-bit groups are packed together in
/// three shift-and-mask steps instead of one step per byte.
#[inline]
pub(crate) fn decode_varint(bytes: &[u8]) -> Result<(u64, usize), WireError> {
    let Some(chunk) = bytes.first_chunk::<8>() else {
        return decode_varint_bytewise(bytes);
    };
    let word = u64::from_le_bytes(*chunk);
    let stops = !word & 0x8080_8080_8080_8080;
    if stops != 0 {
        let len = (stops.trailing_zeros() / 8 + 1) as usize;
        let kept = if len == 8 {
            word
        } else {
            word & ((1u64 << (8 * len)) - 1)
        };
        return Ok((pack_groups(kept), len));
    }
    let low = pack_groups(word);
    let ninth = *bytes.get(8).ok_or(WireError::Truncated)?;
    if ninth < 0x80 {
        return Ok((low | (u64::from(ninth) << 56), 9));
    }
    // The tenth byte holds bit 63 only.
    let tenth = *bytes.get(9).ok_or(WireError::Truncated)?;
    if tenth > 1 {
        return Err(WireError::VarintOverflow);
    }
    Ok((
        low | (u64::from(ninth & 0x7F) << 56) | (u64::from(tenth) << 63),
        10,
    ))
}

/// Packs the low seven bits of each of a word's eight bytes into 56 contiguous bits.
#[inline(always)]
fn pack_groups(word: u64) -> u64 {
    let x = word & 0x7F7F_7F7F_7F7F_7F7F;
    let x = (x & 0x007F_007F_007F_007F) | ((x & 0x7F00_7F00_7F00_7F00) >> 1);
    let x = (x & 0x0000_3FFF_0000_3FFF) | ((x & 0x3FFF_0000_3FFF_0000) >> 2);
    (x & 0x0000_0000_0FFF_FFFF) | ((x & 0x0FFF_FFFF_0000_0000) >> 4)
}

/// [`decode_varint`] one byte at a time, for the last bytes of a buffer.
fn decode_varint_bytewise(bytes: &[u8]) -> Result<(u64, usize), WireError> {
    let mut value = 0u64;
    let mut index = 0;
    while index < 10 {
        let Some(&byte) = bytes.get(index) else {
            return Err(WireError::Truncated);
        };
        // The tenth byte holds bit 63 only.
        if index == 9 && byte > 1 {
            return Err(WireError::VarintOverflow);
        }
        value |= u64::from(byte & 0x7F) << (7 * index);
        index += 1;
        if byte < 0x80 {
            return Ok((value, index));
        }
    }
    Err(WireError::VarintOverflow)
}

/// Encoded length of a varint.
pub fn varint_len(value: u64) -> usize {
    // 1 byte per started group of 7 bits; zero still takes one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends a varint.
pub fn put_varint(out: &mut impl BufMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// Appends the key of a field.
pub fn put_key(out: &mut impl BufMut, number: u32, wire_type: WireType) {
    let wire = match wire_type {
        WireType::Varint => 0,
        WireType::LengthDelimited => 2,
    };
    put_varint(out, (u64::from(number) << 3) | wire);
}

/// Length of a varint field with its key (field numbers below 16 take one key byte).
pub fn varint_field_len(number: u32, value: u64) -> usize {
    varint_len(u64::from(number) << 3) + varint_len(value)
}

/// Length of a length-delimited field with its key and length prefix.
pub fn bytes_field_len(number: u32, payload_len: usize) -> usize {
    varint_len(u64::from(number) << 3) + varint_len(payload_len as u64) + payload_len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_encoding() {
        for value in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            assert_eq!(buf.len(), varint_len(value), "value {value}");
            let mut fields = Fields::new(&[], 0, 0);
            fields.buf = &buf;
            fields.end = buf.len();
            assert_eq!(fields.varint(), Ok(value));
        }
    }

    /// The byte-at-a-time decoder the fast one replaced, kept as the reference.
    fn reference_varint(bytes: &[u8]) -> Result<(u64, usize), WireError> {
        let mut value = 0u64;
        for (index, shift) in (0..70).step_by(7).enumerate() {
            let byte = *bytes.get(index).ok_or(WireError::Truncated)?;
            if shift == 63 && byte > 1 {
                return Err(WireError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok((value, index + 1));
            }
        }
        Err(WireError::VarintOverflow)
    }

    proptest::proptest! {
        #[test]
        fn varint_decoding_matches_the_reference(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![0x80u8..=0xFF, 0u8..=0x7F, 0u8..=2], 0..14)
        ) {
            proptest::prop_assert_eq!(decode_varint(&bytes), reference_varint(&bytes));
        }
    }

    #[test]
    fn every_length_decodes_whatever_follows() {
        for bits in 0..64 {
            for value in [1u64 << bits, (1u64 << bits) - 1, (1u64 << bits) | 0x55] {
                let mut buf = Vec::new();
                put_varint(&mut buf, value);
                let len = buf.len();
                for tail in [[0u8; 12], [0xFF; 12], [0x80; 12]] {
                    let mut padded = buf.clone();
                    padded.extend_from_slice(&tail);
                    assert_eq!(decode_varint(&padded), Ok((value, len)), "{value:#x}");
                }
            }
        }
    }

    #[test]
    fn ten_byte_varints_hold_bit_63_only() {
        let mut max = vec![0xFF; 9];
        max.push(0x01);
        assert_eq!(decode_varint(&max), Ok((u64::MAX, 10)));
        max[9] = 0x02;
        assert_eq!(decode_varint(&max), Err(WireError::VarintOverflow));
        assert_eq!(decode_varint(&[0xFF; 11]), Err(WireError::VarintOverflow));
        assert_eq!(decode_varint(&[0xFF; 9]), Err(WireError::Truncated));
        assert_eq!(decode_varint(&[]), Err(WireError::Truncated));
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        let cases: &[&[u8]] = &[
            &[0x0A],             // field 1, length missing
            &[0x0A, 0x05, 1, 2], // length beyond the end
            &[0x08],             // varint value missing
            &[0x00, 0x00],       // field number zero
            &[0x0B],             // start group
            &[0x09, 1, 2, 3],    // fixed64 truncated
            &[
                0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F,
            ],
        ];
        for case in cases {
            let result: Result<Vec<_>, _> = Fields::new(case, 0, case.len()).collect();
            assert!(result.is_err(), "{case:?} should fail");
        }
    }
}
