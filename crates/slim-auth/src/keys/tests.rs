use rand::SeedableRng as _;
use rand::rngs::StdRng;
use ring::signature::{self as ring_sig, KeyPair as _};

use super::*;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The P-256 base point G, uncompressed (SEC 2, section 2.4.2).
const P256_GENERATOR: &str = "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
                              4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

#[test]
fn generated_keys_have_the_wire_lengths() {
    let p256 = SigningKey::generate(SignatureScheme::EcdsaP256Sha256, &mut rng(1));
    let public = p256.public_key_bytes();
    assert_eq!(public.len(), 65);
    assert_eq!(public[0], 0x04, "uncompressed SEC1 point");
    assert_eq!(p256.private_bytes().len(), 32);

    let ed = SigningKey::generate(SignatureScheme::Ed25519, &mut rng(1));
    assert_eq!(ed.public_key_bytes().len(), 32);
    assert_eq!(ed.private_bytes().len(), 32);
    assert_eq!(ed.sign(b"m").len(), 64);
}

#[test]
fn generation_is_deterministic_for_a_seeded_rng() {
    for scheme in [SignatureScheme::EcdsaP256Sha256, SignatureScheme::Ed25519] {
        let a = SigningKey::generate(scheme, &mut rng(7));
        let b = SigningKey::generate(scheme, &mut rng(7));
        let c = SigningKey::generate(scheme, &mut rng(8));
        assert_eq!(a.public_key_bytes(), b.public_key_bytes());
        assert_ne!(a.public_key_bytes(), c.public_key_bytes());
    }
}

#[test]
fn private_bytes_round_trip() {
    for scheme in [SignatureScheme::EcdsaP256Sha256, SignatureScheme::Ed25519] {
        let key = SigningKey::generate(scheme, &mut rng(3));
        let again = SigningKey::from_private_bytes(scheme, &key.private_bytes()).unwrap();
        assert_eq!(again.public_key_bytes(), key.public_key_bytes());
        assert_eq!(again.scheme(), scheme);
    }
}

#[test]
fn short_p256_scalars_are_left_padded() {
    let one = SigningKey::from_private_bytes(SignatureScheme::EcdsaP256Sha256, &[1]).unwrap();
    assert_eq!(hex::encode(one.public_key_bytes()), P256_GENERATOR);
    let mut padded = [0u8; 32];
    padded[31] = 1;
    assert_eq!(one.private_bytes().as_slice(), &padded);

    let key = SigningKey::generate(SignatureScheme::EcdsaP256Sha256, &mut rng(4));
    let scalar = key.private_bytes();
    // A 31-byte suffix is a different (smaller) scalar, but still a valid key: it is padded,
    // not rejected.
    let shorter = SigningKey::from_private_bytes(key.scheme(), &scalar[1..]).unwrap();
    let mut expected = scalar.to_vec();
    expected[0] = 0;
    assert_eq!(shorter.private_bytes().as_slice(), expected.as_slice());
}

#[test]
fn invalid_private_keys_are_rejected() {
    let p256 = SignatureScheme::EcdsaP256Sha256;
    assert_eq!(
        SigningKey::from_private_bytes(p256, &[0u8; 32]).unwrap_err(),
        KeyError::InvalidScalar
    );
    assert_eq!(
        SigningKey::from_private_bytes(p256, &[0xffu8; 32]).unwrap_err(),
        KeyError::InvalidScalar,
        "scalar above the group order"
    );
    assert!(matches!(
        SigningKey::from_private_bytes(p256, &[1u8; 33]),
        Err(KeyError::PrivateKeyLength { len: 33, .. })
    ));
    assert!(matches!(
        SigningKey::from_private_bytes(p256, &[]),
        Err(KeyError::PrivateKeyLength { len: 0, .. })
    ));
    assert!(matches!(
        SigningKey::from_private_bytes(SignatureScheme::Ed25519, &[1u8; 31]),
        Err(KeyError::PrivateKeyLength { len: 31, .. })
    ));
}

#[test]
fn sign_and_verify_both_schemes() {
    for scheme in [SignatureScheme::EcdsaP256Sha256, SignatureScheme::Ed25519] {
        let key = SigningKey::generate(scheme, &mut rng(5));
        let signature = key.sign(b"header aad");
        let public = key.public_key_bytes();
        verify(&public, b"header aad", &signature).unwrap();
        assert_eq!(
            verify(&public, b"header aae", &signature).unwrap_err(),
            SignatureError::Mismatch(scheme)
        );
        let other = SigningKey::generate(scheme, &mut rng(6)).public_key_bytes();
        assert_eq!(
            verify(&other, b"header aad", &signature).unwrap_err(),
            SignatureError::Mismatch(scheme)
        );
        assert_eq!(
            verify(&public, b"header aad", &signature[..signature.len() - 1]).unwrap_err(),
            SignatureError::Malformed(scheme)
        );
    }
}

