//! Encryption at rest of what the store must be able to read back but must
//! not keep in clear: signing secrets (current and rotated-out) and custom
//! header values. ChaCha20-Poly1305 with a random nonce per value, under the
//! key from `--encryption-key`; values sealed under an older key stay
//! readable while that key is listed in `--old-encryption-keys`, and are
//! sealed under the current key the next time they are written.
//!
//! Each value is bound to its owner, the row and column it is stored in
//! ([`Owner`]), as associated data: a sealed value copied into another row or
//! another column does not open.
//!
//! Stored form: `enc:v2:<key id>:<base64(nonce || ciphertext)>`, the key id
//! being the first 8 hex digits of the key's SHA-256. Earlier versions wrote
//! `enc:v1:` values (sealed without associated data) and, before that, plain
//! values; each store binds those to their rows in place once, at start
//! ([`Sealer::open_unbound`] reads them for that), and refuses them after.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Values bound to their owner.
const PREFIX: &str = "enc:v2:";
/// Values sealed before they were bound to their owner.
const UNBOUND_PREFIX: &str = "enc:v1:";
const NONCE_BYTES: usize = 12;

/// A column that holds sealed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `subscriptions.secret`: the signing secret.
    Secret,
    /// `subscriptions.previous_secret`: the secret a rotation replaced.
    PreviousSecret,
    /// `subscriptions.headers`: the custom header values, as JSON.
    Headers,
}

impl SealedColumn {
    /// Every sealed column.
    pub const ALL: [SealedColumn; 3] = [Self::Secret, Self::PreviousSecret, Self::Headers];

    /// The column's name in the `subscriptions` table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::PreviousSecret => "previous_secret",
            Self::Headers => "headers",
        }
    }
}

/// Where a sealed value is stored: its associated data.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// The column.
    pub column: SealedColumn,
    /// The id of the subscription whose row holds it.
    pub row: &'a str,
}

impl Owner<'_> {
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "hookbridge/subscriptions/{}/{}",
            self.column.name(),
            self.row
        )
        .into_bytes()
    }
}

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
    /// The value is damaged, was not sealed under the key it names, or was
    /// sealed for another row or column.
    #[error(
        "a sealed value does not decrypt: it is damaged, its key is wrong, or it was sealed for \
         another row or column"
    )]
    Damaged,
    /// The value was never bound to its row (an old or plain value that
    /// was not upgraded at start, or one copied in from elsewhere).
    #[error("a stored value is not sealed for its row")]
    Unbound,
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

    /// The stored form of `plain`, bound to `owner`.
    pub fn seal(&self, plain: &str, owner: Owner<'_>) -> String {
        let (id, cipher) = &self.current;
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let aad = owner.associated_data();
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: &aad,
        };
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("ChaCha20-Poly1305 encrypts any input of this size");
        let mut payload = nonce.to_vec();
        payload.extend(sealed);
        format!("{PREFIX}{id}:{}", STANDARD.encode(payload))
    }

    /// The plain value of a value stored at `owner`. A value sealed for
    /// another row or column does not open, nor does one never bound to an
    /// owner.
    pub fn open(&self, stored: &str, owner: Owner<'_>) -> Result<String, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Err(SealError::Unbound);
        };
        self.decrypt(rest, &owner.associated_data())
    }

    /// Whether `stored` is bound to an owner (sealed by this version).
    pub fn is_bound(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// The plain value of a value stored before values were bound to their
    /// owner (`enc:v1:`, or plain), for binding it in place.
    pub fn open_unbound(&self, stored: &str) -> Result<String, SealError> {
        match stored.strip_prefix(UNBOUND_PREFIX) {
            Some(rest) => self.decrypt(rest, b""),
            None if Self::is_bound(stored) => Err(SealError::Damaged),
            None => Ok(stored.to_owned()),
        }
    }

    /// Decrypt `<key id>:<base64>` with `aad`.
    fn decrypt(&self, rest: &str, aad: &[u8]) -> Result<String, SealError> {
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
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain).map_err(|_| SealError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: Owner<'static> = Owner {
        column: SealedColumn::Secret,
        row: "sub_a",
    };

    #[test]
    fn sealed_values_are_opaque_fresh_each_time_and_open_again() {
        let sealer = Sealer::new(&EncryptionKey::generate(), &[]);
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let (a, b) = (sealer.seal(secret, ROW), sealer.seal(secret, ROW));
        assert!(a.starts_with("enc:v2:") && !a.contains("MfKQ9r8"));
        assert_ne!(a, b, "a fresh nonce per value");
        assert_eq!(sealer.open(&a, ROW).unwrap(), secret);
    }

    #[test]
    fn a_value_opens_only_where_it_was_sealed() {
        let sealer = Sealer::new(&EncryptionKey::generate(), &[]);
        let sealed = sealer.seal("whsec_x", ROW);
        let other_row = Owner {
            row: "sub_b",
            ..ROW
        };
        let other_column = Owner {
            column: SealedColumn::PreviousSecret,
            ..ROW
        };
        for elsewhere in [other_row, other_column] {
            assert!(matches!(
                sealer.open(&sealed, elsewhere),
                Err(SealError::Damaged)
            ));
        }
    }

    #[test]
    fn unbound_values_are_read_only_to_be_bound() {
        let key = EncryptionKey::generate();
        let sealer = Sealer::new(&key, &[]);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key.0));
        let nonce = [7u8; NONCE_BYTES];
        let mut payload = nonce.to_vec();
        payload.extend(
            cipher
                .encrypt(Nonce::from_slice(&nonce), b"whsec_old".as_slice())
                .unwrap(),
        );
        let v1 = format!("{UNBOUND_PREFIX}{}:{}", key.id(), STANDARD.encode(payload));
        assert_eq!(sealer.open_unbound(&v1).unwrap(), "whsec_old");
        assert_eq!(sealer.open_unbound("whsec_plain").unwrap(), "whsec_plain");
        assert!(matches!(sealer.open(&v1, ROW), Err(SealError::Unbound)));
        assert!(matches!(
            sealer.open("whsec_plain", ROW),
            Err(SealError::Unbound)
        ));
        assert!(!Sealer::is_bound(&v1) && Sealer::is_bound(&sealer.seal("x", ROW)));
    }

    #[test]
    fn old_keys_open_after_rotation_and_unknown_or_damaged_values_fail() {
        let (old, new) = (EncryptionKey::generate(), EncryptionKey::generate());
        let sealed = Sealer::new(&old, &[]).seal("value", ROW);
        assert!(matches!(
            Sealer::new(&new, &[]).open(&sealed, ROW),
            Err(SealError::UnknownKey(_))
        ));
        assert_eq!(
            Sealer::new(&new, std::slice::from_ref(&old))
                .open(&sealed, ROW)
                .unwrap(),
            "value"
        );
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(Sealer::new(&old, &[]).open(&damaged, ROW).is_err());
    }
}
