//! The wire form of a shared-secret token: [`mint`] writes one, [`parse`] splits one and checks
//! its MAC. Neither looks at the clock or at policy; the verifier does that.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::{ID_SUFFIX_LEN, MAX_TOKEN_LEN};
use crate::identity::VerifyError;

/// HMAC-SHA256, the token MAC.
pub type HmacSha256 = Hmac<Sha256>;

/// base64url without padding, as written by upstream.
const URL_NO_PAD: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// base64url that also accepts trailing padding, for reading.
const URL_PAD_OPTIONAL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The fields of a token whose MAC has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken<'a> {
    /// `<base_id>_<random>`.
    pub id: &'a str,
    /// Issue time, unix seconds.
    pub issued_at: u64,
    /// The nonce as sent (base64url).
    pub nonce: &'a str,
    /// The decoded claims JSON bytes (empty when the field is empty).
    pub claims_json: Vec<u8>,
    /// The MAC field as sent (base64url); unique per token, used as the replay-cache key.
    pub mac: &'a str,
}

/// Encodes the claims field: base64url-nopad of the JSON text.
pub fn encode_claims(claims: &serde_json::Map<String, serde_json::Value>) -> String {
    let json = serde_json::Value::Object(claims.clone()).to_string();
    URL_NO_PAD.encode(json)
}

/// Writes a token. `claims_field` is the already-encoded claims ([`encode_claims`]).
pub fn mint(
    mac: &HmacSha256,
    id: &str,
    issued_at: u64,
    nonce: &[u8],
    claims_field: &str,
) -> String {
    let mut token = format!(
        "{id}:{issued_at}:{}:{claims_field}",
        URL_NO_PAD.encode(nonce)
    );
    let mut mac = mac.clone();
    mac.update(token.as_bytes());
    let tag = mac.finalize().into_bytes();
    token.push(':');
    URL_NO_PAD.encode_string(tag, &mut token);
    token
}

/// Splits `token`, checks its MAC in constant time and decodes its claims field.
pub fn parse<'a>(mac: &HmacSha256, token: &'a str) -> Result<VerifiedToken<'a>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::TooLong {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let (signed, tag) = token
        .rsplit_once(':')
        .ok_or(VerifyError::Malformed("expected 5 ':'-separated fields"))?;
    let mut fields = signed.splitn(4, ':');
    let (Some(id), Some(ts), Some(nonce), Some(claims)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(VerifyError::Malformed("expected 5 ':'-separated fields"));
    };
    if claims.contains(':') {
        return Err(VerifyError::Malformed("expected 5 ':'-separated fields"));
    }

    // The MAC first: nothing else of an unauthenticated token deserves parsing.
    let tag_bytes = URL_PAD_OPTIONAL
        .decode(tag)
        .map_err(|_| VerifyError::Malformed("mac is not base64url"))?;
    let mut check = mac.clone();
    check.update(signed.as_bytes());
    check
        .verify_slice(&tag_bytes)
        .map_err(|_| VerifyError::BadSignature)?;

    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return Err(VerifyError::Malformed("empty id or whitespace in id"));
    }
    if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed("timestamp is not decimal"));
    }
    let issued_at = ts
        .parse::<u64>()
        .map_err(|_| VerifyError::Malformed("timestamp out of range"))?;
    URL_PAD_OPTIONAL
        .decode(nonce)
        .map_err(|_| VerifyError::Malformed("nonce is not base64url"))?;
    let claims_json = URL_PAD_OPTIONAL
        .decode(claims)
        .map_err(|_| VerifyError::Malformed("claims are not base64url"))?;
    Ok(VerifiedToken {
        id,
        issued_at,
        nonce,
        claims_json,
        mac: tag,
    })
}

/// The base id of a token id: the id without a trailing `_` + [`ID_SUFFIX_LEN`]
/// alphanumerics, or the whole id when it has no such suffix.
pub fn base_id(token_id: &str) -> &str {
    match token_id.rsplit_once('_') {
        Some((base, suffix))
            if suffix.len() == ID_SUFFIX_LEN
                && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            base
        }
        _ => token_id,
    }
}

/// Checks a base id: non-empty, no `:` (the field separator), no whitespace.
pub fn validate_base_id(base_id: &str) -> Result<(), super::SharedSecretError> {
    use super::SharedSecretError::InvalidId;
    if base_id.is_empty() {
        return Err(InvalidId("id is empty"));
    }
    if base_id.contains(':') {
        return Err(InvalidId("id contains ':'"));
    }
    if base_id.chars().any(char::is_whitespace) {
        return Err(InvalidId("id contains whitespace"));
    }
    Ok(())
}

/// Draws [`ID_SUFFIX_LEN`] uniformly random ASCII alphanumerics.
pub fn random_suffix(rng: &mut dyn rand_core::RngCore) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Rejection sampling keeps the draw uniform: 248 = 4 × 62 is the largest multiple below 256.
    let mut suffix = String::with_capacity(ID_SUFFIX_LEN);
    let mut buffer = [0u8; 16];
    while suffix.len() < ID_SUFFIX_LEN {
        rng.fill_bytes(&mut buffer);
        for byte in buffer {
            if byte < 248 && suffix.len() < ID_SUFFIX_LEN {
                suffix.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    suffix
}