#[test]
fn p256_signatures_are_der() {
    let key = SigningKey::generate(SignatureScheme::EcdsaP256Sha256, &mut rng(9));
    for message in [&b""[..], b"a", b"a longer message to sign"] {
        let der = key.sign(message);
        // SEQUENCE { INTEGER r, INTEGER s }, each integer at most 33 bytes.
        assert_eq!(der[0], 0x30);
        assert_eq!(usize::from(der[1]), der.len() - 2);
        assert!((8..=72).contains(&der.len()), "len {}", der.len());
        assert_eq!(der[2], 0x02);
    }
    // A fixed-size r||s signature is not accepted in place of DER.
    let fixed = [1u8; 64];
    assert_eq!(
        verify(&key.public_key_bytes(), b"", &fixed).unwrap_err(),
        SignatureError::Malformed(SignatureScheme::EcdsaP256Sha256)
    );
}

#[test]
fn compressed_p256_keys_verify() {
    let key = SigningKey::generate(SignatureScheme::EcdsaP256Sha256, &mut rng(10));
    let uncompressed = key.public_key_bytes();
    let mut compressed = vec![if uncompressed[64] & 1 == 1 {
        0x03
    } else {
        0x02
    }];
    compressed.extend_from_slice(&uncompressed[1..33]);
    let signature = key.sign(b"m");
    verify(&compressed, b"m", &signature).unwrap();
    let decoded = VerifyingKey::from_bytes(&compressed).unwrap();
    assert_eq!(
        decoded.to_bytes(),
        uncompressed,
        "canonical form is uncompressed"
    );
}

#[test]
fn public_key_lengths_pick_the_scheme() {
    assert_eq!(
        VerifyingKey::from_bytes(&[4u8; 64]).unwrap_err(),
        KeyError::PublicKeyLength(64)
    );
    assert_eq!(
        VerifyingKey::from_bytes(&[]).unwrap_err(),
        KeyError::PublicKeyLength(0)
    );
    assert_eq!(
        VerifyingKey::from_bytes(&[4u8; 65]).unwrap_err(),
        KeyError::InvalidPublicKey(SignatureScheme::EcdsaP256Sha256)
    );
    let ed = SigningKey::generate(SignatureScheme::Ed25519, &mut rng(2));
    let key = VerifyingKey::from_bytes(&ed.public_key_bytes()).unwrap();
    assert_eq!(key.scheme(), SignatureScheme::Ed25519);
}

#[test]
fn debug_never_prints_the_secret() {
    let key = SigningKey::generate(SignatureScheme::EcdsaP256Sha256, &mut rng(11));
    let printed = format!("{key:?}");
    assert!(!printed.contains(&hex::encode(key.private_bytes())));
    assert!(printed.contains(&key.public_key_base64()));
}

// Cross-checks with an independent implementation (ring): key encodings and signature
// encodings are the standard ones, not merely self-consistent.

#[test]
fn ring_verifies_our_p256_signatures_and_agrees_on_the_public_key() {
    let key = SigningKey::generate(SignatureScheme::EcdsaP256Sha256, &mut rng(12));
    let ring_key = ring_sig::EcdsaKeyPair::from_private_key_and_public_key(
        &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
        &key.private_bytes(),
        &key.public_key_bytes(),
        &ring::rand::SystemRandom::new(),
    )
    .expect("ring accepts our scalar and point as one key pair");
    assert_eq!(ring_key.public_key().as_ref(), key.public_key_bytes());

    let message = b"interop message";
    let ours = key.sign(message);
    ring_sig::UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_ASN1, key.public_key_bytes())
        .verify(message, &ours)
        .expect("ring verifies our DER signature");

    let theirs = ring_key
        .sign(&ring::rand::SystemRandom::new(), message)
        .unwrap();
    verify(&key.public_key_bytes(), message, theirs.as_ref()).expect("we verify ring's");
}

#[test]
fn ring_agrees_on_ed25519_keys_and_signatures() {
    let key = SigningKey::generate(SignatureScheme::Ed25519, &mut rng(13));
    let ring_key = ring_sig::Ed25519KeyPair::from_seed_unchecked(&key.private_bytes()).unwrap();
    assert_eq!(ring_key.public_key().as_ref(), key.public_key_bytes());
    let message = b"interop message";
    // Ed25519 is deterministic: both implementations produce the same bytes.
    assert_eq!(
        ring_key.sign(message).as_ref(),
        key.sign(message).as_slice()
    );
    ring_sig::UnparsedPublicKey::new(&ring_sig::ED25519, key.public_key_bytes())
        .verify(message, &key.sign(message))
        .unwrap();
}
