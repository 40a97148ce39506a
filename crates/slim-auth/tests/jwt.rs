//! JWT provider and verifier: every algorithm, key formats (PEM, JWK, JWKS with and without
//! kid), claim checks, expiry, revocation and key rotation. Keys are the checked-in test keys
//! under `vectors/keys` (generated with openssl for these tests only).

// Test-only crate: helpers outside #[test] functions may panic on broken fixtures too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{EncodingKey, Header};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use slim_auth::jwt::{
    JwtAlgorithm, JwtKeyConfig, JwtProvider, JwtProviderConfig, JwtProviderError, JwtVerifier,
    JwtVerifierConfig, KeyData, KeyFormat, KeyLoadError,
};
use slim_auth::revocation::Revocation;
use slim_auth::{
    IdentityProvider, IdentityVerifier, RevocationList, SignatureScheme, SigningKey, VerifyError,
};

const T0: u64 = 1_795_000_000;
const HMAC_SECRET: &str = "a-jwt-hmac-secret-that-is-long-enough-for-hs512";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/keys")
        .join(name)
}

fn pem(name: &str) -> String {
    std::fs::read_to_string(key_path(name)).unwrap()
}

/// (signing key config, verification key config) for an algorithm.
fn key_pair(algorithm: JwtAlgorithm) -> (JwtKeyConfig, JwtKeyConfig) {
    use JwtAlgorithm::*;
    let files = match algorithm {
        HS256 | HS384 | HS512 => {
            let secret = KeyData::Data(HMAC_SECRET.into());
            let config = JwtKeyConfig {
                algorithm,
                format: KeyFormat::Pem,
                key: secret,
            };
            return (config.clone(), config);
        }
        ES256 => ("es256.key.pem", "es256.pub.pem"),
        ES384 => ("es384.key.pem", "es384.pub.pem"),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => ("rsa.key.pem", "rsa.pub.pem"),
        EdDSA => ("ed25519.key.pem", "ed25519.pub.pem"),
    };
    let config = |file: &str| JwtKeyConfig {
        algorithm,
        format: KeyFormat::Pem,
        key: KeyData::File(key_path(file)),
    };
    (config(files.0), config(files.1))
}

fn signature_key() -> SigningKey {
    SigningKey::generate(
        SignatureScheme::EcdsaP256Sha256,
        &mut StdRng::seed_from_u64(1),
    )
}

fn provider_config(key: JwtKeyConfig) -> JwtProviderConfig {
    JwtProviderConfig {
        key,
        subject: "alice".into(),
        issuer: Some("issuer".into()),
        audience: vec!["slim".into()],
        token_lifetime_secs: 3600,
        refresh_interval_secs: 300,
        include_jti: false,
        custom_claims: Default::default(),
    }
}

fn provider(algorithm: JwtAlgorithm) -> JwtProvider {
    JwtProvider::new(&provider_config(key_pair(algorithm).0), signature_key()).unwrap()
}

fn verifier_config(key: JwtKeyConfig) -> JwtVerifierConfig {
    let mut config = JwtVerifierConfig::new(key);
    config.audience = vec!["slim".into()];
    config.issuer = Some("issuer".into());
    config
}

fn verifier(algorithm: JwtAlgorithm) -> JwtVerifier {
    JwtVerifier::new(&verifier_config(key_pair(algorithm).1)).unwrap()
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

const ALL: [JwtAlgorithm; 12] = [
    JwtAlgorithm::HS256,
    JwtAlgorithm::HS384,
    JwtAlgorithm::HS512,
    JwtAlgorithm::ES256,
    JwtAlgorithm::ES384,
    JwtAlgorithm::RS256,
    JwtAlgorithm::RS384,
    JwtAlgorithm::RS512,
    JwtAlgorithm::PS256,
    JwtAlgorithm::PS384,
    JwtAlgorithm::PS512,
    JwtAlgorithm::EdDSA,
];

#[test]
fn every_algorithm_signs_and_verifies() {
    for algorithm in ALL {
        let provider = provider(algorithm);
        let token = provider.token(at(T0)).unwrap();
        let claims = verifier(algorithm)
            .verify(&token, at(T0 + 1))
            .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.iss.as_deref(), Some("issuer"));
        assert_eq!(claims.aud, vec!["slim".to_owned()]);
        assert_eq!(claims.iat, Some(T0));
        assert_eq!(claims.exp, Some(T0 + 3600));
        assert_eq!(claims.pubkey().unwrap(), signature_key().verifying_key());
        assert_eq!(provider.token_id(), "alice");
    }
}

