//! ferrokube: a Kubernetes-compatible control plane in one binary. Modules in reading order: `api` (the pure
//! vocabulary: resource descriptions, kind rules, errors), `storage` (keys, bytes and revisions on PostgreSQL
//! or SQLite), `apiserver` (HTTP in, storage out), `cli` (wiring). See ARCHITECTURE.md.

pub mod api;
pub mod storage;
pub mod apiserver;
pub mod cli;
