//! Delivery: turning pending delivery rows into signed HTTP POSTs.
//!
//! [`worker`] claims due deliveries from the store and runs them, woken by
//! [`wake`] when work falls due,
//! [`sender`] makes one attempt, [`payload`] shapes the body, [`signing`]
//! signs it, [`retry`] decides when to try again and [`guard`] keeps targets
//! off private networks, by the tables of IANA's registries in
//! [`special_addresses`].

pub mod breaker;
pub mod guard;
pub mod payload;
pub mod retry;
pub mod sender;
pub mod signing;
pub mod special_addresses;
pub mod wake;
pub mod worker;