#[test]
fn tokens_have_upstreams_shape() {
    let token = provider(JwtAlgorithm::ES256).sign(at(T0)).unwrap();
    let header = decode_part(&token, 0);
    assert_eq!(
        header,
        json!({"typ": "JWT", "alg": "ES256", "kid": "alice"})
    );
    let claims = decode_part(&token, 1);
    assert_eq!(
        claims,
        json!({
            "iss": "issuer", "sub": "alice", "aud": ["slim"], "exp": T0 + 3600, "iat": T0,
            "nbf": T0, "pubkey": signature_key().public_key_base64()
        })
    );
    // Same key order as upstream's tokens.
    let text = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let order: Vec<usize> = [
        "\"iss\"",
        "\"sub\"",
        "\"aud\"",
        "\"exp\"",
        "\"iat\"",
        "\"nbf\"",
        "\"pubkey\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn provider_reuses_tokens_within_the_refresh_interval() {
    let provider = provider(JwtAlgorithm::HS256);
    let first = provider.token(at(T0)).unwrap();
    assert!(Arc::ptr_eq(&first, &provider.token(at(T0 + 299)).unwrap()));
    let second = provider.token(at(T0 + 300)).unwrap();
    assert_ne!(first, second);
    assert_eq!(decode_part(&second, 1)["iat"], T0 + 300);
}

#[test]
fn provider_config_is_validated() {
    let (key, _) = key_pair(JwtAlgorithm::HS256);
    let mut config = provider_config(key.clone());
    config.subject.clear();
    assert_eq!(
        JwtProvider::new(&config, signature_key()).unwrap_err(),
        JwtProviderError::MissingSubject
    );
    let mut config = provider_config(key.clone());
    config.refresh_interval_secs = 3600;
    assert!(matches!(
        JwtProvider::new(&config, signature_key()),
        Err(JwtProviderError::RefreshNotBelowLifetime { .. })
    ));
    for reserved in ["pubkey", "exp", "sub"] {
        let mut config = provider_config(key.clone());
        config.custom_claims.insert(reserved.into(), json!(1));
        assert_eq!(
            JwtProvider::new(&config, signature_key()).unwrap_err(),
            JwtProviderError::ReservedClaim(reserved.into())
        );
    }
    let mut config = provider_config(JwtKeyConfig {
        algorithm: JwtAlgorithm::ES256,
        format: KeyFormat::Pem,
        key: KeyData::Data("not a pem".into()),
    });
    assert!(matches!(
        JwtProvider::new(&config, signature_key()),
        Err(JwtProviderError::Key(KeyLoadError::Invalid { .. }))
    ));
    config.key.key = KeyData::File(key_path("missing.pem"));
    assert!(matches!(
        JwtProvider::new(&config, signature_key()),
        Err(JwtProviderError::Key(KeyLoadError::File { .. }))
    ));
}

#[test]
fn claim_requirements_are_enforced() {
    let token = provider(JwtAlgorithm::ES256).token(at(T0)).unwrap();
    let (_, key) = key_pair(JwtAlgorithm::ES256);

    let mut config = verifier_config(key.clone());
    config.audience = vec!["other".into(), "slim".into()];
    JwtVerifier::new(&config)
        .unwrap()
        .verify(&token, at(T0))
        .unwrap();
    config.audience = vec!["other".into()];
    assert_eq!(
        JwtVerifier::new(&config)
            .unwrap()
            .verify(&token, at(T0))
            .unwrap_err(),
        VerifyError::ClaimMismatch("aud")
    );

    let mut config = verifier_config(key.clone());
    config.issuer = Some("someone else".into());
    assert_eq!(
        JwtVerifier::new(&config)
            .unwrap()
            .verify(&token, at(T0))
            .unwrap_err(),
        VerifyError::ClaimMismatch("iss")
    );

    let mut config = verifier_config(key.clone());
    config.subject = Some("bob".into());
    assert_eq!(
        JwtVerifier::new(&config)
            .unwrap()
            .verify(&token, at(T0))
            .unwrap_err(),
        VerifyError::ClaimMismatch("sub")
    );
    config.subject = Some("alice".into());
    JwtVerifier::new(&config)
        .unwrap()
        .verify(&token, at(T0))
        .unwrap();

    // No requirements: any audience and issuer pass.
    JwtVerifier::new(&JwtVerifierConfig::new(key))
        .unwrap()
        .verify(&token, at(T0))
        .unwrap();
}

#[test]
fn expiry_and_not_before_use_the_time_passed_in_with_leeway() {
    let token = provider(JwtAlgorithm::EdDSA).token(at(T0)).unwrap();
    let verifier = verifier(JwtAlgorithm::EdDSA);
    verifier.verify(&token, at(T0 + 3600 + 60)).unwrap();
    assert_eq!(
        verifier.verify(&token, at(T0 + 3600 + 61)).unwrap_err(),
        VerifyError::Expired {
            expired_at: T0 + 3600,
            now: T0 + 3661
        }
    );
    verifier.verify(&token, at(T0 - 60)).unwrap();
    assert_eq!(
        verifier.verify(&token, at(T0 - 61)).unwrap_err(),
        VerifyError::NotYetValid {
            valid_from: T0,
            now: T0 - 61
        }
    );
    // The cached result is re-checked against time too.
    verifier.verify(&token, at(T0)).unwrap();
    assert!(matches!(
        verifier.verify(&token, at(T0 + 5000)),
        Err(VerifyError::Expired { .. })
    ));
}

/// Signs arbitrary claims with the ES256 test key.
fn es256_token(claims: &Value, kid: Option<&str>) -> String {
    let key = EncodingKey::from_ec_pem(pem("es256.key.pem").as_bytes()).unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = kid.map(Into::into);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[test]
fn exp_is_required_unless_configured_otherwise() {
    let token = es256_token(&json!({"sub": "alice"}), None);
    let (_, key) = key_pair(JwtAlgorithm::ES256);
    let mut config = JwtVerifierConfig::new(key);
    assert_eq!(
        JwtVerifier::new(&config)
            .unwrap()
            .verify(&token, at(T0))
            .unwrap_err(),
        VerifyError::MissingClaim("exp")
    );
    config.require_exp = false;
    JwtVerifier::new(&config)
        .unwrap()
        .verify(&token, at(T0))
        .unwrap();

    let no_sub = es256_token(&json!({"exp": T0 + 10}), None);
    assert_eq!(
        JwtVerifier::new(&config)
            .unwrap()
            .verify(&no_sub, at(T0))
            .unwrap_err(),
        VerifyError::MissingClaim("sub")
    );
}

#[test]
fn pubkey_may_sit_under_custom_claims() {
    let pubkey = signature_key().public_key_base64();
    let token = es256_token(
        &json!({"sub": "alice", "exp": T0 + 100, "custom_claims": {"pubkey": pubkey}}),
        None,
    );
    let (_, key) = key_pair(JwtAlgorithm::ES256);
    let claims = JwtVerifier::new(&JwtVerifierConfig::new(key))
        .unwrap()
        .verify(&token, at(T0))
        .unwrap();
    assert_eq!(claims.pubkey().unwrap(), signature_key().verifying_key());
    assert!(claims.custom.contains_key("custom_claims"));
    assert!(
        !claims.custom.contains_key("sub"),
        "registered claims are lifted out"
    );
}

fn public_jwk(private_pem: &str, algorithm: jsonwebtoken::Algorithm, kid: Option<&str>) -> Jwk {
    let key = match algorithm {
        jsonwebtoken::Algorithm::ES256 => EncodingKey::from_ec_pem(pem(private_pem).as_bytes()),
        jsonwebtoken::Algorithm::RS256 => EncodingKey::from_rsa_pem(pem(private_pem).as_bytes()),
        _ => unreachable!("test helper covers ES256 and RS256"),
    }
    .unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, algorithm).unwrap();
    jwk.common.key_id = kid.map(Into::into);
    jwk
}

fn jwks_config(keys: Vec<Jwk>) -> JwtKeyConfig {
    JwtKeyConfig {
        algorithm: JwtAlgorithm::ES256,
        format: KeyFormat::Jwks,
        key: KeyData::Data(serde_json::to_string(&JwkSet { keys }).unwrap()),
    }
}

#[test]
fn jwks_without_kid_tries_every_key() {
    let other = public_jwk("es256-other.key.pem", jsonwebtoken::Algorithm::ES256, None);
    let right = public_jwk("es256.key.pem", jsonwebtoken::Algorithm::ES256, None);
    let rsa = public_jwk("rsa.key.pem", jsonwebtoken::Algorithm::RS256, None);
    let verifier = JwtVerifier::new(&JwtVerifierConfig::new(jwks_config(vec![
        rsa,
        other.clone(),
        right,
    ])))
    .unwrap();
    // Our provider's kid is the subject, which names no key: all ES256 keys are tried.
    let token = provider(JwtAlgorithm::ES256).token(at(T0)).unwrap();
    verifier.verify(&token, at(T0)).unwrap();
    let no_kid = es256_token(&json!({"sub": "a", "exp": T0 + 9}), None);
    verifier.verify(&no_kid, at(T0)).unwrap();

    let only_other = JwtVerifier::new(&JwtVerifierConfig::new(jwks_config(vec![other]))).unwrap();
    assert_eq!(
        only_other.verify(&token, at(T0)).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn jwks_with_kid_selects_the_named_key() {
    let other = public_jwk(
        "es256-other.key.pem",
        jsonwebtoken::Algorithm::ES256,
        Some("k1"),
    );
    let right = public_jwk("es256.key.pem", jsonwebtoken::Algorithm::ES256, Some("k2"));
    let verifier =
        JwtVerifier::new(&JwtVerifierConfig::new(jwks_config(vec![other, right]))).unwrap();
    let claims = json!({"sub": "a", "exp": T0 + 9});
    verifier
        .verify(&es256_token(&claims, Some("k2")), at(T0))
        .unwrap();
    // A kid that names the wrong key is tried against that key only.
    assert_eq!(
        verifier
            .verify(&es256_token(&claims, Some("k1")), at(T0))
            .unwrap_err(),
        VerifyError::BadSignature
    );
    // A kid naming no key falls back to every key (upstream sets kid = sub).
    verifier
        .verify(&es256_token(&claims, Some("alice")), at(T0))
        .unwrap();
}

#[test]
fn single_jwk_and_unusable_sets() {
    let right = public_jwk("es256.key.pem", jsonwebtoken::Algorithm::ES256, None);
    let config = JwtKeyConfig {
        algorithm: JwtAlgorithm::ES256,
        format: KeyFormat::Jwk,
        key: KeyData::Data(serde_json::to_string(&right).unwrap()),
    };
    let token = provider(JwtAlgorithm::ES256).token(at(T0)).unwrap();
    JwtVerifier::new(&JwtVerifierConfig::new(config))
        .unwrap()
        .verify(&token, at(T0))
        .unwrap();

    // Unknown key types and encryption keys are skipped; a set of only those is an error.
    let junk = r#"{"keys": [{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
                            {"kty": "weird"}]}"#;
    let config = JwtKeyConfig {
        algorithm: JwtAlgorithm::ES256,
        format: KeyFormat::Jwks,
        key: KeyData::Data(junk.into()),
    };
    assert!(matches!(
        JwtVerifier::new(&JwtVerifierConfig::new(config)),
        Err(KeyLoadError::NoUsableKey)
    ));
}

#[test]
fn algorithm_confusion_is_refused() {
    // An HS256 token "signed" with the RSA public key as HMAC secret must not pass an RS256
    // verifier.
    let forged = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "mallory", "exp": T0 + 9}),
        &EncodingKey::from_secret(pem("rsa.pub.pem").as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verifier(JwtAlgorithm::RS256)
            .verify(&forged, at(T0))
            .unwrap_err(),
        VerifyError::NoMatchingKey
    );
    // And an ES256 token does not pass an ES384 verifier.
    let token = provider(JwtAlgorithm::ES256).token(at(T0)).unwrap();
    assert_eq!(
        verifier(JwtAlgorithm::ES384)
            .verify(&token, at(T0))
            .unwrap_err(),
        VerifyError::NoMatchingKey
    );
}

