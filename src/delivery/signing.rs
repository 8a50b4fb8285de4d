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
    let mut digits = [0_u8; 64];
    hex::encode_to_slice(mac.finalize().into_bytes(), &mut digits).expect("64 digits for 32 bytes");
    let mut value = String::with_capacity(7 + digits.len());
    value.push_str("sha256=");
    value.push_str(std::str::from_utf8(&digits).expect("hex digits are ASCII"));
    value
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
    let mut value = String::with_capacity(3 + 44);
    value.push_str("v1,");
    STANDARD.encode_string(mac.finalize().into_bytes(), &mut value);
    value
}
