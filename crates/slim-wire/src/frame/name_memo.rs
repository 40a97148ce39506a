//! [`NameMemo`]: the names this thread parsed last, with their views, so the same name bytes
//! are not validated again in every frame.
//!
//! Every frame carries two names, and on one link they are nearly always the same few (a
//! session's two ends, a channel): parsing them is about a quarter of parsing a frame. What
//! parsing a name accepts, and the view it gives, depends on the name's bytes only; views
//! hold offsets, which are kept here relative to the name's start. So a name whose bytes equal
//! a remembered name's bytes gets that name's view without being parsed: the same outcome,
//! checked by comparing the bytes. Only names that parsed successfully are remembered (an
//! invalid name is rejected by the parser every time, with its error), and only short ones,
//! in a few fixed slots per thread: no allocation, bounded memory, and a miss costs a length
//! comparison per slot and, for equal lengths, a comparison that usually stops in the first
//! bytes (the names' hashes).

use std::cell::RefCell;

use super::{NameView, Span};

/// Longest name remembered (a name with its id and three short strings is ~80 bytes).
const MAX_NAME_LEN: usize = 128;
/// Names remembered per thread, replaced round-robin.
const SLOTS: usize = 4;

#[derive(Clone, Copy)]
struct Entry {
    len: usize,
    bytes: [u8; MAX_NAME_LEN],
    /// The view with offsets relative to the name's first byte.
    view: NameView,
}

/// A few recently parsed names and their views.
pub(super) struct NameMemo {
    entries: [Option<Entry>; SLOTS],
    next: usize,
}

thread_local! {
    static MEMO: RefCell<NameMemo> = const { RefCell::new(NameMemo::new()) };
}

impl NameMemo {
    const fn new() -> Self {
        NameMemo {
            entries: [None; SLOTS],
            next: 0,
        }
    }

    /// The view of the name in `buf[span]`: remembered when its bytes were seen, otherwise
    /// `parse`'s, remembered when it succeeded.
    pub(super) fn view<E>(
        buf: &[u8],
        span: Span,
        parse: impl FnOnce(&[u8], Span) -> Result<NameView, E>,
    ) -> Result<NameView, E> {
        let Some(name) = buf.get(span.range()) else {
            return parse(buf, span);
        };
        if let Some(view) = MEMO.with_borrow(|memo| memo.find(name)) {
            return Ok(shift(view, span.start, true));
        }
        let view = parse(buf, span)?;
        MEMO.with_borrow_mut(|memo| memo.remember(name, shift(view, span.start, false)));
        Ok(view)
    }

    fn find(&self, name: &[u8]) -> Option<NameView> {
        self.entries.iter().flatten().find_map(|entry| {
            let known = entry.bytes.get(..entry.len)?;
            (entry.len == name.len() && known == name).then_some(entry.view)
        })
    }

    fn remember(&mut self, name: &[u8], view: NameView) {
        let mut bytes = [0; MAX_NAME_LEN];
        let (Some(prefix), Some(slot)) =
            (bytes.get_mut(..name.len()), self.entries.get_mut(self.next))
        else {
            return;
        };
        prefix.copy_from_slice(name);
        *slot = Some(Entry {
            len: name.len(),
            bytes,
            view,
        });
        self.next = (self.next + 1) % SLOTS;
    }
}

/// Moves the view's string offsets by `by`: forward (onto the name at `by`) or back (relative
/// to the name's start).
fn shift(mut view: NameView, by: u32, forward: bool) -> NameView {
    if let Some(strings) = view.strings.as_mut() {
        for span in strings {
            *span = if forward {
                Span {
                    start: span.start + by,
                    end: span.end + by,
                }
            } else {
                Span {
                    start: span.start - by,
                    end: span.end - by,
                }
            };
        }
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parser that counts its calls and accepts names starting with 1.
    fn counting(calls: &std::cell::Cell<u32>) -> impl Fn(&[u8], Span) -> Result<NameView, ()> {
        |buf, span| {
            calls.set(calls.get() + 1);
            match buf.get(span.start as usize) {
                Some(1) => Ok(NameView {
                    encoded: Some([u64::from(span.len() as u32), 0, 0]),
                    id: None,
                    strings: Some([Span::new(span.start as usize + 1, span.end as usize); 3]),
                }),
                _ => Err(()),
            }
        }
    }

    #[test]
    fn the_same_bytes_anywhere_reuse_the_view_with_offsets_moved() {
        let calls = std::cell::Cell::new(0);
        let parse = counting(&calls);
        let buf = [9, 1, 7, 7, 9, 9, 1, 7, 7];
        let first = NameMemo::view(&buf, Span::new(1, 4), &parse).unwrap();
        let again = NameMemo::view(&buf, Span::new(6, 9), &parse).unwrap();
        assert_eq!(calls.get(), 1, "the second name was not parsed");
        assert_eq!(first.strings, Some([Span::new(2, 4); 3]));
        assert_eq!(again.strings, Some([Span::new(7, 9); 3]));
        assert_eq!(again.encoded, first.encoded);
    }

    #[test]
    fn failures_are_not_remembered_and_other_bytes_are_parsed() {
        let calls = std::cell::Cell::new(0);
        let parse = counting(&calls);
        let buf = [2, 7, 1, 8];
        assert!(NameMemo::view(&buf, Span::new(0, 2), &parse).is_err());
        assert!(NameMemo::view(&buf, Span::new(0, 2), &parse).is_err());
        assert_eq!(calls.get(), 2);
        NameMemo::view(&buf, Span::new(2, 4), &parse).unwrap();
        // A prefix of a remembered name is another name.
        NameMemo::view(&buf, Span::new(2, 3), &parse).unwrap();
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn long_names_are_parsed_every_time_and_slots_are_reused() {
        let calls = std::cell::Cell::new(0);
        let parse = counting(&calls);
        let mut long = vec![1u8; MAX_NAME_LEN + 1];
        NameMemo::view(&long, Span::new(0, long.len()), &parse).unwrap();
        NameMemo::view(&long, Span::new(0, long.len()), &parse).unwrap();
        assert_eq!(calls.get(), 2);
        // More distinct names than slots: the oldest is parsed again, the newest is not.
        for round in 0..2 {
            for len in 1..=SLOTS + 1 {
                long.fill(1);
                NameMemo::view(&long, Span::new(0, len), &parse).unwrap();
            }
            assert_eq!(calls.get(), 2 + (round + 1) * (SLOTS as u32 + 1));
        }
        NameMemo::view(&long, Span::new(0, SLOTS + 1), &parse).unwrap();
        assert_eq!(calls.get(), 2 + 2 * (SLOTS as u32 + 1));
    }
}
