//! A test identity with real verification rules: tokens name their holder and carry a
//! validity window, signatures are a keyed hash of the signed bytes bound to the token's
//! holder, and a verifier accepts only tokens of its trust domain. No cryptographic
//! strength; just enough that a forged or tampered command is rejected in simulations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use slim_session::{Identity, SecurityError};

/// An identity in trust domain `domain`.
#[derive(Clone, Debug)]
pub struct FakeIdentity {
    holder: String,
    domain: String,
}

impl FakeIdentity {
    pub fn new(holder: &str, domain: &str) -> Self {
        FakeIdentity {
            holder: holder.to_owned(),
            domain: domain.to_owned(),
        }
    }
}

/// FNV-1a over the parts: a stand-in for a signature.
fn tag(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl Identity for FakeIdentity {
    fn token(&mut self, now: SystemTime) -> Result<std::sync::Arc<str>, SecurityError> {
        let issued = secs(now);
        let mac = tag(&[
            self.domain.as_bytes(),
            self.holder.as_bytes(),
            &issued.to_be_bytes(),
        ]);
        Ok(format!("{}:{issued}:{mac:016x}", self.holder).into())
    }

    fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>, SecurityError> {
        Ok(tag(&[self.domain.as_bytes(), self.holder.as_bytes(), data])
            .to_be_bytes()
            .to_vec())
    }

    fn verify(
        &mut self,
        token: &str,
        data: &[u8],
        signature: &[u8],
        now: SystemTime,
    ) -> Result<String, SecurityError> {
        let mut parts = token.split(':');
        let (Some(holder), Some(issued), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SecurityError::Identity("malformed token".into()));
        };
        let issued: u64 = issued
            .parse()
            .map_err(|_| SecurityError::Identity("bad timestamp".into()))?;
        let expected = tag(&[
            self.domain.as_bytes(),
            holder.as_bytes(),
            &issued.to_be_bytes(),
        ]);
        if format!("{expected:016x}") != mac {
            return Err(SecurityError::Identity("token not from this domain".into()));
        }
        if secs(now).saturating_sub(issued) > 3600 {
            return Err(SecurityError::Identity("token expired".into()));
        }
        let wanted = tag(&[self.domain.as_bytes(), holder.as_bytes(), data]).to_be_bytes();
        if signature != wanted {
            return Err(SecurityError::Signature("bad signature".into()));
        }
        Ok(holder.to_owned())
    }
}
