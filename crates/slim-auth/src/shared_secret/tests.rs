use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::Mac as _;
use rand::SeedableRng as _;
use rand::rngs::StdRng;

use super::*;
use crate::identity::{IdentityProvider as _, IdentityVerifier as _, VerifyError};
use crate::keys::{SignatureScheme, SigningKey};
use crate::revocation::{Revocation, RevocationList};

const SECRET: &str = "an-example-shared-secret-of-32+bytes";
const T0: u64 = 1_795_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn key() -> SigningKey {
    SigningKey::generate(
        SignatureScheme::EcdsaP256Sha256,
        &mut StdRng::seed_from_u64(1),
    )
}

fn provider(config: &SharedSecretProviderConfig) -> SharedSecretProvider {
    SharedSecretProvider::with_rng(config, key(), StdRng::seed_from_u64(2)).unwrap()
}

fn verifier() -> SharedSecretVerifier {
    SharedSecretVerifier::new(&SharedSecretVerifierConfig::new(SECRET)).unwrap()
}

/// HMAC-SHA256 computed here, independently of the token module.
fn independent_mac(secret: &str, input: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn url_decode(field: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(field)
        .unwrap()
}

#[test]
fn token_has_the_exact_upstream_layout() {
    let provider = provider(&SharedSecretProviderConfig::new("org/ns/alice", SECRET));
    let token = provider.mint(at(T0)).unwrap();
    let fields: Vec<&str> = token.split(':').collect();
    assert_eq!(fields.len(), 5, "{token}");

    // id = base_id _ 8 alphanumerics, and it is the provider's token id.
    let (base, suffix) = fields[0].rsplit_once('_').unwrap();
    assert_eq!(base, "org/ns/alice");
    assert_eq!(suffix.len(), 8);
    assert!(suffix.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(fields[0], provider.token_id());

    assert_eq!(fields[1], T0.to_string());

    // 12-byte nonce, base64url without padding.
    assert_eq!(fields[2].len(), 16);
    assert_eq!(url_decode(fields[2]).len(), 12);

    // claims: exactly {"pubkey": base64-standard(public key)}.
    let claims = url_decode(fields[3]);
    let expected = format!(r#"{{"pubkey":"{}"}}"#, key().public_key_base64());
    assert_eq!(String::from_utf8(claims).unwrap(), expected);
    let pubkey = base64::engine::general_purpose::STANDARD
        .decode(key().public_key_base64())
        .unwrap();
    assert_eq!(pubkey, key().public_key_bytes());

    // mac over everything before the last ':'.
    let signed = token.rsplit_once(':').unwrap().0;
    assert_eq!(fields[4], independent_mac(SECRET, signed));
    assert!(!fields[4].contains('='));
}

#[test]
fn custom_claims_sit_next_to_pubkey() {
    let mut config = SharedSecretProviderConfig::new("svc", SECRET);
    config
        .custom_claims
        .insert("role".into(), serde_json::json!("admin"));
    let token = provider(&config).mint(at(T0)).unwrap();
    let claims = verifier().verify(&token, at(T0)).unwrap();
    assert_eq!(claims.custom["role"], "admin");
    assert_eq!(claims.pubkey().unwrap(), key().verifying_key());

    config
        .custom_claims
        .insert("pubkey".into(), serde_json::json!("forged"));
    assert_eq!(
        SharedSecretProvider::new(&config, key()).unwrap_err(),
        SharedSecretError::ReservedClaim("pubkey".into())
    );
}

#[test]
fn verifier_exposes_upstream_claims() {
    let provider = provider(&SharedSecretProviderConfig::new("org/ns/alice", SECRET));
    let token = provider.mint(at(T0)).unwrap();
    let claims = verifier().verify(&token, at(T0 + 10)).unwrap();
    assert_eq!(claims.sub, provider.token_id());
    assert_eq!(claims.iat, Some(T0));
    assert_eq!(claims.exp, Some(T0 + DEFAULT_VALIDITY_SECS));
    assert_eq!(claims.pubkey().unwrap(), key().verifying_key());
}

#[test]
fn time_window_and_skew() {
    let token = provider(&SharedSecretProviderConfig::new("a", SECRET))
        .mint(at(T0))
        .unwrap();
    let v = verifier();
    v.verify(&token, at(T0 + DEFAULT_VALIDITY_SECS)).unwrap();
    assert_eq!(
        v.verify(&token, at(T0 + DEFAULT_VALIDITY_SECS + 1))
            .unwrap_err(),
        VerifyError::Expired {
            expired_at: T0 + 3600,
            now: T0 + 3601
        }
    );
    v.verify(&token, at(T0 - DEFAULT_MAX_CLOCK_SKEW_SECS))
        .unwrap();
    assert_eq!(
        v.verify(&token, at(T0 - DEFAULT_MAX_CLOCK_SKEW_SECS - 1))
            .unwrap_err(),
        VerifyError::NotYetValid {
            valid_from: T0 - 5,
            now: T0 - 6
        }
    );

    let mut config = SharedSecretVerifierConfig::new(SECRET);
    config.validity_secs = 10;
    let short = SharedSecretVerifier::new(&config).unwrap();
    assert!(matches!(
        short.verify(&token, at(T0 + 11)),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn replay_cache_is_off_by_default_and_rejects_repeats_when_on() {
    let provider = provider(&SharedSecretProviderConfig::new("a", SECRET));
    let token = provider.mint(at(T0)).unwrap();
    let v = verifier();
    v.verify(&token, at(T0)).unwrap();
    v.verify(&token, at(T0)).unwrap();

    let mut config = SharedSecretVerifierConfig::new(SECRET);
    config.replay_cache_capacity = 16;
    let strict = SharedSecretVerifier::new(&config).unwrap();
    strict.verify(&token, at(T0)).unwrap();
    assert_eq!(
        strict.verify(&token, at(T0 + 1)).unwrap_err(),
        VerifyError::Replayed
    );
    let fresh = provider.mint(at(T0)).unwrap();
    strict.verify(&fresh, at(T0)).unwrap();
}

#[test]
fn short_secrets_are_rejected_on_both_sides() {
    let short = "x".repeat(MIN_SECRET_LEN - 1);
    assert_eq!(
        SharedSecretProvider::new(&SharedSecretProviderConfig::new("a", &short), key())
            .unwrap_err(),
        SharedSecretError::SecretTooShort { len: 31 }
    );
    assert_eq!(
        SharedSecretVerifier::new(&SharedSecretVerifierConfig::new(&short)).unwrap_err(),
        SharedSecretError::SecretTooShort { len: 31 }
    );
    SharedSecretVerifier::new(&SharedSecretVerifierConfig::new("x".repeat(32))).unwrap();
}

#[test]
fn tampering_breaks_the_mac() {
    let token = provider(&SharedSecretProviderConfig::new("a", SECRET))
        .mint(at(T0))
        .unwrap();
    let v = verifier();
    let fields: Vec<&str> = token.split(':').collect();
    // Replace each field in turn with a plausible value of the same kind.
    let replacements = ["b_AAAAAAAA", "1795000001", "AAAAAAAAAAAAAAAA", "e30", ""];
    for (index, replacement) in replacements.iter().enumerate() {
        let mut forged = fields.clone();
        forged[index] = replacement;
        let forged = forged.join(":");
        let error = v.verify(&forged, at(T0)).unwrap_err();
        assert!(
            matches!(error, VerifyError::BadSignature | VerifyError::Malformed(_)),
            "field {index}: {error:?}"
        );
    }
    let other_secret = SharedSecretVerifier::new(&SharedSecretVerifierConfig::new(
        "another-shared-secret-of-32+bytes!!",
    ))
    .unwrap();
    assert_eq!(
        other_secret.verify(&token, at(T0)).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn malformed_tokens_are_errors_not_panics() {
    let v = verifier();
    let mac_of = |signed: &str| format!("{signed}:{}", independent_mac(SECRET, signed));
    let cases = [
        String::new(),
        ":::".into(),
        "a:b".into(),
        "a:1:n:c:d:e".into(),
        mac_of("a:1:AAAA:e30:extra"),
        mac_of(":1:AAAA:e30"),
        mac_of("a b:1:AAAA:e30"),
        mac_of("a:+1:AAAA:e30"),
        mac_of("a:99999999999999999999999:AAAA:e30"),
        mac_of("a:1:!!:e30"),
        mac_of("a:1:AAAA:!!"),
        mac_of("a:1:AAAA:WzFd"), // "[1]": JSON, but not an object
        "é:1:AAAA:e30:mac".into(),
        "x".repeat(MAX_TOKEN_LEN + 1),
    ];
    for case in cases {
        assert!(v.verify(&case, at(T0)).is_err(), "{case:?}");
    }
    // A well-formed token with empty claims verifies and has no pubkey.
    let claims = v
        .verify(&mac_of(&format!("a_x:{T0}:AAAA:")), at(T0))
        .unwrap();
    assert!(claims.custom.is_empty());
    assert!(claims.pubkey().is_err());
}

#[test]
fn ids_are_validated() {
    for bad in ["", "a:b", "a b", "a\tb", "a\nb"] {
        assert!(
            matches!(
                SharedSecretProvider::new(&SharedSecretProviderConfig::new(bad, SECRET), key()),
                Err(SharedSecretError::InvalidId(_))
            ),
            "{bad:?}"
        );
    }
    SharedSecretProvider::new(
        &SharedSecretProviderConfig::new("org/ns/a-b.c", SECRET),
        key(),
    )
    .unwrap();
}

#[test]
fn allow_list_checks_base_ids() {
    let alice = provider(&SharedSecretProviderConfig::new("org/ns/alice", SECRET));
    let mallory = provider(&SharedSecretProviderConfig::new("org/ns/mallory", SECRET));
    let mut config = SharedSecretVerifierConfig::new(SECRET);
    config.allowed_ids = vec!["org/ns/alice".into()];
    let v = SharedSecretVerifier::new(&config).unwrap();
    v.verify(&alice.mint(at(T0)).unwrap(), at(T0)).unwrap();
    assert_eq!(
        v.verify(&mallory.mint(at(T0)).unwrap(), at(T0))
            .unwrap_err(),
        VerifyError::NotAllowed(mallory.token_id().to_owned())
    );
    assert_eq!(token::base_id("org/ns/alice_Ab3dEf9h"), "org/ns/alice");
    assert_eq!(token::base_id("plain"), "plain");
    assert_eq!(token::base_id("a_short"), "a_short");
}

#[test]
fn revoked_ids_are_rejected_at_once() {
    let provider = provider(&SharedSecretProviderConfig::new("a", SECRET));
    let list = RevocationList::new();
    let v = verifier().with_revocation(list.clone());
    let token = provider.token(at(T0)).unwrap();
    v.verify(&token, at(T0)).unwrap();
    list.revoke_subject(provider.token_id()).unwrap();
    assert_eq!(
        v.verify(&token, at(T0)).unwrap_err(),
        VerifyError::Revoked(Revocation::Subject(provider.token_id().to_owned()))
    );
}

#[test]
fn provider_reuses_its_token_until_the_refresh_interval() {
    let provider = provider(&SharedSecretProviderConfig::new("a", SECRET));
    let first = provider.token(at(T0)).unwrap();
    let same = provider
        .token(at(T0 + DEFAULT_REFRESH_INTERVAL_SECS - 1))
        .unwrap();
    assert!(Arc::ptr_eq(&first, &same));
    let renewed = provider
        .token(at(T0 + DEFAULT_REFRESH_INTERVAL_SECS))
        .unwrap();
    assert_ne!(first, renewed);
    assert!(renewed.contains(&format!(":{}:", T0 + DEFAULT_REFRESH_INTERVAL_SECS)));
    assert!(
        renewed.starts_with(provider.token_id()),
        "the id never changes"
    );

    // A clock that steps backwards gets a token dated at the new time.
    let back = provider.token(at(T0)).unwrap();
    assert!(back.contains(&format!(":{T0}:")));
    assert_eq!(
        provider.token(at(0).checked_sub(Duration::from_secs(1)).unwrap()),
        Err(crate::identity::ProviderError::ClockBeforeEpoch)
    );
}

#[test]
fn zero_refresh_interval_mints_per_message() {
    let mut config = SharedSecretProviderConfig::new("a", SECRET);
    config.refresh_interval_secs = 0;
    let provider = provider(&config);
    assert_ne!(
        provider.token(at(T0)).unwrap(),
        provider.token(at(T0)).unwrap()
    );
}

#[test]
fn seeded_providers_are_reproducible() {
    let config = SharedSecretProviderConfig::new("a", SECRET);
    assert_eq!(
        provider(&config).mint(at(T0)).unwrap(),
        provider(&config).mint(at(T0)).unwrap()
    );
}

#[test]
fn configs_parse_with_documented_defaults_and_redact_secrets() {
    let provider: SharedSecretProviderConfig =
        serde_json::from_str(r#"{"id": "org/ns/a", "secret": "s"}"#).unwrap();
    assert_eq!(
        provider.refresh_interval_secs,
        DEFAULT_REFRESH_INTERVAL_SECS
    );
    assert!(provider.custom_claims.is_empty());
    assert!(!format!("{provider:?}").contains("\"s\""));

    let verifier: SharedSecretVerifierConfig =
        serde_json::from_str(r#"{"id": "ignored", "secret": "topsecret"}"#).unwrap();
    assert_eq!(verifier.validity_secs, 3600);
    assert_eq!(verifier.max_clock_skew_secs, 5);
    assert_eq!(verifier.replay_cache_capacity, 0);
    assert!(verifier.allowed_ids.is_empty());
    assert!(!format!("{verifier:?}").contains("topsecret"));

    assert!(serde_json::from_str::<SharedSecretVerifierConfig>(r#"{"secret":"s","x":1}"#).is_err());
}

#[test]
fn a_saved_token_id_can_be_restored() {
    let config = SharedSecretProviderConfig::new("org/ns/a", SECRET);
    let original = provider(&config);
    let restored = SharedSecretProvider::restore(
        &config,
        key(),
        original.token_id(),
        StdRng::seed_from_u64(99),
    )
    .unwrap();
    assert_eq!(restored.token_id(), original.token_id());
    let token = restored.mint(at(T0)).unwrap();
    assert!(token.starts_with(&format!("{}:", original.token_id())));
    assert_eq!(
        verifier().verify(&token, at(T0)).unwrap().sub,
        original.token_id()
    );
    for bad in ["org/ns/b_AAAAAAAA", "org/ns/a_AA AAAAA", "org/ns/a:x"] {
        assert!(
            SharedSecretProvider::restore(&config, key(), bad, StdRng::seed_from_u64(1)).is_err(),
            "{bad}"
        );
    }
}
