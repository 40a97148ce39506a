//! The three MLS ciphersuites SLIM speaks, and how each maps onto the library's code points.
//!
//! The code points are wire facts: a key package, welcome or commit names its suite, and upstream
//! peers only accept the suite their build selects (0x0002 by default, 0x0001 with the
//! `curve25519` feature, 0xFE4C when post-quantum is enforced).

use std::fmt;

use mls_rs::CipherSuite;

/// An MLS ciphersuite supported by SLIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Suite {
    /// `MLS_128_DHKEMP256_AES128GCM_SHA256_P256` (0x0002): upstream's default, interoperates with
    /// browser WebCrypto peers. Signature keys are ECDSA P-256.
    #[default]
    P256,
    /// `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519` (0x0001). Signature keys are Ed25519.
    Curve25519,
    /// Private-use code point 0xFE4C (65100): the HPKE KEM is X-Wing (ML-KEM-768 combined with
    /// X25519, SHA3-256/SHAKE128), everything else as 0x0001. Signature keys are Ed25519.
    PostQuantum,
}

/// How the signature key pair of a suite is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// ECDSA over P-256 with SHA-256: secret = big-endian scalar (at most 32 bytes),
    /// public = SEC1 point (65 bytes uncompressed or 33 compressed).
    EcdsaP256,
    /// Ed25519: secret = 32-byte seed, public = 32 bytes.
    Ed25519,
}

impl Suite {
    /// All supported suites, default first.
    pub const ALL: [Suite; 3] = [Suite::P256, Suite::Curve25519, Suite::PostQuantum];

    /// The 16-bit code point carried on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Suite::P256 => 0x0002,
            Suite::Curve25519 => 0x0001,
            Suite::PostQuantum => 0xFE4C,
        }
    }

    /// The suite with this code point, if SLIM supports it.
    pub const fn from_code(code: u16) -> Option<Suite> {
        match code {
            0x0002 => Some(Suite::P256),
            0x0001 => Some(Suite::Curve25519),
            0xFE4C => Some(Suite::PostQuantum),
            _ => None,
        }
    }

    /// The signature scheme of the suite, which decides the encoding of identity keys.
    pub const fn signature_scheme(self) -> SignatureScheme {
        match self {
            Suite::P256 => SignatureScheme::EcdsaP256,
            Suite::Curve25519 | Suite::PostQuantum => SignatureScheme::Ed25519,
        }
    }

    pub(crate) fn cipher_suite(self) -> CipherSuite {
        CipherSuite::new(self.code())
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Suite::P256 => "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
            Suite::Curve25519 => "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
            Suite::PostQuantum => "X-Wing (ML-KEM-768 + X25519) with AES128GCM_SHA256_Ed25519",
        };
        write!(f, "{name} (0x{:04X})", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_points_match_the_library_constants() {
        assert_eq!(Suite::P256.cipher_suite(), CipherSuite::P256_AES128);
        assert_eq!(
            Suite::Curve25519.cipher_suite(),
            CipherSuite::CURVE25519_AES128
        );
        assert_eq!(
            Suite::PostQuantum.cipher_suite(),
            CipherSuite::ML_KEM_768_X25519
        );
        assert_eq!(Suite::PostQuantum.code(), 65100);
    }

    #[test]
    fn codes_round_trip_and_unknown_codes_are_refused() {
        for suite in Suite::ALL {
            assert_eq!(Suite::from_code(suite.code()), Some(suite));
        }
        assert_eq!(Suite::from_code(0x0003), None);
        assert_eq!(Suite::default(), Suite::P256);
    }
}
