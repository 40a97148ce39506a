//! [`ForwardedCache`]: a frame's forwarded encoding, kept for the links after the first.
//!
//! A node forwarding one frame to many links (a group's fan-out) writes nearly the same bytes
//! to each: the TTL is the same for every link, and every link with a MAC key puts its tag at
//! the same place. Only the tag's value differs. Re-encoding per link (the header patch, the
//! lengths and keys, a dozen small copies: about a thousand instructions for a small message)
//! is therefore done once. The second time a frame is encoded, the encoding is kept with the
//! tag's place (an [`Image`]), and from then on each link copies it and writes its own tag
//! there.
//!
//! The first encoding is not kept: most frames leave on one link only (point-to-point
//! traffic, or an application's own publish), and for them keeping it would only cost an
//! allocation and a copy. Large frames are not kept either: a copy costs about what
//! encoding does there, and keeping one would double the frame's memory while it is queued.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BufMut;

use super::emit::{HeaderPatch, MAC_LEN};
use super::{Frame, HeaderView};

/// Largest frame whose forwarded encoding is kept.
const MAX_IMAGE_LEN: usize = 16 * 1024;

/// Per frame (shared by its clones): whether it was encoded already, and the kept encoding.
#[derive(Default)]
pub(crate) struct ForwardedCache {
    encoded_once: AtomicBool,
    image: OnceLock<Image>,
}

impl std::fmt::Debug for ForwardedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A cache, not part of what the frame says: frames that read alike print alike.
        f.write_str("ForwardedCache")
    }
}

/// A frame encoded for leaving with `ttl`, with or without a MAC.
struct Image {
    ttl: u32,
    bytes: Vec<u8>,
    /// Where the tag goes in `bytes` (`None`: encoded without a MAC). At most
    /// `bytes.len() - MAC_LEN`, as [`Image::encode`] checks.
    tag_at: Option<usize>,
}

impl Image {
    /// The encoding of `frame` for `ttl`, with a placeholder tag when `tagged`; `None` when
    /// the header needs walking (no patch), which is rare enough not to keep.
    fn encode(frame: &Frame, header: &HeaderView, ttl: u32, tagged: bool) -> Option<Image> {
        let patch = HeaderPatch::of(header, ttl, tagged)?;
        let mut bytes = Vec::with_capacity(frame.forwarded_len(ttl, tagged));
        let placeholder = [0u8; MAC_LEN];
        frame.encode_with_header(
            &mut bytes,
            header,
            ttl,
            tagged.then_some(&placeholder),
            Some(patch),
        );
        let tag_at = match tagged {
            false => None,
            true => {
                // Counted from the end: what follows the tag is copied unchanged from the
                // frame (the rest of the header, then the rest of the body and message).
                let data = &frame.data;
                let after_header = (data.body_content.end - header.field.end) as usize
                    + (data.bytes.len() - data.body.end as usize);
                let after_tag = match patch.mac_at {
                    Some(at) => header.content.end as usize - (at + MAC_LEN) + after_header,
                    None => after_header,
                };
                let at = bytes.len().checked_sub(after_tag + MAC_LEN)?;
                Some(at)
            }
        };
        Some(Image { ttl, bytes, tag_at })
    }

    fn fits(&self, ttl: u32, tagged: bool) -> bool {
        self.ttl == ttl && self.tag_at.is_some() == tagged
    }

    fn write(&self, out: &mut impl BufMut, mac: Option<&[u8; MAC_LEN]>) {
        match self.tag_at.zip(mac) {
            Some((at, tag)) => {
                // `at + MAC_LEN <= len` by construction.
                let (head, rest) = self.bytes.split_at(at);
                out.put_slice(head);
                out.put_slice(tag);
                out.put_slice(&rest[MAC_LEN..]);
            }
            None => out.put_slice(&self.bytes),
        }
    }
}

impl Frame {
    /// The kept encoding for leaving with `ttl`, if there is one and it fits.
    pub(super) fn image(&self, ttl: u32, tagged: bool) -> Option<&[u8]> {
        let image = self.data.forwarded.image.get()?;
        image.fits(ttl, tagged).then_some(&image.bytes[..])
    }

    /// Writes the frame as [`Frame::encode_forwarded`] does, from the kept encoding when one
    /// fits; keeps one when this frame was encoded before. False when it wrote nothing (the
    /// caller encodes).
    pub(super) fn write_from_image(
        &self,
        out: &mut impl BufMut,
        header: &HeaderView,
        ttl: u32,
        mac: Option<&[u8; MAC_LEN]>,
    ) -> bool {
        let cache = &self.data.forwarded;
        let tagged = mac.is_some();
        let image = match cache.image.get() {
            Some(image) => image,
            None => {
                if self.data.bytes.len() > MAX_IMAGE_LEN
                    || !cache.encoded_once.swap(true, Ordering::Relaxed)
                {
                    return false;
                }
                let Some(image) = Image::encode(self, header, ttl, tagged) else {
                    return false;
                };
                // Another link's writer may have kept one meanwhile: either is right.
                cache.image.get_or_init(|| image)
            }
        };
        if !image.fits(ttl, tagged) {
            return false;
        }
        image.write(out, mac);
        true
    }
}
