//! [`Frame::plain_publish`]: a publish's payload and metadata read straight from the bytes.
//!
//! [`Frame::parse`] leaves a publish's `Content` and the `Message` metadata opaque (a node
//! routes without them), noting only where the content is and whether there is metadata.
//! An application's session layer needs them for every data message,
//! and decoding the whole message with prost to get them copies every string of the header
//! as well (six name strings and the identity token). This reads just the two, zero-copy,
//! when they have the layout every encoder in practice writes:
//!
//! - `Content` absent, or holding exactly one `ApplicationPayload` (field 1), whose fields are
//!   an optional `payload_type` (UTF-8) followed by an optional `blob`, each at most once;
//! - each metadata entry an optional key followed by an optional value, both UTF-8.
//!
//! Anything else (a command payload, fields out of order or repeated, unknown fields, text
//! that is not UTF-8) gives `None`, and the caller decodes the message with prost, which then
//! decides: so whatever is accepted here reads exactly as prost would read it, and nothing
//! prost would refuse is accepted.

use super::Frame;
use crate::pb::{Field, Fields, Value};

/// A publish's application payload and metadata, borrowed from the frame's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainPublish<'a> {
    /// `(payload_type, blob)` of the `ApplicationPayload`; `None` when the publish has no
    /// `Content` at all. The blob is borrowed: `frame.bytes().slice_ref(blob)` shares it
    /// without copying, `Bytes::copy_from_slice` detaches it (which of the two is the
    /// consumer's choice: a slice keeps the whole read buffer alive).
    pub app: Option<(&'a str, &'a [u8])>,
    /// The metadata entries in wire order (a key repeated later wins, as in a map).
    pub metadata: Vec<(&'a str, &'a str)>,
}

impl Frame {
    /// The payload and metadata of a publish in the usual layout (see the module docs), or
    /// `None` when the frame is not a publish or prost must decode it.
    pub fn plain_publish(&self) -> Option<PlainPublish<'_>> {
        // Every publish frame, parsed or built, knows where its content is and whether it
        // has metadata (other kinds have no layout): only the metadata, when there is any,
        // is walked for.
        let layout = self.data.publish_layout?;
        let buf: &[u8] = &self.data.bytes;
        let mut plain = PlainPublish::default();
        if layout.has_metadata {
            for field in Fields::new(buf, 0, buf.len()) {
                let field = field.ok()?;
                if field.number == 4 {
                    plain.metadata.push(metadata_entry(buf, &field)?);
                }
            }
        }
        if let Some(content) = &layout.content {
            plain.app = Some(app_payload(buf, content)?);
        }
        Some(plain)
    }
}

/// The `ApplicationPayload` inside a `Content`, which must hold nothing else.
fn app_payload<'a>(buf: &'a [u8], content: &Field) -> Option<(&'a str, &'a [u8])> {
    let (start, end) = content.bytes()?;
    let mut fields = Fields::new(buf, start, end);
    let app = fields.next()?.ok()?;
    if app.number != 1 || fields.next().is_some() {
        return None;
    }
    let (start, end) = app.bytes()?;
    let mut fields = Fields::new(buf, start, end);
    let mut next = fields.next().transpose().ok()?;
    let mut payload_type = "";
    if let Some(field) = next.filter(|f| f.number == 1) {
        payload_type = text(buf, &field)?;
        next = fields.next().transpose().ok()?;
    }
    let mut blob: &[u8] = &[];
    if let Some(field) = next.filter(|f| f.number == 2) {
        let (start, end) = field.bytes()?;
        blob = buf.get(start..end)?;
        next = fields.next().transpose().ok()?;
    }
    match next {
        None => Some((payload_type, blob)),
        Some(_) => None,
    }
}

/// One metadata map entry: optional key (1), then optional value (2), nothing else.
fn metadata_entry<'a>(buf: &'a [u8], entry: &Field) -> Option<(&'a str, &'a str)> {
    let (start, end) = entry.bytes()?;
    let mut fields = Fields::new(buf, start, end);
    let mut next = fields.next().transpose().ok()?;
    let mut key = "";
    if let Some(field) = next.filter(|f| f.number == 1) {
        key = text(buf, &field)?;
        next = fields.next().transpose().ok()?;
    }
    let mut value = "";
    if let Some(field) = next.filter(|f| f.number == 2) {
        value = text(buf, &field)?;
        next = fields.next().transpose().ok()?;
    }
    match next {
        None => Some((key, value)),
        Some(_) => None,
    }
}

/// A length-delimited field as UTF-8 text.
fn text<'a>(buf: &'a [u8], field: &Field) -> Option<&'a str> {
    let Value::Bytes { start, end } = field.value else {
        return None;
    };
    std::str::from_utf8(buf.get(start as usize..end as usize)?).ok()
}

#[cfg(test)]
#[path = "plain_tests.rs"]
mod tests;
