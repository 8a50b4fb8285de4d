//! Signing secrets: the text shown to the user and the key bytes that sign.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use super::Invalid;

/// A subscription's signing secret.
///
/// Generated secrets are `whsec_` + base64 of 24 random bytes (the Standard
/// Webhooks form). A user may choose their own (the seed's `secret` field).
/// The seed's `sha256=` header is keyed with the secret's text as shown; the
/// Standard Webhooks signature with the base64-decoded key for `whsec_`
/// secrets and with the text's bytes otherwise.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    shown: String,
    standard_key: Vec<u8>,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

impl SigningSecret {
    /// A fresh random `whsec_` secret.
    pub fn generate() -> Self {
        let mut key = [0u8; 24];
        rand::rng().fill_bytes(&mut key);
        Self {
            shown: format!("whsec_{}", STANDARD.encode(key)),
            standard_key: key.to_vec(),
        }
    }

    /// A secret chosen by the user: 1 to 256 printable ASCII characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > 256 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::whole(
                "a secret is 1 to 256 printable ASCII characters without spaces",
            ));
        }
        let standard_key = raw
            .strip_prefix("whsec_")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|key| !key.is_empty())
            .unwrap_or_else(|| raw.as_bytes().to_vec());
        Ok(Self {
            shown: raw.to_owned(),
            standard_key,
        })
    }

    /// The secret exactly as shown to the user (and keying `sha256=`).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The key bytes of the Standard Webhooks signature.
    pub fn standard_key(&self) -> &[u8] {
        &self.standard_key
    }
}
