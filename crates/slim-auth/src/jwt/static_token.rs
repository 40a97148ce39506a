//! [`StaticJwtProvider`]: serves a JWT issued elsewhere, read from a file and re-read when the
//! file changes (checked at most every `reload_check_interval_secs`, using the `now` passed
//! in, so a busy sender does not stat the file per message).
//!
//! Whoever issues the token must put this app's `pubkey` claim in it, or peers will reject the
//! app's header signatures. Surrounding whitespace (a trailing newline) is stripped; upstream
//! sends it verbatim, which its own verifiers then reject as malformed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::MAX_JWT_LEN;
use crate::identity::{IdentityProvider, ProviderError, unix_seconds};
use crate::keys::SigningKey;

/// Configuration of a [`StaticJwtProvider`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticJwtConfig {
    /// File holding the token.
    pub token_file: PathBuf,
    /// Seconds between checks for a changed file. Default 5.
    #[serde(default = "default_reload_check")]
    pub reload_check_interval_secs: u64,
}

fn default_reload_check() -> u64 {
    5
}

/// Serves a JWT from a file.
pub struct StaticJwtProvider {
    path: PathBuf,
    check_interval_secs: u64,
    token_id: String,
    signing_key: SigningKey,
    state: Mutex<FileState>,
}

struct FileState {
    token: Arc<str>,
    /// Modification time and length of the file when `token` was read.
    stamp: Option<(SystemTime, u64)>,
    last_check: u64,
}

impl StaticJwtProvider {
    /// Reads the token file once; the token's `sub` becomes the token id.
    pub fn new(config: &StaticJwtConfig, signing_key: SigningKey) -> Result<Self, ProviderError> {
        let (token, stamp) = read_token(&config.token_file)?;
        let token_id = subject_of(&token)?;
        Ok(Self {
            path: config.token_file.clone(),
            check_interval_secs: config.reload_check_interval_secs,
            token_id,
            signing_key,
            state: Mutex::new(FileState {
                token: token.into(),
                stamp,
                last_check: 0,
            }),
        })
    }

    /// Installs a token directly (for drivers that fetch tokens themselves). It serves until
    /// the file next changes.
    pub fn replace_token(&self, token: &str) -> Result<(), ProviderError> {
        let token = token.trim();
        check_shape(token)?;
        self.lock().token = token.into();
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FileState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl IdentityProvider for StaticJwtProvider {
    fn token(&self, now: SystemTime) -> Result<Arc<str>, ProviderError> {
        let now = unix_seconds(now).ok_or(ProviderError::ClockBeforeEpoch)?;
        let mut state = self.lock();
        if now.abs_diff(state.last_check) >= self.check_interval_secs {
            state.last_check = now;
            let current = file_stamp(&self.path);
            if current.is_some() && current != state.stamp {
                // A file caught mid-rewrite or briefly missing keeps the previous token.
                if let Ok((token, stamp)) = read_token(&self.path) {
                    state.token = token.into();
                    state.stamp = stamp;
                }
            }
        }
        Ok(Arc::clone(&state.token))
    }

    fn token_id(&self) -> &str {
        &self.token_id
    }

    fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }
}

impl std::fmt::Debug for StaticJwtProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticJwtProvider")
            .field("path", &self.path)
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

fn file_stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

fn read_token(path: &PathBuf) -> Result<(String, Option<(SystemTime, u64)>), ProviderError> {
    use std::io::Read as _;
    let stamp = file_stamp(path);
    let error = |e: std::io::Error| ProviderError::StaticToken(format!("{}: {e}", path.display()));
    let mut text = String::new();
    // One byte over the limit is enough to know the file is too long.
    std::fs::File::open(path)
        .map_err(error)?
        .take(MAX_JWT_LEN as u64 + 1)
        .read_to_string(&mut text)
        .map_err(error)?;
    let token = text.trim();
    check_shape(token)?;
    Ok((token.to_owned(), stamp))
}

fn check_shape(token: &str) -> Result<(), ProviderError> {
    if token.is_empty() || token.len() > MAX_JWT_LEN || token.split('.').count() != 3 {
        return Err(ProviderError::StaticToken(
            "not a compact JWT (three '.'-separated parts)".into(),
        ));
    }
    Ok(())
}

/// The `sub` of a token, read without verification (the token is ours to present, not to
/// trust).
fn subject_of(token: &str) -> Result<String, ProviderError> {
    super::ensure_crypto_backend();
    let data =
        jsonwebtoken::dangerous::insecure_decode::<serde_json::Map<String, serde_json::Value>>(
            token,
        )
        .map_err(|e| ProviderError::StaticToken(format!("undecodable token: {e}")))?;
    match data.claims.get("sub") {
        Some(serde_json::Value::String(sub)) if !sub.is_empty() => Ok(sub.clone()),
        _ => Err(ProviderError::StaticToken("token has no sub claim".into())),
    }
}
