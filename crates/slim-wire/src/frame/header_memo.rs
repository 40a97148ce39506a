//! [`HeaderMemo`]: the routing headers this thread parsed last, with their views, so a header
//! that differs from a recent one only in its MAC is not validated again.
//!
//! Consecutive frames of one flow carry the same routing header: the same two names with
//! their strings, the same identity token (about 230 bytes), fanout and TTL. Only the link's
//! MAC changes from frame to frame, and a fan-out sends one header to every member's link
//! with a different MAC each. Parsing the header is about half of parsing a frame. What
//! parsing it accepts, and the view it gives, depends on its bytes only, and on the MAC only
//! through its position and length ([`HeaderStamp`] says why). So a header that matches a
//! remembered header's stamp gets that header's view without being parsed: the same outcome,
//! checked by comparing the bytes.
//!
//! Like [`super::name_memo`]: only headers that parsed successfully are remembered, only
//! short ones, in a few slots per thread replaced round-robin (each slot's buffer is reused),
//! so memory stays bounded and a miss costs a length comparison per slot and a comparison
//! that usually stops in the first bytes (the names' hashes).
//!
//! Each header remembered gets a [`HeaderKey`] no other header ever gets, and every view of
//! it carries the key. Whoever reads frames after the parser (the MAC check, a session
//! layer's name cache) can then tell two frames' headers alike by comparing keys instead of
//! the ~450 bytes again.

use std::cell::RefCell;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::header_stamp::HeaderStamp;
use super::{HeaderView, Span};

/// Names one remembered routing header: frames whose headers carry the same key have headers
/// equal in every byte but the MAC's value (see [`super::Frame::header_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderKey(NonZeroU64);

impl HeaderKey {
    /// A key never handed out before, in this process.
    fn fresh() -> HeaderKey {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // Bumped once per header parsed afresh: a u64 does not wrap in any process's life
        // (centuries at a billion headers a second), so keys are never reused.
        let value = NEXT.fetch_add(1, Ordering::Relaxed);
        HeaderKey(NonZeroU64::new(value).unwrap_or(NonZeroU64::MIN))
    }
}

/// Longest header remembered (two names with strings and a shared-secret token are ~450).
const MAX_HEADER_LEN: usize = 1024;
/// Headers remembered per thread.
const SLOTS: usize = 4;

#[derive(Default)]
struct Entry {
    /// The header's bytes, MAC value aside.
    stamp: HeaderStamp,
    /// The view as parsed, for a field that started at `at`.
    view: Arc<HeaderView>,
    at: u32,
}

/// A few recently parsed headers and their views.
pub(super) struct HeaderMemo {
    entries: Vec<Entry>,
    next: usize,
}

thread_local! {
    static MEMO: RefCell<HeaderMemo> = const { RefCell::new(HeaderMemo::new()) };
}

impl HeaderMemo {
    const fn new() -> Self {
        HeaderMemo {
            entries: Vec::new(),
            next: 0,
        }
    }

    /// The view of the header field `buf[field]`: remembered when its bytes (MAC aside) were
    /// seen, otherwise `parse`'s, remembered when it succeeded.
    pub(super) fn view<E>(
        buf: &[u8],
        field: Span,
        parse: impl FnOnce() -> Result<HeaderView, E>,
    ) -> Result<Arc<HeaderView>, E> {
        let Some(header) = buf.get(field.range()) else {
            return parse().map(Arc::new);
        };
        // Frames of one flow usually put the header at the same offset: then the view is
        // shared as it is.
        let remembered = MEMO.with_borrow(|memo| {
            memo.find(header).map(|(view, at)| match at == field.start {
                true => Arc::clone(view),
                false => Arc::new(view.rebased(at, field.start)),
            })
        });
        if let Some(view) = remembered {
            return Ok(view);
        }
        let mut view = parse()?;
        if header.len() > MAX_HEADER_LEN {
            return Ok(Arc::new(view));
        }
        view.key = Some(HeaderKey::fresh());
        let view = Arc::new(view);
        MEMO.with_borrow_mut(|memo| memo.remember(header, &view, field.start));
        Ok(view)
    }

    fn find(&self, header: &[u8]) -> Option<(&Arc<HeaderView>, u32)> {
        self.entries
            .iter()
            .find(|entry| entry.stamp.matches_bytes(header))
            .map(|entry| (&entry.view, entry.at))
    }

