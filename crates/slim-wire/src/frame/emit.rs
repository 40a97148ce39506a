//! Re-encoding a [`Frame`] for the next hop.
//!
//! Only the routing header changes between hops: the TTL is rewritten, the process-local
//! `recv_from`, `forward_to` and `incoming_conn` are dropped, and the MAC is replaced by the
//! outgoing link's. Everything else (names, identity, session header, payload, metadata,
//! unknown fields) is copied byte for byte, in its original order, so a canonical input stays
//! canonical. Lengths are computed up front so the output is written in one pass with no
//! intermediate buffer.

use bytes::BufMut;

use super::{Frame, HeaderView};
use crate::pb::{Fields, WireType, bytes_field_len, put_key, put_varint, varint_field_len};

/// Length of the MAC field payload.
pub const MAC_LEN: usize = 32;

const TTL_FIELD: u32 = 6;
const MAC_FIELD: u32 = 11;

fn is_replaced(number: u32) -> bool {
    matches!(number, 6..=9 | 11)
}

impl Frame {
    /// Encoded length of [`Frame::encode_forwarded`]'s output for these arguments.
    pub fn forwarded_len(&self, ttl: u32, with_mac: bool) -> usize {
        match &self.data.header {
            None => self.data.bytes.len(),
            Some(header) => {
                let header_len = new_header_len(header, ttl, with_mac);
                let body_len = self.data.body_content.len() - header.field.len()
                    + bytes_field_len(1, header_len);
                self.data.bytes.len() - self.data.body.len()
                    + bytes_field_len(self.data.kind.field_number(), body_len)
            }
        }
    }

    /// Writes the frame as it leaves on a link: `ttl` replaces the TTL, `mac` (if any) becomes
    /// the header MAC, process-local fields are dropped. Frames without a header (link, ack)
    /// are copied unchanged.
    pub fn encode_forwarded(&self, out: &mut impl BufMut, ttl: u32, mac: Option<&[u8; MAC_LEN]>) {
        let Some(header) = &self.data.header else {
            out.put_slice(&self.data.bytes);
            return;
        };
        let buf: &[u8] = &self.data.bytes;
        let header_len = new_header_len(header, ttl, mac.is_some());
        let body_len =
            self.data.body_content.len() - header.field.len() + bytes_field_len(1, header_len);

        // Message: fields before the body arm, the body arm, fields after it.
        out.put_slice(&buf[..self.data.body.start as usize]);
        put_key(
            out,
            self.data.kind.field_number(),
            WireType::LengthDelimited,
        );
        put_varint(out, body_len as u64);

        // Body: fields before the header, the header, fields after it.
        out.put_slice(&buf[self.data.body_content.start as usize..header.field.start as usize]);
        put_key(out, 1, WireType::LengthDelimited);
        put_varint(out, header_len as u64);
        write_header(out, buf, header, ttl, mac);
        out.put_slice(&buf[header.field.end as usize..self.data.body_content.end as usize]);

        out.put_slice(&buf[self.data.body.end as usize..]);
    }

    /// [`Frame::encode_forwarded`] into a fresh buffer.
    pub fn to_forwarded_bytes(&self, ttl: u32, mac: Option<&[u8; MAC_LEN]>) -> bytes::Bytes {
        let mut out = bytes::BytesMut::with_capacity(self.forwarded_len(ttl, mac.is_some()));
        self.encode_forwarded(&mut out, ttl, mac);
        out.freeze()
    }
}

fn ttl_field_len(ttl: u32) -> usize {
    // proto3 omits zero scalars.
    if ttl == 0 {
        0
    } else {
        varint_field_len(TTL_FIELD, u64::from(ttl))
    }
}

fn new_header_len(header: &HeaderView, ttl: u32, with_mac: bool) -> usize {
    let mac_len = if with_mac {
        bytes_field_len(MAC_FIELD, MAC_LEN)
    } else {
        0
    };
    header.content.len() - header.replaced_len + ttl_field_len(ttl) + mac_len
}

/// Writes the header content, keeping field order: the new TTL goes where field 6 belongs and
/// the MAC where field 11 belongs.
fn write_header(
    out: &mut impl BufMut,
    buf: &[u8],
    header: &HeaderView,
    ttl: u32,
    mac: Option<&[u8; MAC_LEN]>,
) {
    let mut ttl_pending = ttl != 0;
    let mut mac_pending = mac;
    let content = header.content;
    // The header was validated by `parse`, so walking it again cannot fail; a failure would
    // only truncate the copy, never read out of bounds.
    for field in Fields::new(buf, content.start as usize, content.end as usize).flatten() {
        if field.number > TTL_FIELD && ttl_pending {
            put_ttl(out, ttl);
            ttl_pending = false;
        }
        if field.number > MAC_FIELD
            && let Some(tag) = mac_pending.take()
        {
            put_mac(out, tag);
        }
        if !is_replaced(field.number) {
            out.put_slice(&buf[field.range()]);
        }
    }
    if ttl_pending {
        put_ttl(out, ttl);
    }
    if let Some(tag) = mac_pending {
        put_mac(out, tag);
    }
}

fn put_ttl(out: &mut impl BufMut, ttl: u32) {
    put_key(out, TTL_FIELD, WireType::Varint);
    put_varint(out, u64::from(ttl));
}

fn put_mac(out: &mut impl BufMut, tag: &[u8; MAC_LEN]) {
    put_key(out, MAC_FIELD, WireType::LengthDelimited);
    put_varint(out, MAC_LEN as u64);
    out.put_slice(tag);
}
