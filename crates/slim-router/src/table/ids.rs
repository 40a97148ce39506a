//! [`Ids`]: the subscription ids that keep one route alive (its reference count).
//!
//! Almost every route is held by exactly one subscription, so the first id lives inline and
//! only a second one allocates.

/// A non-empty set of subscription ids.
#[derive(Clone, Debug)]
pub(crate) struct Ids {
    first: u64,
    rest: Vec<u64>,
}

/// What [`Ids::remove`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdRemoval {
    /// The id was not in the set.
    Absent,
    /// Removed; other ids remain.
    Removed,
    /// It was the only id: the caller must drop the whole set (it is left unchanged).
    Last,
}

impl Ids {
    pub(crate) fn new(id: u64) -> Self {
        Ids {
            first: id,
            rest: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        1 + self.rest.len()
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.first == id || self.rest.contains(&id)
    }

    /// Adds `id`; false when it was already present.
    pub(crate) fn insert(&mut self, id: u64) -> bool {
        if self.contains(id) {
            return false;
        }
        self.rest.push(id);
        true
    }

    pub(crate) fn remove(&mut self, id: u64) -> IdRemoval {
        if self.first == id {
            match self.rest.pop() {
                Some(next) => {
                    self.first = next;
                    IdRemoval::Removed
                }
                None => IdRemoval::Last,
            }
        } else if let Some(pos) = self.rest.iter().position(|&x| x == id) {
            self.rest.swap_remove(pos);
            IdRemoval::Removed
        } else {
            IdRemoval::Absent
        }
    }

    /// The id released when an unsubscribe names one the route does not hold: the smallest,
    /// so the choice is deterministic and easy to state.
    pub(crate) fn smallest(&self) -> u64 {
        self.rest.iter().copied().fold(self.first, u64::min)
    }

    pub(crate) fn to_vec(&self) -> Vec<u64> {
        let mut all = Vec::with_capacity(self.len());
        all.push(self.first);
        all.extend_from_slice(&self.rest);
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_references_and_reports_the_last() {
        let mut ids = Ids::new(1);
        assert!(!ids.insert(1));
        assert!(ids.insert(2));
        assert!(ids.insert(3));
        assert_eq!(ids.len(), 3);
        assert_eq!(ids.remove(9), IdRemoval::Absent);
        assert_eq!(ids.remove(1), IdRemoval::Removed);
        assert_eq!(ids.remove(3), IdRemoval::Removed);
        assert_eq!(ids.to_vec(), vec![2]);
        assert_eq!(ids.remove(2), IdRemoval::Last);
        assert!(
            ids.contains(2),
            "the last id stays until the caller drops the set"
        );
    }
}