#[test]
fn wrong_keys_and_garbage_are_rejected() {
    let token = provider(JwtAlgorithm::HS256).token(at(T0)).unwrap();
    let mut config = JwtVerifierConfig::new(JwtKeyConfig {
        algorithm: JwtAlgorithm::HS256,
        format: KeyFormat::Pem,
        key: KeyData::Data("a different secret of sufficient length!!".into()),
    });
    config.cache_capacity = 0;
    assert_eq!(
        JwtVerifier::new(&config)
            .unwrap()
            .verify(&token, at(T0))
            .unwrap_err(),
        VerifyError::BadSignature
    );
    let verifier = verifier(JwtAlgorithm::HS256);
    let mut tampered = token.to_string();
    tampered.insert(tampered.find('.').unwrap() + 5, 'x');
    assert!(verifier.verify(&tampered, at(T0)).is_err());
    for garbage in [
        "",
        "a.b",
        "a.b.c",
        "...",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        "é.é.é",
    ] {
        assert!(verifier.verify(garbage, at(T0)).is_err(), "{garbage:?}");
    }
    assert!(matches!(
        verifier.verify(&"a".repeat(20_000), at(T0)),
        Err(VerifyError::TooLong { .. })
    ));
}

#[test]
fn revocation_takes_effect_at_once_even_for_cached_tokens() {
    let list = RevocationList::new();
    let verifier = verifier(JwtAlgorithm::ES256).with_revocation(list.clone());
    let token = provider(JwtAlgorithm::ES256).token(at(T0)).unwrap();
    verifier.verify(&token, at(T0)).unwrap();
    list.revoke_subject("alice").unwrap();
    assert_eq!(
        verifier.verify(&token, at(T0)).unwrap_err(),
        VerifyError::Revoked(Revocation::Subject("alice".into()))
    );
    list.reinstate_subject("alice");
    verifier.verify(&token, at(T0)).unwrap();

    // Revoking older tokens forces re-issuance: a token minted later passes.
    list.revoke_subject_issued_before("alice", T0 + 1).unwrap();
    assert!(matches!(
        verifier.verify(&token, at(T0 + 1)),
        Err(VerifyError::Revoked(_))
    ));
    let fresh = provider(JwtAlgorithm::ES256).token(at(T0 + 1)).unwrap();
    verifier.verify(&fresh, at(T0 + 1)).unwrap();
}

