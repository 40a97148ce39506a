//! [`NameCache`]: the names of recent senders, so a received message's names are not hashed
//! and allocated again.
//!
//! `Name::from_proto` checks that the three strings of a name hash to its encoded components
//! (three XXH64 runs) and copies them into a new shared allocation. A session layer receives
//! nearly all of its traffic from a handful of names (its peers, its channels, itself), so
//! the last few are kept: a received name whose key and strings equal a kept one is that
//! name (a reference-count increment), and only a new name takes the full path. The cache is
//! a small fixed array ([`Recent`]), so its memory is bounded whatever a peer sends.

use slim_wire::frame::NameParts;
use slim_wire::{InstanceId, Name, NameError, NameKey, proto};

use super::recent::Recent;

/// Names kept; enough for a moderator's busy group, small enough to scan.
const SLOTS: usize = 16;

/// The last names resolved, replaced round-robin.
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    slots: Recent<Name, SLOTS>,
}

impl NameCache {
    /// [`Self::resolve`] of a name read from a frame's view (its key and strings as sent):
    /// a kept name without allocating, else the full path on the name rebuilt.
    pub fn resolve_parts(&mut self, (key, strings): NameParts<'_>) -> Result<Name, NameError> {
        if let Some(known) = self.slots.find(|known| {
            known.key() == key
                && match (known.components(), strings) {
                    (Some(kept), Some(sent)) => kept.map(str::as_bytes) == sent,
                    (None, None) => true,
                    _ => false,
                }
        }) {
            return Ok(known.clone());
        }
        let [c0, c1, c2] = key.components;
        let (id_0, id_1) = ((key.id.0 >> 64) as u64, key.id.0 as u64);
        self.resolve(&proto::Name {
            name: Some(proto::EncodedName {
                component_0: c0,
                component_1: c1,
                component_2: c2,
                name_id: (!key.id.is_any()).then_some(proto::NameId { id_0, id_1 }),
            }),
            str_name: strings
                .map(|[a, b, c]| {
                    Ok::<_, NameError>(proto::StringName {
                        str_component_0: text(a)?,
                        str_component_1: text(b)?,
                        str_component_2: text(c)?,
                    })
                })
                .transpose()?,
        })
    }

    /// `Name::from_proto`, answered from the cache when the name was seen recently.
    pub fn resolve(&mut self, name: &proto::Name) -> Result<Name, NameError> {
        let encoded = name.name.as_ref().ok_or(NameError::MissingEncoded)?;
        let key = NameKey {
            components: [
                encoded.component_0,
                encoded.component_1,
                encoded.component_2,
            ],
            id: encoded.name_id.as_ref().map_or(InstanceId::ANY, |id| {
                InstanceId::from_halves(id.id_0, id.id_1)
            }),
        };
        if let Some(known) = self
            .slots
            .find(|known| known.key() == key && same_strings(known, name.str_name.as_ref()))
        {
            return Ok(known.clone());
        }
        let resolved = Name::from_proto(name)?;
        self.slots.keep(resolved.clone());
        Ok(resolved)
    }
}

/// True when `from_proto` of these strings would give `known`'s strings: the same text (which
/// then hashes to the same key), or no text on either side.
fn same_strings(known: &Name, strings: Option<&proto::StringName>) -> bool {
    match (known.components(), strings) {
        (Some([a, b, c]), Some(s)) => {
            a == s.str_component_0 && b == s.str_component_1 && c == s.str_component_2
        }
        (None, None) => true,
        _ => false,
    }
}

/// A name string from a frame (UTF-8 since the frame was parsed; refused otherwise).
fn text(bytes: &[u8]) -> Result<String, NameError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| NameError::BadComponent(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto_name(text: &str, id: u128) -> proto::Name {
        text.parse::<Name>()
            .unwrap()
            .with_id(InstanceId(id))
            .to_proto()
    }

    fn strings(name: &Name) -> Option<[String; 3]> {
        name.components().map(|parts| parts.map(str::to_owned))
    }

    #[test]
    fn answers_like_from_proto() {
        let mut cache = NameCache::default();
        let mut bogus = proto_name("org/ns/alice", 1);
        if let Some(s) = bogus.str_name.as_mut() {
            s.str_component_2 = "mallory".into(); // does not hash to the key
        }
        let mut bare = proto_name("org/ns/alice", 1);
        bare.str_name = None;
        let inputs = [
            proto_name("org/ns/alice", 1),
            proto_name("org/ns/alice", 1),
            proto_name("org/ns/alice", 2),
            bogus.clone(),
            bare.clone(),
            proto_name("org/ns/alice", 1),
            bogus,
            bare,
        ];
        // Twice over, and through more names than slots, so hits and evictions both happen.
        let many = (0..40).map(|i| proto_name(&format!("org/ns/s{i}"), i));
        for input in inputs
            .iter()
            .cloned()
            .chain(many)
            .chain(inputs.iter().cloned())
        {
            let expected = Name::from_proto(&input).unwrap();
            let got = cache.resolve(&input).unwrap();
            assert_eq!(got.key(), expected.key());
            assert_eq!(strings(&got), strings(&expected));
        }
        assert!(cache.slots.len() <= SLOTS);
        assert_eq!(
            cache.resolve(&proto::Name::default()).unwrap_err(),
            Name::from_proto(&proto::Name::default()).unwrap_err()
        );
    }
}
