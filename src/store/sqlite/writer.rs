//! The single SQLite writer: one thread owns the write connection and runs
//! queued write jobs in shared transactions (group commit). Each job runs in
//! its own savepoint, so a failing job rolls back alone; callers hear back
//! only after the transaction holding their job has committed.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::store::{StoreError, StoreResult};

/// How many queued jobs one transaction takes at most.
const MAX_BATCH: usize = 512;
/// How many jobs may wait for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 8192;

type Reply = Box<dyn FnOnce(Option<&str>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// A handle to the writer thread.
/// The thread ends once every handle is dropped and the queue is drained.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Start the writer thread on `connection`.
    pub fn start(connection: Connection) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(connection, queue))
            .expect("spawn the sqlite writer thread");
        Self { jobs }
    }

    /// Run `work` inside a write transaction; resolves after it committed.
    pub async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (done, outcome) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
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
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(connection: Connection, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&connection, batch);
    }
}

fn run_batch(connection: &Connection, batch: Vec<Job>) {
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        let message = error.to_string();
        for job in batch {
            let (_, reply) = job(connection);
            reply(Some(&message));
        }
        return;
    }
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        let savepoint = connection.execute_batch("SAVEPOINT job");
        let (ok, reply) = job(connection);
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
    for (reply, failure) in replies {
        reply(commit_error.as_deref().or(failure.as_deref()));
    }
}
