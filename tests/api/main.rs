//! Black-box tests of Hookbridge: the real router or binary on 127.0.0.1:0,
//! a real HTTP client, and real local receivers. One test binary, one module
//! per area.

mod accounts;
mod backup;
mod bodies;
mod catalog;
mod conformance;
mod container;
mod crash;
mod dashboard;
mod delivery;
mod event_types;
mod helpers;
mod ingest;
mod isolation;

mod limits;
mod locking;
mod management;
mod multinode;
mod openapi;
mod operational;
mod ordering;
mod postgres_server;
mod postgres_tls;
mod rate_limits;
mod replay;
mod retention;
mod samples;
mod schema;
mod secrets;
mod ssrf;
mod storage;
mod subscriptions;
mod tls;
