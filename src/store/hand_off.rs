//! Handing new deliveries from ingest straight to this node's dispatcher,
//! as both stores do (and, on PostgreSQL, an ordered webhook's next
//! delivery when an outcome lets it go): ingest keeps a place in the hand-off channel before
//! it writes, stores the event's deliveries already leased, and sends them
//! as one batch once its transaction has committed. A store that cannot
//! keep a place (the dispatcher is behind, or gone) leaves the deliveries
//! due, to be claimed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::delivery::queue::HandOff;
use crate::domain::{DeliveryId, Timestamp};
use crate::store::{DeliveryJob, Lease, StoredEvent, Subscription};

/// How many events' deliveries may wait for the dispatcher to take them
/// before ingest leaves new ones in the store to be claimed.
pub const HAND_OFF_EVENTS: usize = 1024;

/// Where a store hands new deliveries, once its dispatcher has asked
/// (`None` until then).
#[derive(Clone, Default)]
pub struct HandingSlot(Arc<Mutex<Option<Handing>>>);

/// The channel to the dispatcher and the lease its deliveries get.
struct Handing {
    jobs: mpsc::Sender<Vec<DeliveryJob>>,
    lease: Duration,
}

/// A place kept in the hand-off channel for one event's deliveries.
pub struct Reservation {
    permit: mpsc::OwnedPermit<Vec<DeliveryJob>>,
    /// When the leases of the deliveries handed over run out.
    pub expiry: Timestamp,
}

/// A delivery ingest just created and leased, with what a job to send it
/// needs.
pub struct FreshDelivery {
    /// Its id.
    pub id: DeliveryId,
    /// The lease's token.
    pub token: i64,
    /// Where it goes.
    pub subscription: Arc<Subscription>,
}

impl HandingSlot {
    /// From now on, hand to the receiver returned, leasing each delivery
    /// for `lease`.
    pub fn open(&self, lease: Duration) -> HandOff {
        let (jobs, handed) = mpsc::channel(HAND_OFF_EVENTS);
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Handing { jobs, lease });
        handed
    }

    /// A place for one more event's deliveries, unless no dispatcher takes
    /// hand-offs, or it has that many waiting already, or it has stopped.
    pub fn reserve(&self) -> Option<Reservation> {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let handing = slot.as_ref()?;
        let permit = handing.jobs.clone().try_reserve_owned().ok()?;
        Some(Reservation {
            permit,
            expiry: Timestamp::now().after(handing.lease),
        })
    }
}

impl Reservation {
    /// Send one event's handed deliveries as jobs; a place was kept, so this
    /// cannot be refused (if the dispatcher has gone, their leases run out).
    pub fn hand_over(self, event_pk: i64, event: Arc<StoredEvent>, fresh: Vec<FreshDelivery>) {
        let jobs = fresh
            .into_iter()
            .map(|delivery| DeliveryJob {
                lease: Lease {
                    delivery_id: delivery.id,
                    token: delivery.token,
                },
                attempts_made: 0,
                event_pk,
                event: event.clone(),
                subscription: delivery.subscription,
            })
            .collect();
        self.permit.send(jobs);
    }
}