    fn remember(&mut self, header: &[u8], view: &Arc<HeaderView>, at: u32) {
        if self.entries.len() < SLOTS {
            self.entries.push(Entry::default());
        }
        let index = self.next % self.entries.len();
        self.next = (index + 1) % SLOTS;
        let Some(entry) = self.entries.get_mut(index) else {
            return;
        };
        entry
            .stamp
            .set_bytes(header, view.mac.map(|mac| mac.relative_to(at)));
        entry.view = Arc::clone(view);
        entry.at = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A view with a MAC at `mac` (relative to a field at 0) and a marker in `fanout`.
    fn view_with(mac: Option<Span>, marker: u32) -> HeaderView {
        HeaderView {
            field: Span::new(0, 10),
            content: Span::new(2, 10),
            identity: Span::new(3, 5),
            fanout: marker,
            mac,
            ..HeaderView::default()
        }
    }

    #[test]
    fn a_header_differing_only_in_its_mac_value_reuses_the_view_moved() {
        let calls = std::cell::Cell::new(0);
        let mac = Some(Span::new(6, 9));
        let parse = || {
            calls.set(calls.get() + 1);
            Ok::<_, ()>(view_with(mac, 7))
        };
        let first = [1, 2, 3, 4, 5, 6, 0xaa, 0xbb, 0xcc, 10];
        HeaderMemo::view(&first, Span::new(0, 10), parse).unwrap();
        // The same header with another MAC, further into a larger buffer.
        let mut buf = vec![0u8; 5];
        buf.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0x11, 0x22, 0x33, 10]);
        let again = HeaderMemo::view(&buf, Span::new(5, 15), || {
            calls.set(calls.get() + 1);
            Ok::<_, ()>(HeaderView::default())
        })
        .unwrap();
        assert_eq!(calls.get(), 1, "the second header was not parsed");
        assert_eq!(again.fanout, 7);
        assert_eq!(again.field, Span::new(5, 15));
        assert_eq!(again.identity, Span::new(8, 10));
        assert_eq!(again.mac, Some(Span::new(11, 14)));
    }

    #[test]
    fn a_difference_outside_the_mac_value_is_parsed_and_failures_are_not_kept() {
        let calls = std::cell::Cell::new(0);
        let counting = |result: Result<HeaderView, ()>| {
            calls.set(calls.get() + 1);
            result
        };
        let mac = Some(Span::new(6, 9));
        let known = [9, 2, 3, 4, 5, 6, 0xaa, 0xbb, 0xcc, 10];
        HeaderMemo::view(&known, Span::new(0, 10), || counting(Ok(view_with(mac, 1)))).unwrap();
        // Byte before the MAC, byte after it, and the MAC's own length byte (index 5).
        for at in [0, 5, 9] {
            let mut other = known;
            other[at] ^= 0x40;
            let view =
                HeaderMemo::view(&other, Span::new(0, 10), || counting(Ok(view_with(mac, 2))));
            assert_eq!(view.unwrap().fanout, 2, "byte {at} differs: parsed again");
        }
        assert_eq!(calls.get(), 4);
        let bad = [8u8; 10];
        assert!(HeaderMemo::view(&bad, Span::new(0, 10), || counting(Err(()))).is_err());
        assert!(HeaderMemo::view(&bad, Span::new(0, 10), || counting(Err(()))).is_err());
        assert_eq!(
            calls.get(),
            6,
            "a refused header is refused by the parser every time"
        );
    }

    #[test]
    fn without_a_mac_every_byte_counts_and_long_headers_are_not_kept() {
        let calls = std::cell::Cell::new(0);
        let parse = |marker| {
            calls.set(calls.get() + 1);
            Ok::<_, ()>(view_with(None, marker))
        };
        let plain = [7u8, 1, 2, 3];
        HeaderMemo::view(&plain, Span::new(0, 4), || parse(1)).unwrap();
        HeaderMemo::view(&plain, Span::new(0, 4), || parse(1)).unwrap();
        assert_eq!(calls.get(), 1);
        let changed = [7u8, 1, 2, 4];
        assert_eq!(
            HeaderMemo::view(&changed, Span::new(0, 4), || parse(2))
                .unwrap()
                .fanout,
            2
        );
        let long = vec![5u8; MAX_HEADER_LEN + 1];
        let span = Span::new(0, long.len());
        HeaderMemo::view(&long, span, || parse(3)).unwrap();
        HeaderMemo::view(&long, span, || parse(3)).unwrap();
        assert_eq!(calls.get(), 4);
    }
}
