//! Hookbridge: webhooks and no-code integrations (Zapier, Make.com) for any
//! SaaS product. The product publishes typed events; Hookbridge validates
//! them against its catalog, stores them durably and delivers them, signed
//! and retried, to every matching subscription.

pub mod api;
pub mod app;
pub mod catalog;
pub mod config;
pub mod dashboard;
pub mod delivery;
pub mod domain;
pub mod metrics;
pub mod retention;
pub mod server;
pub mod service;
pub mod store;

pub use app::Application;
pub use config::Config;
