//! [`Recent`]: the last few values of one kind a layer received, in a small fixed array.
//!
//! The caches of received values (names, identity tokens, routing headers) keep what nearly
//! all traffic repeats and must stay bounded whatever a peer sends: at most `N` values, the
//! oldest replaced first, looked up by a linear scan (cheaper than hashing at these sizes).

/// At most `N` values, replaced round-robin.
#[derive(Debug)]
pub(crate) struct Recent<T, const N: usize> {
    slots: Vec<T>,
    next: usize,
}

impl<T, const N: usize> Default for Recent<T, N> {
    fn default() -> Self {
        Recent {
            slots: Vec::new(),
            next: 0,
        }
    }
}

impl<T, const N: usize> Recent<T, N> {
    /// The first kept value that `matches`.
    pub fn find(&self, matches: impl FnMut(&&T) -> bool) -> Option<&T> {
        self.slots.iter().find(matches)
    }

    /// The first kept value that `matches`, to update in place.
    pub fn find_mut(&mut self, matches: impl FnMut(&&mut T) -> bool) -> Option<&mut T> {
        self.slots.iter_mut().find(matches)
    }

    /// Keeps `value`, in place of the oldest one when full.
    pub fn keep(&mut self, value: T) {
        if self.slots.len() < N {
            self.slots.push(value);
        } else if let Some(slot) = self.slots.get_mut(self.next) {
            *slot = value;
            self.next = (self.next + 1) % N;
        }
    }

    /// How many values are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }
}
