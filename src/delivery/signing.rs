//! Signatures on every delivery: the seed's `sha256=` header and Standard
//! Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::SigningSecret;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=` + hex HMAC-SHA256 of the exact body, keyed with the secret's
/// text as shown to the user: what the seed's `verify_signature` checks.
pub fn seed_signature(secret: &SigningSecret, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.shown().as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The Standard Webhooks `webhook-signature` value: `v1,` + base64 of
/// HMAC-SHA256 over `{id}.{timestamp}.{body}` with the secret's key bytes.
pub fn standard_signature(
    secret: &SigningSecret,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.standard_key()).expect("any key length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}
