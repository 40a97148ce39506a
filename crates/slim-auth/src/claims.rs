//! [`Claims`]: what a verified identity token says about its holder, whatever the token kind.
//!
//! Every verifier returns the same shape so the session layer and MLS need not care whether a
//! peer used a shared secret or a JWT. The one claim they always need is `pubkey`, the base64
//! public signature key the holder signs headers and MLS messages with. Upstream places it
//! either at the top level of the claims or under a `custom_claims` object; [`Claims::pubkey`]
//! accepts both.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::keys::{KeyError, VerifyingKey};

/// Name of the claim that carries the holder's public signature key.
pub const PUBKEY_CLAIM: &str = "pubkey";

/// Name of the object under which some upstream tokens nest their custom claims.
pub const NESTED_CUSTOM_CLAIMS: &str = "custom_claims";

/// The verified claims of an identity token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token identifies. For shared-secret tokens this is the token id
    /// (`<base_id>_<random>`); for JWTs the `sub` claim.
    pub sub: String,
    /// Issued-at, unix seconds.
    pub iat: Option<u64>,
    /// Expiry, unix seconds. For shared-secret tokens: issue time plus the verifier's window.
    pub exp: Option<u64>,
    /// Issuer (JWT only).
    pub iss: Option<String>,
    /// Audiences (JWT only; a single-string `aud` becomes one element).
    pub aud: Vec<String>,
    /// Token id (JWT `jti`), when present.
    pub jti: Option<String>,
    /// Every other claim, `pubkey` included.
    pub custom: Map<String, Value>,
}

/// Why the `pubkey` claim could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PubkeyError {
    /// Neither `pubkey` nor `custom_claims.pubkey` is a string.
    #[error("token has no pubkey claim")]
    Missing,
    /// The claim is not standard base64.
    #[error("pubkey claim is not base64")]
    NotBase64,
    /// The decoded bytes are not a public key.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl Claims {
    /// The `pubkey` claim as sent: top level first, then under `custom_claims`.
    pub fn pubkey_base64(&self) -> Option<&str> {
        if let Some(Value::String(key)) = self.custom.get(PUBKEY_CLAIM) {
            return Some(key);
        }
        match self.custom.get(NESTED_CUSTOM_CLAIMS) {
            Some(Value::Object(nested)) => match nested.get(PUBKEY_CLAIM) {
                Some(Value::String(key)) => Some(key),
                _ => None,
            },
            _ => None,
        }
    }

    /// The raw bytes of the `pubkey` claim (standard base64, padding optional).
    pub fn pubkey_bytes(&self) -> Result<Vec<u8>, PubkeyError> {
        let encoded = self.pubkey_base64().ok_or(PubkeyError::Missing)?;
        STANDARD_PAD_OPTIONAL
            .decode(encoded)
            .map_err(|_| PubkeyError::NotBase64)
    }

    /// The holder's public signature key.
    pub fn pubkey(&self) -> Result<VerifyingKey, PubkeyError> {
        Ok(VerifyingKey::from_bytes(&self.pubkey_bytes()?)?)
    }
}

/// Standard base64 that accepts the value with or without trailing `=`.
const STANDARD_PAD_OPTIONAL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{SignatureScheme, SigningKey};

    fn claims_with(custom: Value) -> Claims {
        let Value::Object(custom) = custom else {
            panic!("custom claims must be an object");
        };
        Claims {
            sub: "s".into(),
            iat: None,
            exp: None,
            iss: None,
            aud: Vec::new(),
            jti: None,
            custom,
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_private_bytes(SignatureScheme::EcdsaP256Sha256, &[7]).unwrap()
    }

    #[test]
    fn pubkey_at_top_level() {
        let key = key();
        let claims = claims_with(serde_json::json!({ "pubkey": key.public_key_base64() }));
        assert_eq!(claims.pubkey().unwrap(), key.verifying_key());
    }

    #[test]
    fn pubkey_under_custom_claims() {
        let key = key();
        let claims = claims_with(serde_json::json!({
            "custom_claims": { "pubkey": key.public_key_base64() }
        }));
        assert_eq!(claims.pubkey().unwrap(), key.verifying_key());
    }

    #[test]
    fn top_level_wins_over_nested() {
        let top = key();
        let nested = SigningKey::from_private_bytes(SignatureScheme::Ed25519, &[1; 32]).unwrap();
        let claims = claims_with(serde_json::json!({
            "pubkey": top.public_key_base64(),
            "custom_claims": { "pubkey": nested.public_key_base64() }
        }));
        assert_eq!(claims.pubkey().unwrap(), top.verifying_key());
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let key = key();
        let unpadded = key.public_key_base64().trim_end_matches('=').to_owned();
        let claims = claims_with(serde_json::json!({ "pubkey": unpadded }));
        assert_eq!(claims.pubkey().unwrap(), key.verifying_key());
    }

    #[test]
    fn missing_or_bad_pubkey_is_an_error() {
        let none = claims_with(serde_json::json!({ "pubkey": 5 }));
        assert_eq!(none.pubkey().unwrap_err(), PubkeyError::Missing);
        let bad = claims_with(serde_json::json!({ "pubkey": "not base64!" }));
        assert_eq!(bad.pubkey().unwrap_err(), PubkeyError::NotBase64);
        let short = claims_with(serde_json::json!({ "pubkey": "AAAA" }));
        assert!(matches!(short.pubkey().unwrap_err(), PubkeyError::Key(_)));
    }
}
