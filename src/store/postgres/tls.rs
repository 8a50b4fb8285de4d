//! TLS to PostgreSQL (rustls). The URL's `sslmode` decides whether TLS is
//! used (`require`; `prefer`, tokio-postgres' default, uses it when the
//! server offers it; `disable`), and whenever it is used the server's
//! certificate is verified, against the system's roots plus the CA file
//! given with `--database-ca-file` (a managed database's bundle, or a
//! private CA). There is no "encrypt but trust anyone" mode.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::{StoreError, StoreResult};

/// The connector every PostgreSQL connection of this node uses.
pub fn connector(ca_file: Option<&Path>) -> StoreResult<MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let certificates = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                StoreError::Database(format!(
                    "could not read the database CA file {}: {e}",
                    path.display()
                ))
            })?;
        if certificates.is_empty() {
            return Err(StoreError::Database(format!(
                "the database CA file {} holds no PEM certificate",
                path.display()
            )));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|e| {
                StoreError::Database(format!(
                    "a certificate in {} is not usable: {e}",
                    path.display()
                ))
            })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Database(format!("TLS settings: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `error` with a hint when it is the server's certificate that failed.
pub fn explain(error: StoreError) -> StoreError {
    match error {
        StoreError::Database(message)
            if message.contains("certificate") || message.contains("TLS") =>
        {
            StoreError::Database(format!(
                "{message} (the server's certificate is verified: pass its CA with \
                 --database-ca-file, or set sslmode=disable in the URL on a network you trust)"
            ))
        }
        other => other,
    }
}
