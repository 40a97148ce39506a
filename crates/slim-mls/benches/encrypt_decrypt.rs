//! Cost of MLS on the data path: one `encrypt` by the sender plus one `decrypt` by a receiver,
//! for 64 B and 4 KiB payloads, in each suite; and, to explain the figures, one signature plus
//! its verification in each suite's scheme (every MLS application message is signed).
//! Figures, not pass/fail.

#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use slim_mls::{MemberId, MemberValidator, MlsClient, MlsGroup, MlsIdentity, Suite};

/// Accepts everyone; the credential is the member id.
struct AcceptAll;

impl MemberValidator for AcceptAll {
    fn validate(&self, credential: &[u8], _: &[u8], _: SystemTime) -> Result<MemberId, String> {
        self.member_id(credential)
    }

    fn member_id(&self, credential: &[u8]) -> Result<MemberId, String> {
        String::from_utf8(credential.to_vec()).map_err(|e| e.to_string())
    }
}

fn pair(suite: Suite) -> anyhow::Result<(MlsGroup, MlsGroup)> {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let validator: Arc<dyn MemberValidator> = Arc::new(AcceptAll);
    let make = |name: &str| -> anyhow::Result<MlsClient> {
        let (secret, public) = MlsIdentity::generate_signing_keys(suite)?;
        let identity = MlsIdentity::new(name.as_bytes().to_vec(), secret, public);
        Ok(MlsClient::new(&identity, suite, validator.clone())?)
    };
    let mut sender = make("sender")?.create_group(b"bench", now)?;
    let pending = make("receiver")?.key_package(now)?;
    let out = sender.add_member(pending.key_package(), now)?;
    let receiver = pending.join(&out.welcome, now)?;
    Ok((sender, receiver))
}

fn encrypt_decrypt(c: &mut Criterion) {
    let aad = vec![0x5Au8; 120]; // about the size of a HeaderIntegrityAad without identity
    let mut group = c.benchmark_group("mls_encrypt_decrypt");
    group.measurement_time(Duration::from_secs(3));
    for suite in Suite::ALL {
        let Ok((mut sender, mut receiver)) = pair(suite) else {
            eprintln!("cannot set up {suite}");
            continue;
        };
        for size in [64usize, 4096] {
            let payload = vec![7u8; size];
            group.throughput(Throughput::Bytes(size as u64));
            let id = BenchmarkId::new(format!("{:04x}", suite.code()), size);
            group.bench_with_input(id, &payload, |b, payload| {
                b.iter(|| {
                    let message = sender.encrypt(payload, &aad).map_err(|e| e.to_string());
                    let message = message.unwrap_or_default();
                    receiver
                        .decrypt(&message)
                        .map(|d| d.plaintext.len())
                        .unwrap_or(0)
                })
            });
        }
    }
    group.finish();
}

fn sign_verify(c: &mut Criterion) {
    use mls_rs::{CipherSuiteProvider, CryptoProvider};
    let mut group = c.benchmark_group("signature_sign_verify");
    group.measurement_time(Duration::from_secs(2));
    let data = vec![3u8; 256]; // about the signed content of a 64 B message with its AAD
    for suite in Suite::ALL {
        let provider = mls_rs_crypto_awslc::AwsLcCryptoProvider::new()
            .cipher_suite_provider(mls_rs::CipherSuite::new(suite.code()));
        let Some(provider) = provider else { continue };
        let Ok((secret, public)) = provider.signature_key_generate() else {
            continue;
        };
        group.bench_function(format!("{:04x}", suite.code()), |b| {
            b.iter(|| {
                let signature = provider.sign(&secret, &data).unwrap_or_default();
                provider.verify(&public, &signature, &data).is_ok()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encrypt_decrypt, sign_verify);
criterion_main!(benches);
