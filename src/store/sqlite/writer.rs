//! The single SQLite writer: one thread owns the write connection and runs
//! queued write jobs in shared transactions (group commit). Each job runs in
//! its own savepoint, so a failing job rolls back alone; callers hear back
//! only after the transaction holding their job has committed.
//!
//! A batch holding any [`Durability::Full`] job (an accepted event, a
//! subscription change) commits with `synchronous=FULL`, surviving power
//! loss; a batch of queue bookkeeping only (claims, attempt outcomes) commits
//! with `synchronous=NORMAL`, which survives a process crash, and whose loss
//! in a power cut only means a delivery is made again (at least once).

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::store::{StoreError, StoreResult};

/// How many queued jobs one transaction takes at most.
const MAX_BATCH: usize = 512;
/// How many jobs may wait for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 8192;

type Reply = Box<dyn FnOnce(Option<&str>) + Send>;
type Work = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// How a job's commit must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Survives power loss: an fsync before the caller hears back.
    Full,
    /// Survives a process crash; may be lost with the machine's power.
    Relaxed,
}

struct Job {
    durability: Durability,
    work: Work,
}

/// A handle to the writer thread.
/// The thread ends once every handle is dropped and the queue is drained.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

/// Called when a batch fails to commit, so caches filled inside the
/// transaction can be dropped.
pub type OnRollback = Box<dyn Fn() + Send>;

impl Writer {
    /// Start the writer thread on `connection`.
    pub fn start(connection: Connection, on_rollback: OnRollback) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(connection, queue, on_rollback))
            .expect("spawn the sqlite writer thread");
        Self { jobs }
    }

    /// Run `work` inside a write transaction; resolves after it committed
    /// with at least the requested durability.
    pub async fn write<T, F>(&self, durability: Durability, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (done, outcome) = oneshot::channel();
        let work: Work = Box::new(move |connection| {
            let result = work(connection);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit_error| {
                let result = match commit_error {
                    Some(message) => Err(StoreError::Database(message.to_owned())),
                    None => result,
                };
                let _ = done.send(result);
            });
            (ok, reply)
        });
        let job = Job { durability, work };
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(connection: Connection, mut queue: mpsc::Receiver<Job>, on_rollback: OnRollback) {
    let mut synchronous = Durability::Full;
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let wanted = if batch.iter().any(|job| job.durability == Durability::Full) {
            Durability::Full
        } else {
            Durability::Relaxed
        };
        if wanted != synchronous {
            let pragma = match wanted {
                Durability::Full => "PRAGMA synchronous = FULL",
                Durability::Relaxed => "PRAGMA synchronous = NORMAL",
            };
            if connection.execute_batch(pragma).is_ok() {
                synchronous = wanted;
            }
        }
        if !run_batch(&connection, batch) {
            on_rollback();
        }
    }
}

/// Run one batch; false when it did not commit.
fn run_batch(connection: &Connection, batch: Vec<Job>) -> bool {
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        let message = error.to_string();
        for job in batch {
            let (_, reply) = (job.work)(connection);
            reply(Some(&message));
        }
        return false;
    }
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        let savepoint = connection.execute_batch("SAVEPOINT job");
        let (ok, reply) = (job.work)(connection);
        let closed = if ok {
            connection.execute_batch("RELEASE job")
        } else {
            connection.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        let failure = savepoint.and(closed).err().map(|e| e.to_string());
        replies.push((reply, failure));
    }
    let commit_error = connection.execute_batch("COMMIT").err().map(|e| {
        let _ = connection.execute_batch("ROLLBACK");
        e.to_string()
    });
    let committed = commit_error.is_none();
    for (reply, failure) in replies {
        reply(commit_error.as_deref().or(failure.as_deref()));
    }
    committed
}
