//! Hierarchical names: `org/namespace/service` plus a 128-bit instance id.
//!
//! Nodes route only on [`NameKey`] (three component hashes and the id); the strings travel
//! alongside for display and configuration. A [`Name`] keeps both, and guarantees that when it
//! carries strings they hash to its key.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::hash::{FIRST_RESERVED_ID, component_hash};
use crate::proto;

/// A 128-bit instance id. [`InstanceId::ANY`] (all ones) means "any instance".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u128);

impl InstanceId {
    /// "No particular instance": anycast to any subscriber of the service.
    pub const ANY: InstanceId = InstanceId(u128::MAX);

    /// True for the any-instance id.
    pub fn is_any(self) -> bool {
        self == Self::ANY
    }

    /// True for ids upstream reserves (the top 51 values, including [`Self::ANY`]).
    pub fn is_reserved(self) -> bool {
        self.0 >= FIRST_RESERVED_ID
    }

    /// High 64 bits, as carried in `NameId.id_0`.
    pub fn high(self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// Low 64 bits, as carried in `NameId.id_1`.
    pub fn low(self) -> u64 {
        self.0 as u64
    }

    /// Joins the two wire halves.
    pub fn from_halves(high: u64, low: u64) -> Self {
        InstanceId((u128::from(high) << 64) | u128::from(low))
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Ids print as UUIDs, as upstream does; the any-instance id prints as `*`.
impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("*")
        } else {
            fmt::Display::fmt(&uuid::Uuid::from_u128(self.0).hyphenated(), f)
        }
    }
}

impl FromStr for InstanceId {
    type Err = NameError;

    /// Accepts `*`, a UUID (any form the `uuid` crate reads) or a decimal integer.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" || s == "NULL_COMPONENT" {
            return Ok(Self::ANY);
        }
        if let Ok(n) = s.parse::<u128>() {
            return Ok(InstanceId(n));
        }
        uuid::Uuid::parse_str(s)
            .map(|u| InstanceId(u.as_u128()))
            .map_err(|_| NameError::BadInstanceId(s.to_owned()))
    }
}

/// What nodes route on: the three component hashes and the instance id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct NameKey {
    /// XXH64 hashes of `org`, `namespace` and `service`.
    pub components: [u64; 3],
    /// The instance id; [`InstanceId::ANY`] for "any instance".
    pub id: InstanceId,
}

impl NameKey {
    /// The same service with a different instance id.
    pub fn with_id(self, id: InstanceId) -> Self {
        NameKey { id, ..self }
    }
}

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The text form must be `org/ns/svc` or `org/ns/svc/<id>`.
    #[error("name {0:?} must have the form org/namespace/service[/id]")]
    BadShape(String),
    /// A component was empty or contained `/`.
    #[error("name component {0:?} must be non-empty and must not contain '/'")]
    BadComponent(String),
    /// The instance id was neither `*`, a UUID nor a decimal integer.
    #[error("instance id {0:?} is not '*', a UUID or a decimal integer")]
    BadInstanceId(String),
    /// A wire name lacked its encoded (hashed) form.
    #[error("name has no encoded form")]
    MissingEncoded,
}

/// A validated name: routing key plus (usually) the three strings it was made from.
///
/// Equality and hashing use the key only, so a name received without strings equals the same
/// name built from strings. Cloning is cheap (the strings are shared).
#[derive(Clone)]
pub struct Name {
    key: NameKey,
    strings: Option<Arc<[Box<str>; 3]>>,
}

impl Name {
    /// Builds a name from its components, with the any-instance id.
    pub fn new(org: &str, namespace: &str, service: &str) -> Result<Self, NameError> {
        let parts = [org, namespace, service];
        for part in parts {
            if part.is_empty() || part.contains('/') {
                return Err(NameError::BadComponent(part.to_owned()));
            }
        }
        let key = NameKey {
            components: parts.map(component_hash),
            id: InstanceId::ANY,
        };
        Ok(Name {
            key,
            strings: Some(Arc::new(parts.map(Box::from))),
        })
    }

    /// A name known only by its hashes (received without strings).
    pub fn from_key(key: NameKey) -> Self {
        Name { key, strings: None }
    }

    /// The same name with another instance id.
    pub fn with_id(&self, id: InstanceId) -> Self {
        Name {
            key: self.key.with_id(id),
            strings: self.strings.clone(),
        }
    }

    /// The routing key.
    pub fn key(&self) -> NameKey {
        self.key
    }

    /// The instance id.
    pub fn id(&self) -> InstanceId {
        self.key.id
    }

    /// The component strings, when known.
    pub fn components(&self) -> Option<[&str; 3]> {
        self.strings.as_deref().map(|[a, b, c]| [&**a, &**b, &**c])
    }

