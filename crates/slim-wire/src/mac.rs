//! The byte-exact preimage of the hop-by-hop header MAC.
//!
//! Both ends of a link HMAC this preimage with the key they derived during negotiation; it must
//! match upstream byte for byte. All integers are little-endian and lengths are `u32`:
//!
//! ```text
//! "SLIM-DP-HDR-v1\0" | len(link_id) link_id | name(source) | name(destination)
//! | len(identity) identity | fanout u32 | opt_u64(recv_from) | opt_u64(forward_to)
//! | opt_bool(error) | ttl u32
//! name(None) = 00
//! name(Some) = 01 | (encoded ? 01 c0 c1 c2 (id ? 01 id_0 id_1 : 00) : 00)
//!                 | (strings ? 01 len s0 len s1 len s2 : 00)
//! opt_u64 = 00 | 01 u64        opt_bool = 00 | 01 (00|01)
//! ```
//!
//! `incoming_conn`, the MAC itself, `version`, the end-to-end signature, the session header and
//! the payload are not covered. The key derivation and the HMAC live in the transport; this
//! module only produces bytes, so it can be tested against fixed vectors.

use crate::proto;

/// Domain separator at the start of every preimage.
pub const DOMAIN: &[u8] = b"SLIM-DP-HDR-v1\0";

/// A name's parts as the preimage sees them.
#[derive(Debug, Clone, Copy)]
pub struct NameRef<'a> {
    /// The three component hashes, when the encoded name is present.
    pub encoded: Option<[u64; 3]>,
    /// `(id_0, id_1)` when `NameId` is present.
    pub id: Option<(u64, u64)>,
    /// The component strings, when `StringName` is present.
    pub strings: Option<[&'a [u8]; 3]>,
}

impl<'a> NameRef<'a> {
    /// Views a prost name.
    pub fn from_proto(name: &'a proto::Name) -> Self {
        NameRef {
            encoded: name
                .name
                .as_ref()
                .map(|e| [e.component_0, e.component_1, e.component_2]),
            id: name
                .name
                .as_ref()
                .and_then(|e| e.name_id.as_ref())
                .map(|id| (id.id_0, id.id_1)),
            strings: name.str_name.as_ref().map(|s| {
                [
                    s.str_component_0.as_bytes(),
                    s.str_component_1.as_bytes(),
                    s.str_component_2.as_bytes(),
                ]
            }),
        }
    }
}

/// Every header value the MAC covers.
#[derive(Debug, Clone, Copy)]
pub struct MacInput<'a> {
    /// Header source.
    pub source: Option<NameRef<'a>>,
    /// Header destination.
    pub destination: Option<NameRef<'a>>,
    /// Identity token bytes.
    pub identity: &'a [u8],
    /// Fanout.
    pub fanout: u32,
    /// `recv_from` as on the wire (absent once cleared for sending).
    pub recv_from: Option<u64>,
    /// `forward_to` as on the wire (absent once cleared for sending).
    pub forward_to: Option<u64>,
    /// Error flag.
    pub error: Option<bool>,
    /// TTL.
    pub ttl: u32,
}

impl<'a> MacInput<'a> {
    /// Views a prost header, values exactly as they are.
    pub fn from_proto(header: &'a proto::SlimHeader) -> Self {
        MacInput {
            source: header.source.as_ref().map(NameRef::from_proto),
            destination: header.destination.as_ref().map(NameRef::from_proto),
            identity: header.identity.as_bytes(),
            fanout: header.fanout,
            recv_from: header.recv_from,
            forward_to: header.forward_to,
            error: header.error,
            ttl: header.ttl,
        }
    }

    /// Appends the preimage for a link to `out` (cleared first). Callers keep `out` around so
    /// the hot path does not allocate.
    pub fn write_preimage(&self, link_id: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(DOMAIN);
        put_len_prefixed(out, link_id);
        put_name(out, self.source.as_ref());
        put_name(out, self.destination.as_ref());
        put_len_prefixed(out, self.identity);
        out.extend_from_slice(&self.fanout.to_le_bytes());
        put_opt_u64(out, self.recv_from);
        put_opt_u64(out, self.forward_to);
        match self.error {
            None => out.push(0),
            Some(flag) => out.extend_from_slice(&[1, u8::from(flag)]),
        }
        out.extend_from_slice(&self.ttl.to_le_bytes());
    }
}

fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    // Frames are bounded far below 4 GiB, so the length always fits.
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_opt_u64(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn put_name(out: &mut Vec<u8>, name: Option<&NameRef<'_>>) {
    let Some(name) = name else {
        out.push(0);
        return;
    };
    out.push(1);
    match name.encoded {
        None => out.push(0),
        Some(components) => {
            out.push(1);
            for c in components {
                out.extend_from_slice(&c.to_le_bytes());
            }
            match name.id {
                None => out.push(0),
                Some((high, low)) => {
                    out.push(1);
                    out.extend_from_slice(&high.to_le_bytes());
                    out.extend_from_slice(&low.to_le_bytes());
                }
            }
        }
    }
    match name.strings {
        None => out.push(0),
        Some(parts) => {
            out.push(1);
            for part in parts {
                put_len_prefixed(out, part);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector written out by hand from the layout in the module docs.
    #[test]
    fn preimage_matches_the_documented_layout() {
        let input = MacInput {
            source: Some(NameRef {
                encoded: Some([1, 2, 3]),
                id: Some((4, 5)),
                strings: Some([b"a", b"b", b"c"]),
            }),
            destination: Some(NameRef {
                encoded: Some([6, 7, 8]),
                id: None,
                strings: None,
            }),
            identity: b"id",
            fanout: 1,
            recv_from: None,
            forward_to: Some(9),
            error: Some(true),
            ttl: 8,
        };
        let mut out = Vec::new();
        input.write_preimage(b"L", &mut out);

        let mut expected = b"SLIM-DP-HDR-v1\0".to_vec();
        expected.extend([1, 0, 0, 0, b'L']);
        expected.extend([1, 1]);
        for v in [1u64, 2, 3] {
            expected.extend(v.to_le_bytes());
        }
        expected.push(1);
        expected.extend(4u64.to_le_bytes());
        expected.extend(5u64.to_le_bytes());
        expected.push(1);
        for s in [b'a', b'b', b'c'] {
            expected.extend([1, 0, 0, 0, s]);
        }
        expected.extend([1, 1]);
        for v in [6u64, 7, 8] {
            expected.extend(v.to_le_bytes());
        }
        expected.extend([0, 0]);
        expected.extend([2, 0, 0, 0, b'i', b'd']);
        expected.extend(1u32.to_le_bytes());
        expected.push(0);
        expected.push(1);
        expected.extend(9u64.to_le_bytes());
        expected.extend([1, 1]);
        expected.extend(8u32.to_le_bytes());
        assert_eq!(out, expected);
    }

    #[test]
    fn absent_names_encode_as_a_single_zero() {
        let input = MacInput {
            source: None,
            destination: None,
            identity: b"",
            fanout: 0,
            recv_from: None,
            forward_to: None,
            error: None,
            ttl: 0,
        };
        let mut out = Vec::new();
        input.write_preimage(b"", &mut out);
        let mut expected = DOMAIN.to_vec();
        expected.extend([0, 0, 0, 0]); // empty link id
        expected.extend([0, 0]); // no source, no destination
        expected.extend([0, 0, 0, 0]); // empty identity
        expected.extend([0, 0, 0, 0]); // fanout
        expected.extend([0, 0, 0]); // recv_from, forward_to, error
        expected.extend([0, 0, 0, 0]); // ttl
        assert_eq!(out, expected);
    }
}
