//! Selectable fields of `certificates.k8s.io/v1` certificate signing requests: upstream lets clients (the
//! signers) select on `spec.signerName`. Their table uses the generic columns here.

use serde_json::Value;

use super::format::text;

pub fn certificate_signing_request_field(csr: &Value, field: &str) -> Option<String> {
    (field == "spec.signerName").then(|| text(csr, "/spec/signerName").to_string())
}
