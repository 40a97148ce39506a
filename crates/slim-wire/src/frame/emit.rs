//! Re-encoding a [`Frame`] for the next hop.
//!
//! Only the routing header changes between hops: the TTL is rewritten, the process-local
//! `recv_from`, `forward_to` and `incoming_conn` are dropped, and the MAC is replaced by the
//! outgoing link's. Everything else (names, identity, session header, payload, metadata,
//! unknown fields) is copied byte for byte, in its original order, so a canonical input stays
//! canonical. Lengths are computed up front so the output is written in one pass with no
//! intermediate buffer.
//!
//! Most headers need less than a field-by-field walk: an application's frame leaves with the
//! TTL it carries and a node forwards it with the TTL one lower, no process-local field to
//! drop, and the link's MAC either replacing one of the same length or added at the end. Such
//! a header is copied with the TTL's and the MAC's value bytes written in place (see
//! [`HeaderPatch`]). For canonical input the bytes are those of the walk; for any other input
//! they are still a valid encoding of the forwarded message, of the length
//! [`Frame::forwarded_len`] computes. A frame encoded for a second link is encoded once more
//! and kept, for the links after it (`forwarded_cache.rs`).

use bytes::BufMut;

use super::{Frame, HeaderView};
use crate::pb::{
    Fields, WireType, bytes_field_len, put_key, put_varint, varint_field_len, varint_len,
};

/// Length of the MAC field payload.
pub const MAC_LEN: usize = 32;

const TTL_FIELD: u32 = 6;
const MAC_FIELD: u32 = 11;

/// Length of a minimally encoded MAC field (one-byte key, one-byte length, the tag).
const MAC_FIELD_LEN: usize = 2 + MAC_LEN;

/// The in-place edits that turn a header into its forwarded form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HeaderPatch {
    /// Where the TTL's value bytes start; the new value has the same encoded length.
    ttl_at: Option<usize>,
    /// Where the old MAC's value starts, overwritten with the new one.
    pub(super) mac_at: Option<usize>,
    /// The header has no MAC and no field after where one goes: the MAC field is appended.
    append_mac: bool,
}

impl HeaderPatch {
    /// The edits for leaving with `ttl` (and a MAC when `with_mac`), or `None` when the header
    /// must be walked: a field to drop (process-local ones, a MAC without a new one), a TTL
    /// to add, to remove or whose encoded length changes (or was not minimal), a MAC field
    /// that is not minimal, or a MAC to insert before later fields.
    pub(super) fn of(header: &HeaderView, ttl: u32, with_mac: bool) -> Option<HeaderPatch> {
        // Bytes of replaced fields the edits do not account for: must end at zero.
        let mut unaccounted = header.replaced_len;
        let ttl_at = match header.ttl_field {
            None if ttl == 0 => None,
            None => return None,
            Some(field) => {
                let len = varint_len(u64::from(header.ttl));
                // A one-byte key and a minimal value: the value is the field's tail.
                if ttl == 0 || field.len() != 1 + len || varint_len(u64::from(ttl)) != len {
                    return None;
                }
                unaccounted = unaccounted.checked_sub(field.len())?;
                Some(field.start as usize + 1)
            }
        };
        let (mac_at, append_mac) = match (header.mac, with_mac) {
            (None, false) => (None, false),
            (None, true) if !header.fields_after_mac => (None, true),
            (Some(value), true) if value.len() == MAC_LEN => {
                unaccounted = unaccounted.checked_sub(MAC_FIELD_LEN)?;
                (Some(value.start as usize), false)
            }
            _ => return None,
        };
        // Zero: no field 7, 8 or 9, and an old MAC field of exactly MAC_FIELD_LEN bytes
        // (so its value is its tail).
        (unaccounted == 0).then_some(HeaderPatch {
            ttl_at,
            mac_at,
            append_mac,
        })
    }

    /// Writes the header content with the edits applied.
    fn write(
        self,
        out: &mut impl BufMut,
        buf: &[u8],
        header: &HeaderView,
        ttl: u32,
        mac: Option<&[u8; MAC_LEN]>,
    ) {
        let mut ttl_value = [0u8; 10];
        let ttl_len = {
            let mut slot = &mut ttl_value[..];
            put_varint(&mut slot, u64::from(ttl));
            varint_len(u64::from(ttl))
        };
        let mut edits: [Option<(usize, &[u8])>; 2] = [
            self.ttl_at.map(|at| (at, &ttl_value[..ttl_len])),
            self.mac_at.zip(mac).map(|(at, tag)| (at, &tag[..])),
        ];
        if let [Some((a, _)), Some((b, _))] = &edits
            && b < a
        {
            edits.swap(0, 1);
        }
        let mut from = header.content.start as usize;
        for (at, value) in edits.into_iter().flatten() {
            out.put_slice(&buf[from..at]);
            out.put_slice(value);
            from = at + value.len();
        }
        out.put_slice(&buf[from..header.content.end as usize]);
        if self.append_mac
            && let Some(tag) = mac
        {
            put_mac(out, tag);
        }
    }
}

fn is_replaced(number: u32) -> bool {
    matches!(number, 6..=9 | 11)
}

impl Frame {
    /// Encoded length of [`Frame::encode_forwarded`]'s output for these arguments.
    pub fn forwarded_len(&self, ttl: u32, with_mac: bool) -> usize {
        match &self.data.header {
            None => self.data.bytes.len(),
            Some(_) if let Some(image) = self.image(ttl, with_mac) => image.len(),
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
        // Sent to several links: encoded once (see `forwarded_cache.rs`).
        if self.write_from_image(out, header, ttl, mac) {
            return;
        }
        let patch = HeaderPatch::of(header, ttl, mac.is_some());
        self.encode_with_header(out, header, ttl, mac, patch);
    }

    /// [`Frame::encode_forwarded`] with the header always walked field by field (what the
    /// patch must agree with).
    #[cfg(test)]
    pub(super) fn encode_forwarded_walking(
        &self,
        out: &mut impl BufMut,
        ttl: u32,
        mac: Option<&[u8; MAC_LEN]>,
    ) {
        match &self.data.header {
            Some(header) => self.encode_with_header(out, header, ttl, mac, None),
            None => out.put_slice(&self.data.bytes),
        }
    }

    /// The frame with its routing header rewritten: by `patch` when there is one, else by
    /// walking it.
    pub(super) fn encode_with_header(
        &self,
        out: &mut impl BufMut,
        header: &HeaderView,
        ttl: u32,
        mac: Option<&[u8; MAC_LEN]>,
        patch: Option<HeaderPatch>,
    ) {
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
        match patch {
            Some(patch) => patch.write(out, buf, header, ttl, mac),
            None => write_header(out, buf, header, ttl, mac),
        }
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
