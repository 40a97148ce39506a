//! Exported group state: the library's snapshot of the current epoch, framed with the group id.
//!
//! Layout: `"SLIMMLS\x01"` (magic + version), group id length (u16, big endian), group id,
//! mls-rs snapshot bytes. The snapshot holds the signer and the epoch secrets, so the blob is
//! as sensitive as the signing key; the persistence layer encrypts it.

use std::{sync::Arc, time::SystemTime};

use mls_rs::GroupStateStorage;
use mls_rs_core::group::GroupState;

use crate::{MlsClient, MlsGroup, StateError, client::LibraryParts};

const MAGIC: &[u8; 8] = b"SLIMMLS\x01";

/// Frames a snapshot for export.
pub(crate) fn encode(group_id: &[u8], snapshot: &[u8]) -> Vec<u8> {
    let id_len = u16::try_from(group_id.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + group_id.len() + snapshot.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&id_len.to_be_bytes());
    out.extend_from_slice(group_id.get(..usize::from(id_len)).unwrap_or(group_id));
    out.extend_from_slice(snapshot);
    out
}

/// Splits an exported blob into group id and snapshot.
fn decode(bytes: &[u8]) -> Result<(&[u8], &[u8]), StateError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(StateError::Malformed)?;
    let (len, rest) = rest.split_first_chunk::<2>().ok_or(StateError::Malformed)?;
    let len = usize::from(u16::from_be_bytes(*len));
    if len == 0 || rest.len() <= len {
        return Err(StateError::Malformed);
    }
    Ok(rest.split_at(len))
}

impl MlsClient {
    /// Restores a group exported with [`MlsGroup::export_state`] by this identity in this suite.
    /// Past epochs are not restored: messages from before the export no longer decrypt.
    pub fn import_group(&self, state: &[u8], now: SystemTime) -> Result<MlsGroup, StateError> {
        let (group_id, snapshot) = decode(state)?;
        let inner = self.inner();
        let mut parts = LibraryParts::new(inner, now);
        parts
            .storage
            .write(
                GroupState {
                    id: group_id.to_vec(),
                    data: snapshot.to_vec().into(),
                },
                Vec::new(),
                Vec::new(),
            )
            .map_err(|_| StateError::Malformed)?;
        let group = parts.client.load_group(group_id)?;
        let ours = group.cipher_suite() == inner.suite.cipher_suite()
            && group.current_member_signing_identity()? == &inner.identity.signing_identity;
        if !ours {
            return Err(StateError::NotOurs);
        }
        Ok(MlsGroup::new(group, parts, Arc::clone(inner))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips() {
        let blob = encode(b"group", b"snapshot");
        assert_eq!(decode(&blob).unwrap(), (&b"group"[..], &b"snapshot"[..]));
    }

    #[test]
    fn truncated_or_foreign_blobs_are_refused() {
        let blob = encode(b"group", b"snapshot");
        for cut in 0..MAGIC.len() + 2 + 5 + 1 {
            assert!(matches!(decode(&blob[..cut]), Err(StateError::Malformed)));
        }
        assert!(matches!(decode(b"not a state"), Err(StateError::Malformed)));
        assert!(matches!(
            decode(&encode(b"", b"x")),
            Err(StateError::Malformed)
        ));
    }
}
