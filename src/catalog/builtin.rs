//! The built-in event types, as Rust types whose derived JSON Schemas are the
//! contract producers publish against. Field docs become schema descriptions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A built-in event type: its name, what it means, and example payloads.
pub trait BuiltinEvent: JsonSchema {
    /// The event type name (`event` in flat deliveries, `type` in envelopes).
    const NAME: &'static str;
    /// One sentence for catalogs and app generators.
    const DESCRIPTION: &'static str;
    /// Example `data` payloads, used as samples before real events exist.
    fn examples() -> Vec<Value>;
}

/// Whether a generation produced an image or a video: "image" or "video".
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Image,
    Video,
}

/// An AI generation finished and its output is ready.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Generation complete")]
pub struct GenerationComplete {
    /// Whether the output is an image or a video.
    #[serde(rename = "type")]
    #[schemars(title = "Type")]
    pub media_type: MediaType,
    /// The user who asked for the generation.
    #[schemars(title = "User ID", length(min = 1))]
    pub user_id: String,
    /// Credits the generation consumed.
    #[schemars(title = "Credits used")]
    pub credits_used: u32,
    /// The generation's identifier.
    #[schemars(title = "Generation ID", length(min = 1))]
    pub generation_id: String,
    /// Where the generated file can be downloaded.
    #[schemars(title = "Output URL", url)]
    pub output_url: String,
}

impl BuiltinEvent for GenerationComplete {
    const NAME: &'static str = "generation_complete";
    const DESCRIPTION: &'static str = "An image or video generation finished.";
    fn examples() -> Vec<Value> {
        vec![
            json!({"type": "image", "user_id": "user_abc123", "credits_used": 1,
                   "generation_id": "gen_9f3a2b",
                   "output_url": "https://zsky.ai/outputs/gen_9f3a2b.png"}),
            json!({"type": "video", "user_id": "user_abc123", "credits_used": 5,
                   "generation_id": "gen_7c1d4e",
                   "output_url": "https://zsky.ai/outputs/gen_7c1d4e.mp4"}),
        ]
    }
}

/// A new user signed up.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Signup")]
pub struct Signup {
    /// The new user's email address.
    #[schemars(title = "Email", email)]
    pub email: String,
    /// The referral code used at signup, if any.
    #[schemars(title = "Referral code")]
    #[serde(default)]
    pub referral_code: Option<String>,
    /// The plan the user signed up on ("free", "starter", ...).
    #[schemars(title = "Plan", length(min = 1))]
    pub plan: String,
}

impl BuiltinEvent for Signup {
    const NAME: &'static str = "signup";
    const DESCRIPTION: &'static str = "A new user signed up.";
    fn examples() -> Vec<Value> {
        vec![json!({"email": "ada@example.com", "referral_code": "FRIEND10", "plan": "free"})]
    }
}

/// A paid subscription tier: "starter", "pro" or "ultra".
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Starter,
    Pro,
    Ultra,
}

/// A user started a paid subscription.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Subscription")]
pub struct Subscription {
    /// The tier subscribed to.
    #[schemars(title = "Tier")]
    pub tier: Tier,
    /// The subscriber's email address.
    #[schemars(title = "Email", email)]
    pub email: String,
    /// The amount charged, in `currency` units.
    #[schemars(title = "Amount", range(min = 0))]
    pub amount: f64,
    /// ISO 4217 currency code, upper case (e.g. "USD").
    #[schemars(title = "Currency", regex(pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    /// The Stripe subscription behind it.
    #[schemars(title = "Stripe subscription ID", length(min = 1))]
    pub stripe_subscription_id: String,
}

impl BuiltinEvent for Subscription {
    const NAME: &'static str = "subscription";
    const DESCRIPTION: &'static str = "A user started a paid subscription.";
    fn examples() -> Vec<Value> {
        vec![
            json!({"tier": "pro", "email": "ada@example.com", "amount": 19.99,
                    "currency": "USD", "stripe_subscription_id": "sub_1NxYz2AbCdEf"}),
        ]
    }
}

/// How a zip job ended: "succeeded" or "failed".
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ZipStatus {
    Succeeded,
    Failed,
}

/// The kind of object: always "zip".
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ZipObjectKind {
    Zip,
}

/// The cloud storage service of a bucket.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageService {
    S3,
    R2,
}

/// The destination bucket.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Bucket {
    /// The cloud storage service ("s3" or "r2").
    #[schemars(title = "Service")]
    pub service: StorageService,
    /// The bucket the zip was stored (or attempted to be stored) in.
    #[schemars(title = "Bucket name", length(min = 1))]
    pub name: String,
}

/// The zip job that triggered the event.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Zip {
    /// Unique zip identifier with `zip_` prefix.
    #[schemars(title = "Zip ID", length(min = 1))]
    pub id: String,
    /// Always "zip".
    #[schemars(title = "Object")]
    pub object: ZipObjectKind,
    /// The final status of the zip job.
    #[schemars(title = "Status")]
    pub status: ZipStatus,
    /// The storage key (filename/path) of the archive in the bucket.
    #[schemars(title = "Key")]
    pub key: String,
    /// Information about the destination bucket.
    #[schemars(title = "Bucket")]
    pub bucket: Bucket,
    /// Custom metadata attached when the zip was created ({} if none).
    #[schemars(title = "Metadata")]
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
    /// ETag/checksum of the uploaded file; successful uploads only.
    #[schemars(title = "Checksum")]
    #[serde(default)]
    pub checksum: Option<String>,
    /// Size of the zip in bytes; successful uploads only.
    #[schemars(title = "Size (bytes)")]
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// MIME type of the file, typically "application/zip"; successful uploads only.
    #[schemars(title = "Content type")]
    #[serde(default)]
    pub content_type: Option<String>,
}

/// Why a zip failed.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ZipError {
    /// The error category (e.g. "bucket_error").
    #[serde(rename = "type")]
    #[schemars(title = "Error type")]
    pub kind: String,
    /// A machine-readable code (e.g. "upload_failed").
    #[schemars(title = "Error code")]
    pub code: String,
    /// A human-readable explanation.
    #[schemars(title = "Error message")]
    pub message: String,
}

/// A zip job finished, successfully or not.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Zip completed")]
pub struct ZipCompleted {
    /// The zip object that triggered the event.
    #[schemars(title = "Zip")]
    pub object: Zip,
    /// Error details; present only when the zip failed.
    #[schemars(title = "Error")]
    #[serde(default)]
    pub error: Option<ZipError>,
}

impl BuiltinEvent for ZipCompleted {
    const NAME: &'static str = "zip.completed";
    const DESCRIPTION: &'static str = "A zip job finished, successfully or with a failure.";
    fn examples() -> Vec<Value> {
        vec![
            json!({"object": {"id": "zip_abc123", "object": "zip", "status": "succeeded",
                "key": "reports/monthly-2025-11.zip",
                "bucket": {"service": "s3", "name": "my-destination-bucket"},
                "metadata": {"user_id": "user_123", "order_id": "order_456"},
                "checksum": "d8e8fca2dc0f896fd7cb4cb0031ba249", "size_bytes": 12345,
                "content_type": "application/zip"}}),
            json!({"object": {"id": "zip_def456", "object": "zip", "status": "failed",
                "key": "reports/monthly-2025-11.zip",
                "bucket": {"service": "s3", "name": "my-destination-bucket"},
                "metadata": {"user_id": "user_123", "order_id": "order_456"}},
                "error": {"type": "bucket_error", "code": "upload_failed",
                          "message": "Failed to upload zip to bucket"}}),
        ]
    }
}
