//! The OpenAPI 3.1 document of the API, generated from the handlers'
//! annotations (utoipa) and served at `GET /openapi.json`.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, ErrorBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hookbridge",
        description = "Webhooks and no-code integrations (Zapier, Make.com) for any SaaS product: \
            the producer publishes typed events; accounts register webhooks and REST hooks; \
            every matching subscription gets each event, signed, with retries.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The keys: the producer's admin key as a bearer token; an account's API
/// key in `X-Api-Key` or as a bearer token.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        components.add_security_scheme("admin_key", bearer());
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
        components.add_security_scheme("api_key_bearer", bearer());
    }
}

/// The document's info and shared components, before routes add paths.
pub fn base() -> Document {
    ApiDoc::openapi()
}

/// The whole document: every route the router serves.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = super::documented_routes().into_openapi();
        document_rate_limits(&mut document);
        document
    })
}

/// Every account operation, and publishing, may answer 429 (the per-account
/// limits of `limits.rs`); documented here once rather than on each handler,
/// so a new account route cannot miss it.
fn document_rate_limits(document: &mut Document) {
    let too_many = ResponseBuilder::new()
        .description(
            "Over this account's rate limit: nothing was done; retry after `Retry-After` seconds",
        )
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .description(Some("Seconds to wait"))
                .build(),
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            (&mut item.get, false),
            (&mut item.put, false),
            (&mut item.patch, false),
            (&mut item.delete, false),
            (&mut item.post, path == "/v1/events"),
        ];
        for (operation, publishes) in operations {
            let Some(operation) = operation else { continue };
            let by_account = operation.security.iter().flatten().any(|requirement| {
                serde_json::to_value(requirement).is_ok_and(|v| v.get("api_key").is_some())
            });
            if by_account || publishes {
                operation
                    .responses
                    .responses
                    .insert("429".into(), RefOr::T(too_many.clone()));
            }
        }
    }
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "This API's OpenAPI 3.1 document",
    responses((status = 200, description = "The document"))
)]
async fn openapi_json() -> Json<&'static Document> {
    Json(document())
}
