//! Delivery: turning pending delivery rows into signed HTTP POSTs.
//!
//! [`queue`] is what the engine needs of storage, in the values of
//! [`work`]; [`worker`] claims due deliveries from it and runs them, woken
//! by [`wake`] when work falls due,
//! [`attempt`] makes and judges one attempt through [`sender`] and the
//! circuit [`breaker`] once [`pace`] gives a rate-limited webhook its
//! turn, [`payload`] shapes the body, [`signing`]
//! signs it, [`retry`] decides when to try again and [`guard`] keeps targets
//! off private networks, by the tables of IANA's registries in
//! [`special_addresses`].

pub mod attempt;
pub mod breaker;
pub mod guard;
pub mod pace;
pub mod payload;
pub mod queue;
pub mod retry;
pub mod sender;
pub mod signing;
pub mod special_addresses;
pub mod wake;
pub mod work;
pub mod worker;
