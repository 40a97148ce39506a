//! Choosing connections from a route list: one (round-robin inside the most preferred
//! category) or all of them.
//!
//! A route list is sorted by [`ConnKind::rank`], so each category is a contiguous run and
//! "first non-empty category" is a forward scan. Nothing here allocates: this runs for every
//! forwarded message.

use crate::conn::{ConnId, ConnKind};

/// An element of a route list.
pub(crate) trait Candidate {
    fn conn(&self) -> ConnId;
    fn kind(&self) -> ConnKind;
}

/// Which connections a lookup may return.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Filter {
    /// Never this one: a message does not go back where it came from.
    pub(crate) exclude: ConnId,
    /// Leave out peers (full-mesh 1-hop rule for publishes from a peer).
    pub(crate) skip_peers: bool,
}

impl Filter {
    fn allows_kind(self, kind: ConnKind) -> bool {
        !(self.skip_peers && kind == ConnKind::Peer)
    }
}

/// One connection from the first category that has an allowed one, taking turns inside that
/// category. `cursor` is the list's round-robin position.
pub(crate) fn pick_one<C: Candidate>(
    list: &[C],
    cursor: &mut usize,
    filter: Filter,
) -> Option<ConnId> {
    let mut start = 0;
    while let Some(head) = list.get(start) {
        let kind = head.kind();
        let len = list[start..]
            .iter()
            .take_while(|c| c.kind() == kind)
            .count();
        if filter.allows_kind(kind) {
            let turn = *cursor;
            let first = &list[start + turn % len];
            if first.conn() != filter.exclude {
                *cursor = turn.wrapping_add(1);
                return Some(first.conn());
            }
            if len > 1 {
                // Skip the excluded connection's turn too, so the others still alternate
                // evenly.
                *cursor = turn.wrapping_add(2);
                return Some(list[start + turn.wrapping_add(1) % len].conn());
            }
        }
        start += len;
    }
    None
}

/// Calls `each` for every allowed connection of the list.
pub(crate) fn for_each<C: Candidate>(list: &[C], filter: Filter, mut each: impl FnMut(ConnId)) {
    for candidate in list {
        if candidate.conn() != filter.exclude && filter.allows_kind(candidate.kind()) {
            each(candidate.conn());
        }
    }
}

/// Position where a connection of `kind` goes to keep the list sorted by rank (after the
/// existing ones of the same kind, so older routes keep their turn order).
pub(crate) fn insertion_point<C: Candidate>(list: &[C], kind: ConnKind) -> usize {
    list.partition_point(|c| c.kind().rank() <= kind.rank())
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Candidate for (ConnId, ConnKind) {
        fn conn(&self) -> ConnId {
            self.0
        }
        fn kind(&self) -> ConnKind {
            self.1
        }
    }

    fn list(entries: &[(u64, ConnKind)]) -> Vec<(ConnId, ConnKind)> {
        entries.iter().map(|&(c, k)| (ConnId(c), k)).collect()
    }

    const NOBODY: Filter = Filter {
        exclude: ConnId(u64::MAX),
        skip_peers: false,
    };

    #[test]
    fn prefers_the_first_category_and_takes_turns_in_it() {
        use ConnKind::*;
        let routes = list(&[(1, Local), (2, Local), (3, Remote), (4, Edge)]);
        let mut cursor = 0;
        let picks: Vec<_> = (0..4)
            .map(|_| pick_one(&routes, &mut cursor, NOBODY).unwrap().0)
            .collect();
        assert_eq!(picks, [1, 2, 1, 2]);
    }

    #[test]
    fn skipping_the_incoming_connection_keeps_the_rest_even() {
        use ConnKind::*;
        let routes = list(&[(1, Peer), (2, Peer), (3, Peer)]);
        let filter = Filter {
            exclude: ConnId(1),
            ..NOBODY
        };
        let mut cursor = 0;
        let mut counts = [0; 4];
        for _ in 0..100 {
            counts[pick_one(&routes, &mut cursor, filter).unwrap().0 as usize] += 1;
        }
        assert_eq!(counts[1], 0);
        assert_eq!(counts[2], 50);
        assert_eq!(counts[3], 50);
    }

    #[test]
    fn falls_through_to_later_categories_and_honours_the_peer_filter() {
        use ConnKind::*;
        let routes = list(&[(1, Local), (2, Peer), (3, Edge)]);
        let mut cursor = 0;
        let from_local = Filter {
            exclude: ConnId(1),
            skip_peers: false,
        };
        assert_eq!(pick_one(&routes, &mut cursor, from_local), Some(ConnId(2)));
        let one_hop = Filter {
            exclude: ConnId(1),
            skip_peers: true,
        };
        assert_eq!(pick_one(&routes, &mut cursor, one_hop), Some(ConnId(3)));
        let mut all = Vec::new();
        for_each(&routes, one_hop, |c| all.push(c.0));
        assert_eq!(all, [3]);
        let only_self = list(&[(1, Local)]);
        assert_eq!(pick_one(&only_self, &mut cursor, from_local), None);
    }

    #[test]
    fn insertion_keeps_rank_order() {
        use ConnKind::*;
        let routes = list(&[(1, Local), (3, Edge), (2, Peer)]);
        assert_eq!(insertion_point(&routes, Local), 1);
        assert_eq!(insertion_point(&routes, Edge), 2);
        assert_eq!(insertion_point(&routes, Peer), 3);
        assert_eq!(insertion_point(&routes, Remote), 3);
    }
}
