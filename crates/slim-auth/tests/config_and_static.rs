//! Configuration parsing and construction, and the static-token provider with file reloads.

// Test-only crate: helpers outside #[test] functions may panic on broken fixtures too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde_json::json;
use slim_auth::config::{ConfigError, IdentityProviderConfig, IdentityVerifierConfig};
use slim_auth::jwt::{StaticJwtConfig, StaticJwtProvider};
use slim_auth::{
    IdentityProvider, ProviderError, RevocationList, SignatureScheme, SigningKey, VerifyError,
};

const T0: u64 = 1_795_000_000;
const SECRET: &str = "config-test-shared-secret-0123456789";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn key() -> SigningKey {
    SigningKey::generate(SignatureScheme::Ed25519, &mut StdRng::seed_from_u64(5))
}

fn key_file(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/keys")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A scratch directory unique to this test run, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "slim-auth-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hs256_token(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn shared_secret_configs_build_working_trait_objects() {
    let provider: IdentityProviderConfig = serde_json::from_value(json!({
        "type": "shared_secret", "id": "org/ns/alice", "secret": SECRET
    }))
    .unwrap();
    let verifier: IdentityVerifierConfig =
        serde_json::from_value(json!({"type": "shared_secret", "secret": SECRET})).unwrap();
    let provider = provider.build(key()).unwrap();
    let list = RevocationList::new();
    let verifier = verifier.build(Some(list.clone())).unwrap();
    let token = provider.token(at(T0)).unwrap();
    let claims = verifier.verify(&token, at(T0)).unwrap();
    assert_eq!(claims.sub, provider.token_id());
    assert_eq!(claims.pubkey().unwrap(), key().verifying_key());
    list.revoke_subject(provider.token_id()).unwrap();
    assert!(matches!(
        verifier.verify(&token, at(T0)),
        Err(VerifyError::Revoked(_))
    ));
}

#[test]
fn jwt_configs_build_working_trait_objects() {
    let provider: IdentityProviderConfig = serde_json::from_value(json!({
        "type": "jwt",
        "key": {"algorithm": "ES256", "key": {"file": key_file("es256.key.pem")}},
        "subject": "alice",
        "audience": ["slim"]
    }))
    .unwrap();
    let verifier: IdentityVerifierConfig = serde_json::from_value(json!({
        "type": "jwt",
        "key": {"algorithm": "ES256", "format": "pem", "key": {"file": key_file("es256.pub.pem")}},
        "audience": ["slim"]
    }))
    .unwrap();
    let provider = provider.build(key()).unwrap();
    let verifier = verifier.build(None).unwrap();
    let claims = verifier
        .verify(&provider.token(at(T0)).unwrap(), at(T0))
        .unwrap();
    assert_eq!(claims.sub, "alice");
}

#[test]
fn configs_reject_unknown_fields_and_report_build_errors() {
    assert!(
        serde_json::from_value::<IdentityProviderConfig>(json!({
            "type": "shared_secret", "id": "a", "secret": SECRET, "typo": 1
        }))
        .is_err()
    );
    assert!(serde_json::from_value::<IdentityVerifierConfig>(json!({"type": "spire"})).is_err());

    let short: IdentityVerifierConfig =
        serde_json::from_value(json!({"type": "shared_secret", "secret": "short"})).unwrap();
    assert!(matches!(
        short.build(None),
        Err(ConfigError::SharedSecret(_))
    ));
    let missing: IdentityVerifierConfig = serde_json::from_value(json!({
        "type": "jwt", "key": {"algorithm": "RS256", "key": {"file": "/nonexistent/key.pem"}}
    }))
    .unwrap();
    assert!(matches!(missing.build(None), Err(ConfigError::JwtKey(_))));

    // Round trip through serde keeps every field.
    let config: IdentityVerifierConfig = serde_json::from_value(json!({
        "type": "shared_secret", "secret": SECRET, "validity_secs": 60,
        "allowed_ids": ["org/ns/alice"], "replay_cache_capacity": 10
    }))
    .unwrap();
    let again: IdentityVerifierConfig =
        serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
    assert_eq!(again, config);
}

#[test]
fn static_jwt_is_trimmed_identified_by_sub_and_reloaded() {
    let dir = ScratchDir::new();
    let file = dir.path("token.jwt");
    let first = hs256_token(json!({"sub": "static-alice", "exp": T0 + 3600}));
    write(&file, &format!("{first}\n"));

    let config: IdentityProviderConfig = serde_json::from_value(json!({
        "type": "static_jwt", "token_file": file, "reload_check_interval_secs": 5
    }))
    .unwrap();
    let provider = config.build(key()).unwrap();
    assert_eq!(provider.token_id(), "static-alice");
    assert_eq!(&*provider.token(at(T0)).unwrap(), first.as_str());

    let second = hs256_token(json!({"sub": "static-alice", "exp": T0 + 7200, "n": 2}));
    write(&file, &second);
    assert_eq!(
        &*provider.token(at(T0 + 1)).unwrap(),
        first.as_str(),
        "not re-checked before the interval"
    );
    assert_eq!(&*provider.token(at(T0 + 5)).unwrap(), second.as_str());

    // A broken rewrite keeps the last good token.
    write(&file, "garbage");
    assert_eq!(&*provider.token(at(T0 + 10)).unwrap(), second.as_str());
    std::fs::remove_file(&file).unwrap();
    assert_eq!(&*provider.token(at(T0 + 20)).unwrap(), second.as_str());
}

#[test]
fn static_jwt_needs_a_readable_token_with_a_subject() {
    let dir = ScratchDir::new();
    let config = |path: PathBuf| StaticJwtConfig {
        token_file: path,
        reload_check_interval_secs: 5,
    };
    assert!(matches!(
        StaticJwtProvider::new(&config(dir.path("missing")), key()),
        Err(ProviderError::StaticToken(_))
    ));
    let file = dir.path("no-sub.jwt");
    write(&file, &hs256_token(json!({"exp": T0})));
    assert!(matches!(
        StaticJwtProvider::new(&config(file.clone()), key()),
        Err(ProviderError::StaticToken(_))
    ));
    write(&file, "a.b");
    assert!(StaticJwtProvider::new(&config(file.clone()), key()).is_err());

    write(&file, &hs256_token(json!({"sub": "s"})));
    let provider = StaticJwtProvider::new(&config(file), key()).unwrap();
    let pushed = hs256_token(json!({"sub": "s", "v": 2}));
    provider.replace_token(&format!(" {pushed}\n")).unwrap();
    assert_eq!(&*provider.token(at(T0)).unwrap(), pushed.as_str());
    assert!(provider.replace_token("not a jwt").is_err());
}
