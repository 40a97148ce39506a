//! Untrusted tokens and signatures never panic a verifier, whatever their bytes.

// Test-only crate: helpers outside #[test] functions may panic on broken fixtures too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use proptest::prelude::*;
use slim_auth::IdentityVerifier;
use slim_auth::jwt::{JwtAlgorithm, JwtKeyConfig, JwtVerifier, JwtVerifierConfig, KeyData};
use slim_auth::shared_secret::{SharedSecretVerifier, SharedSecretVerifierConfig};

fn verifiers() -> Vec<Box<dyn IdentityVerifier>> {
    let keys = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/keys");
    let jwt = |algorithm, file: &str| -> Box<dyn IdentityVerifier> {
        let mut config = JwtVerifierConfig::new(JwtKeyConfig {
            algorithm,
            format: Default::default(),
            key: KeyData::File(keys.join(file)),
        });
        config.cache_capacity = 0;
        Box::new(JwtVerifier::new(&config).unwrap())
    };
    vec![
        Box::new(
            SharedSecretVerifier::new(&SharedSecretVerifierConfig::new("p".repeat(32))).unwrap(),
        ),
        jwt(JwtAlgorithm::ES256, "es256.pub.pem"),
        jwt(JwtAlgorithm::ES384, "es384.pub.pem"),
        jwt(JwtAlgorithm::RS256, "rsa.pub.pem"),
        jwt(JwtAlgorithm::PS256, "rsa.pub.pem"),
        jwt(JwtAlgorithm::EdDSA, "ed25519.pub.pem"),
        jwt(JwtAlgorithm::HS256, "hs256.secret"),
    ]
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_text_is_rejected_cleanly(token in ".{0,300}") {
        for verifier in verifiers() {
            let _ = verifier.verify(&token, UNIX_EPOCH + Duration::from_secs(1_795_000_000));
        }
    }

    #[test]
    fn jwt_shaped_garbage_is_rejected_cleanly(
        alg in prop::sample::select(vec!["HS256", "ES256", "ES384", "RS256", "PS256", "EdDSA", "none", "HS999"]),
        claims in prop::collection::vec(any::<u8>(), 0..200),
        signature in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let header = b64(format!(r#"{{"alg":"{alg}","kid":"x"}}"#).as_bytes());
        let token = format!("{header}.{}.{}", b64(&claims), b64(&signature));
        for verifier in verifiers() {
            prop_assert!(verifier.verify(&token, UNIX_EPOCH).is_err());
        }
    }

    #[test]
    fn header_signatures_of_any_bytes_are_rejected_cleanly(
        key in prop::collection::vec(any::<u8>(), 0..70),
        signature in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        prop_assert!(slim_auth::keys::verify(&key, b"aad", &signature).is_err());
    }
}