    /// True when both names are equal and carry the same strings (or neither carries any):
    /// they encode to the same bytes. Names cloned from one another share their strings, so
    /// that case needs no text comparison.
    pub fn same_encoding(&self, other: &Name) -> bool {
        self.key == other.key
            && match (&self.strings, &other.strings) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                (None, None) => true,
                _ => false,
            }
    }

    /// True when both names denote the same service, ignoring instance ids.
    pub fn same_service(&self, other: &Name) -> bool {
        self.key.components == other.key.components
    }

    /// Converts to the wire form, always writing the id explicitly (upstream reads an absent id
    /// as "any", but writes it explicitly; we do the same).
    pub fn to_proto(&self) -> proto::Name {
        let [c0, c1, c2] = self.key.components;
        proto::Name {
            name: Some(proto::EncodedName {
                component_0: c0,
                component_1: c1,
                component_2: c2,
                name_id: Some(proto::NameId {
                    id_0: self.key.id.high(),
                    id_1: self.key.id.low(),
                }),
            }),
            str_name: self.components().map(|[a, b, c]| proto::StringName {
                str_component_0: a.to_owned(),
                str_component_1: b.to_owned(),
                str_component_2: c.to_owned(),
            }),
        }
    }

    /// Validates a wire name. The encoded form is the truth; strings that do not hash to it are
    /// dropped rather than trusted, since routing never looks at them.
    pub fn from_proto(name: &proto::Name) -> Result<Self, NameError> {
        let encoded = name.name.as_ref().ok_or(NameError::MissingEncoded)?;
        let id = encoded.name_id.as_ref().map_or(InstanceId::ANY, |id| {
            InstanceId::from_halves(id.id_0, id.id_1)
        });
        let key = NameKey {
            components: [
                encoded.component_0,
                encoded.component_1,
                encoded.component_2,
            ],
            id,
        };
        let strings = name.str_name.as_ref().and_then(|s| {
            let parts = [
                s.str_component_0.as_str(),
                s.str_component_1.as_str(),
                s.str_component_2.as_str(),
            ];
            (parts.map(component_hash) == key.components).then(|| Arc::new(parts.map(Box::from)))
        });
        Ok(Name { key, strings })
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state)
    }
}

impl fmt::Display for Name {
    /// `org/ns/svc` for any-instance names, `org/ns/svc/<uuid>` otherwise; names received
    /// without strings print their hashes in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.components() {
            Some([a, b, c]) => write!(f, "{a}/{b}/{c}")?,
            None => {
                let [a, b, c] = self.key.components;
                write!(f, "{a:016x}/{b:016x}/{c:016x}")?
            }
        }
        if !self.key.id.is_any() {
            write!(f, "/{}", self.key.id)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [org, ns, svc] => Name::new(org, ns, svc),
            [org, ns, svc, id] => Ok(Name::new(org, ns, svc)?.with_id(id.parse()?)),
            _ => Err(NameError::BadShape(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_encoding_needs_equal_keys_and_strings() {
        let name: Name = "org/ns/svc".parse().unwrap();
        let rebuilt: Name = "org/ns/svc".parse().unwrap();
        assert!(name.same_encoding(&name.clone()));
        assert!(
            name.same_encoding(&rebuilt),
            "separate allocations, same text"
        );
        assert!(!name.same_encoding(&name.with_id(InstanceId(7))));
        let bare = Name::from_key(name.key());
        assert!(!name.same_encoding(&bare), "only one carries strings");
        assert!(bare.same_encoding(&Name::from_key(name.key())));
    }

    #[test]
    fn text_form_round_trips() {
        let name: Name = "org/ns/svc".parse().unwrap();
        assert_eq!(name.to_string(), "org/ns/svc");
        assert!(name.id().is_any());

        let with_id = name.with_id(InstanceId(0x1234));
        let text = with_id.to_string();
        assert_eq!(text, "org/ns/svc/00000000-0000-0000-0000-000000001234");
        assert_eq!(text.parse::<Name>().unwrap(), with_id);
        assert_eq!("org/ns/svc/4660".parse::<Name>().unwrap(), with_id);
        assert_eq!("org/ns/svc/*".parse::<Name>().unwrap(), name);
    }

    #[test]
    fn malformed_text_is_rejected_with_a_reason() {
        assert!(matches!("a/b".parse::<Name>(), Err(NameError::BadShape(_))));
        assert!(matches!(
            "a/b/c/d/e".parse::<Name>(),
            Err(NameError::BadShape(_))
        ));
        assert!(matches!(
            "a//c".parse::<Name>(),
            Err(NameError::BadComponent(_))
        ));
        assert!(matches!(
            "a/b/c/zz".parse::<Name>(),
            Err(NameError::BadInstanceId(_))
        ));
    }

    #[test]
    fn instance_id_halves_match_the_wire_layout() {
        let id = InstanceId::from_halves(1, 2);
        assert_eq!(id.0, (1u128 << 64) | 2);
        assert_eq!((id.high(), id.low()), (1, 2));
        assert!(InstanceId::ANY.is_reserved());
        assert!(!InstanceId(5).is_reserved());
    }

    #[test]
    fn proto_round_trip_keeps_key_and_strings() {
        let name = Name::new("org", "ns", "svc")
            .unwrap()
            .with_id(InstanceId(7));
        let back = Name::from_proto(&name.to_proto()).unwrap();
        assert_eq!(back, name);
        assert_eq!(back.components(), Some(["org", "ns", "svc"]));
    }

    #[test]
    fn absent_id_reads_as_any_and_mismatched_strings_are_dropped() {
        let mut wire = Name::new("org", "ns", "svc").unwrap().to_proto();
        if let Some(encoded) = wire.name.as_mut() {
            encoded.name_id = None;
        }
        if let Some(strings) = wire.str_name.as_mut() {
            strings.str_component_2 = "other".into();
        }
        let name = Name::from_proto(&wire).unwrap();
        assert!(name.id().is_any());
        assert_eq!(name.components(), None);
    }

    #[test]
    fn a_wire_name_needs_its_encoded_form() {
        let wire = proto::Name {
            name: None,
            str_name: None,
        };
        assert_eq!(Name::from_proto(&wire), Err(NameError::MissingEncoded));
    }
}