#[test]
fn single_tokens_are_revoked_by_jti() {
    let mut config = provider_config(key_pair(JwtAlgorithm::ES256).0);
    config.include_jti = true;
    let provider =
        JwtProvider::with_rng(&config, signature_key(), StdRng::seed_from_u64(9)).unwrap();
    let list = RevocationList::new();
    let verifier = verifier(JwtAlgorithm::ES256).with_revocation(list.clone());
    let first = provider.sign(at(T0)).unwrap();
    let second = provider.sign(at(T0)).unwrap();
    let jti = verifier.verify(&first, at(T0)).unwrap().jti.unwrap();
    list.revoke_token_id(jti.clone()).unwrap();
    assert_eq!(
        verifier.verify(&first, at(T0)).unwrap_err(),
        VerifyError::Revoked(Revocation::TokenId(jti))
    );
    verifier.verify(&second, at(T0)).unwrap();
}

#[test]
fn key_rotation_drops_tokens_of_removed_keys() {
    let right = public_jwk("es256.key.pem", jsonwebtoken::Algorithm::ES256, None);
    let other = public_jwk("es256-other.key.pem", jsonwebtoken::Algorithm::ES256, None);
    let verifier = JwtVerifier::new(&JwtVerifierConfig::new(jwks_config(vec![right]))).unwrap();
    let keys = verifier.key_set();
    let token = provider(JwtAlgorithm::ES256).token(at(T0)).unwrap();
    verifier.verify(&token, at(T0)).unwrap(); // now cached

    keys.replace_with_jwks(
        &serde_json::to_string(&JwkSet { keys: vec![other] }).unwrap(),
        JwtAlgorithm::ES256,
    )
    .unwrap();
    assert_eq!(
        verifier.verify(&token, at(T0)).unwrap_err(),
        VerifyError::BadSignature
    );
    assert_eq!(keys.len(), 1);
    assert!(
        keys.replace_with_jwks("not json", JwtAlgorithm::ES256)
            .is_err()
    );
    keys.replace_with_config(&key_pair(JwtAlgorithm::ES256).1)
        .unwrap();
    verifier.verify(&token, at(T0)).unwrap();
}

#[test]
fn malformed_key_material_in_a_jwks_fails_verification_without_panicking() {
    let jwks = r#"{"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"}
    ]}"#;
    for algorithm in [
        JwtAlgorithm::EdDSA,
        JwtAlgorithm::ES256,
        JwtAlgorithm::RS256,
    ] {
        let config = JwtKeyConfig {
            algorithm,
            format: KeyFormat::Jwks,
            key: KeyData::Data(jwks.into()),
        };
        let verifier = JwtVerifier::new(&JwtVerifierConfig::new(config)).unwrap();
        let token = provider(algorithm).token(at(T0)).unwrap();
        assert!(verifier.verify(&token, at(T0)).is_err(), "{algorithm}");
    }
}
