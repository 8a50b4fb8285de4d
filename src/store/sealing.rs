//! Encryption at rest of what the store must be able to read back but must
//! not keep in clear: signing secrets (current and rotated-out) and custom
//! header values. ChaCha20-Poly1305 with a random nonce per value, under the
//! key from `--encryption-key`; values sealed under an older key stay
//! readable while that key is listed in `--old-encryption-keys`, and are
//! sealed under the current key the next time they are written.
//!
//! Stored form: `enc:v1:<key id>:<base64(nonce || ciphertext)>`, the key id
//! being the first 8 hex digits of the key's SHA-256. A value without the
//! prefix (written before encryption existed) is read as it is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc:v1:";
const NONCE_BYTES: usize = 12;

/// A 32-byte encryption key.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey([u8; 32]);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey({})", self.id())
    }
}

impl EncryptionKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    /// The key as configuration spells it: 32 bytes in standard base64.
    pub fn encoded(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The key's public name: the first 8 hex digits of its SHA-256.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0)[..4])
    }
}

impl std::str::FromStr for EncryptionKey {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bytes = STANDARD
            .decode(raw.trim())
            .map_err(|_| "an encryption key is 32 bytes in base64 (openssl rand -base64 32)")?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "an encryption key is exactly 32 bytes (openssl rand -base64 32)")?;
        Ok(Self(key))
    }
}

/// A sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The value names a key this process was not given.
    #[error(
        "a value is sealed under key {0}, which is neither --encryption-key nor in --old-encryption-keys"
    )]
    UnknownKey(String),
    /// The value is damaged or was not sealed under the key it names.
    #[error("a sealed value does not decrypt: it is damaged or its key is wrong")]
    Damaged,
}

/// Seals under the current key; opens under the current or an old one.
#[derive(Clone)]
pub struct Sealer {
    current: (String, ChaCha20Poly1305),
    old: Vec<(String, ChaCha20Poly1305)>,
}

impl Sealer {
    /// Seal with `current`; also open values sealed with any of `old`.
    pub fn new(current: &EncryptionKey, old: &[EncryptionKey]) -> Self {
        let cipher =
            |key: &EncryptionKey| (key.id(), ChaCha20Poly1305::new(Key::from_slice(&key.0)));
        Self {
            current: cipher(current),
            old: old.iter().map(cipher).collect(),
        }
    }

    /// The stored form of `plain`.
    pub fn seal(&self, plain: &str) -> String {
        let (id, cipher) = &self.current;
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .expect("ChaCha20-Poly1305 encrypts any input of this size");
        let mut payload = nonce.to_vec();
        payload.extend(sealed);
        format!("{PREFIX}{id}:{}", STANDARD.encode(payload))
    }

    /// The plain value of a stored one.
    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest.split_once(':').ok_or(SealError::Damaged)?;
        let cipher = std::iter::once(&self.current)
            .chain(&self.old)
            .find(|(known, _)| known == id)
            .map(|(_, cipher)| cipher)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let payload = STANDARD.decode(body).map_err(|_| SealError::Damaged)?;
        if payload.len() < NONCE_BYTES {
            return Err(SealError::Damaged);
        }
        let (nonce, sealed) = payload.split_at(NONCE_BYTES);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain).map_err(|_| SealError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_are_opaque_fresh_each_time_and_open_again() {
        let sealer = Sealer::new(&EncryptionKey::generate(), &[]);
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let (a, b) = (sealer.seal(secret), sealer.seal(secret));
        assert!(a.starts_with("enc:v1:") && !a.contains("MfKQ9r8"));
        assert_ne!(a, b, "a fresh nonce per value");
        assert_eq!(sealer.open(&a).unwrap(), secret);
        assert_eq!(
            sealer.open("plain, from before").unwrap(),
            "plain, from before"
        );
    }

    #[test]
    fn old_keys_open_after_rotation_and_unknown_or_damaged_values_fail() {
        let (old, new) = (EncryptionKey::generate(), EncryptionKey::generate());
        let sealed = Sealer::new(&old, &[]).seal("value");
        assert!(matches!(
            Sealer::new(&new, &[]).open(&sealed),
            Err(SealError::UnknownKey(_))
        ));
        assert_eq!(
            Sealer::new(&new, std::slice::from_ref(&old))
                .open(&sealed)
                .unwrap(),
            "value"
        );
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(Sealer::new(&old, &[]).open(&damaged).is_err());
    }
}
