//! ferrokube: a Kubernetes-compatible control plane in one binary. Modules in reading order: `api` (the pure
//! vocabulary: resource descriptions, kind rules, errors), `storage` (keys, bytes and revisions on PostgreSQL
//! or SQLite), `apiserver` (HTTP in, storage out), `cli` (wiring). See ARCHITECTURE.md.

// `ApiError` carries everything a `Status` needs (details, field causes); it is returned once per failed
// request, so its size never matters on a hot path and boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod apiserver;
pub mod cli;
pub mod control;
pub mod controllers;
pub mod node;
pub mod scheduler;
pub mod storage;
