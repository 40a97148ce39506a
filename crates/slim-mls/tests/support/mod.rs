//! Shared test fixtures: a token-like validator, identities and a fixed virtual clock.
//!
//! The "token" is `<member id>|<hex signature public key>|<expiry, unix seconds>`: enough to
//! check the binding between credential and leaf key, and expiry, the way the session layer's
//! validator does with real identity tokens.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use slim_mls::{MemberId, MemberValidator, MlsClient, MlsIdentity, Suite};

/// The virtual "now" of the tests.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Tokens made by [`identity`] are valid this long.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Verifies test tokens; members named in `refused` are turned away.
#[derive(Default)]
pub struct TestValidator {
    refused: Mutex<HashSet<String>>,
}

impl TestValidator {
    pub fn refuse(&self, member: &str) {
        self.refused.lock().unwrap().insert(member.to_owned());
    }
}

fn parse(credential: &[u8]) -> Result<(String, Vec<u8>, u64), String> {
    let text = std::str::from_utf8(credential).map_err(|_| "token is not UTF-8".to_owned())?;
    let mut parts = text.split('|');
    let (Some(id), Some(key), Some(expiry), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("token has not three parts".into());
    };
    let key = hex_decode(key).ok_or("bad key hex")?;
    let expiry = expiry.parse().map_err(|_| "bad expiry".to_owned())?;
    Ok((id.to_owned(), key, expiry))
}

impl MemberValidator for TestValidator {
    fn validate(
        &self,
        credential: &[u8],
        signature_public_key: &[u8],
        now: SystemTime,
    ) -> Result<MemberId, String> {
        let (id, key, expiry) = parse(credential)?;
        if key != signature_public_key {
            return Err(format!("{id}: token pubkey does not match the leaf key"));
        }
        let now = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
        if now > expiry {
            return Err(format!("{id}: token expired"));
        }
        if self.refused.lock().unwrap().contains(&id) {
            return Err(format!("{id}: refused by policy"));
        }
        Ok(id)
    }

    fn member_id(&self, credential: &[u8]) -> Result<MemberId, String> {
        parse(credential).map(|(id, _, _)| id)
    }
}

/// An identity named `name` with a fresh key pair for `suite` and a token valid from `t0()`.
pub fn identity(name: &str, suite: Suite) -> MlsIdentity {
    identity_until(name, suite, t0() + TOKEN_LIFETIME)
}

/// An identity named `name` with a fresh key pair for `suite` and a token valid until `expiry`.
pub fn identity_until(name: &str, suite: Suite, expiry: SystemTime) -> MlsIdentity {
    let (secret, public) = MlsIdentity::generate_signing_keys(suite).unwrap();
    MlsIdentity::new(token(name, &public, expiry).into_bytes(), secret, public)
}

/// A test token binding `name` to `public` until `expiry`.
pub fn token(name: &str, public: &[u8], expiry: SystemTime) -> String {
    let expiry = expiry.duration_since(UNIX_EPOCH).unwrap().as_secs();
    format!("{name}|{}|{expiry}", hex_encode(public))
}

/// A client named `name` in `suite`, validated by `validator`.
pub fn client(name: &str, suite: Suite, validator: &Arc<TestValidator>) -> MlsClient {
    MlsClient::new(&identity(name, suite), suite, validator.clone()).unwrap()
}

pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
