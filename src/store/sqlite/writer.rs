//! The single SQLite writer: one thread owns the write connection and runs
//! queued write jobs in shared transactions (group commit). A durable job
//! runs in its own savepoint, so a failing one rolls back alone; queue
//! bookkeeping shares one (see [`run_batch`]). Callers hear back only after
//! the transaction holding their job has committed.
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
        let (job, outcome) = job(durability, work);
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

/// A queued job for `work`, and where its outcome arrives once its batch has
/// committed (or failed).
fn job<T, F>(durability: Durability, work: F) -> (Job, oneshot::Receiver<StoreResult<T>>)
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
    (Job { durability, work }, outcome)
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

/// Run one batch; false when it did not commit (or part of it was rolled
/// back), so caches filled inside it are dropped.
///
/// Jobs that must survive power loss (accepted events, subscription changes)
/// may fail for reasons of their own, so each runs in its own savepoint and
/// rolls back alone. Queue bookkeeping (claims, outcomes, releases) fails only
/// with the database itself, so those jobs share one savepoint: per-job
/// savepoints copied every page each job touched into the sub-journal again,
/// which was the writer's largest cost. When one of them fails, the group is
/// rolled back and each of its callers hears so; a claim is retried, and an
/// outcome that was not recorded lets its lease run out and the delivery be
/// made again (at least once).
fn run_batch(connection: &Connection, batch: Vec<Job>) -> bool {
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        let message = error.to_string();
        for job in batch {
            let (_, reply) = (job.work)(connection);
            reply(Some(&message));
        }
        return false;
    }
    let (durable, bookkeeping): (Vec<Job>, Vec<Job>) = batch
        .into_iter()
        .partition(|job| job.durability == Durability::Full);
    let mut replies = Vec::with_capacity(durable.len() + bookkeeping.len());
    for job in durable {
        let opened = statement(connection, "SAVEPOINT job");
        let (ok, reply) = (job.work)(connection);
        let closed = if ok {
            statement(connection, "RELEASE job")
        } else {
            statement(connection, "ROLLBACK TO job").and(statement(connection, "RELEASE job"))
        };
        let failure = opened.and(closed).err().map(|e| e.to_string());
        replies.push((reply, failure));
    }
    let group_ok = run_group(connection, bookkeeping, &mut replies);
    let commit_error = connection.execute_batch("COMMIT").err().map(|e| {
        let _ = connection.execute_batch("ROLLBACK");
        e.to_string()
    });
    let committed = commit_error.is_none();
    for (reply, failure) in replies {
        reply(commit_error.as_deref().or(failure.as_deref()));
    }
    committed && group_ok
}

/// Run `jobs` in one savepoint; roll all of them back when one fails. False
/// when the group was rolled back.
fn run_group(
    connection: &Connection,
    jobs: Vec<Job>,
    replies: &mut Vec<(Reply, Option<String>)>,
) -> bool {
    if jobs.is_empty() {
        return true;
    }
    if let Err(error) = statement(connection, "SAVEPOINT bookkeeping") {
        let message = error.to_string();
        for job in jobs {
            let (_, reply) = (job.work)(connection);
            replies.push((reply, Some(message.clone())));
        }
        return false;
    }
    let ran: Vec<(bool, Reply)> = jobs.into_iter().map(|job| (job.work)(connection)).collect();
    if ran.iter().all(|(ok, _)| *ok) {
        let failure = statement(connection, "RELEASE bookkeeping")
            .err()
            .map(|e| e.to_string());
        replies.extend(ran.into_iter().map(|(_, reply)| (reply, failure.clone())));
        return failure.is_none();
    }
    let _ = statement(connection, "ROLLBACK TO bookkeeping")
        .and(statement(connection, "RELEASE bookkeeping"));
    for (ok, reply) in ran {
        // The failed job reports its own error; the others, the rollback.
        let failure = ok.then(|| "rolled back with a failed write of the same batch".to_owned());
        replies.push((reply, failure));
    }
    false
}

/// Run one of the writer's fixed statements, parsed once.
fn statement(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(
        durability: Durability,
        value: i64,
        fail: bool,
    ) -> (Job, oneshot::Receiver<StoreResult<i64>>) {
        job(durability, move |c: &Connection| {
            c.execute("INSERT INTO t (x) VALUES (?1)", [value])?;
            if fail {
                return Err(StoreError::Database(format!("job {value} failed")));
            }
            Ok(value)
        })
    }

    fn stored(connection: &Connection) -> Vec<i64> {
        let mut query = connection.prepare("SELECT x FROM t ORDER BY x").unwrap();
        query
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_failing_durable_job_rolls_back_alone_and_bookkeeping_as_a_group() {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        let jobs = [
            insert(Durability::Full, 1, false),
            insert(Durability::Full, 2, true),
            insert(Durability::Relaxed, 3, false),
            insert(Durability::Relaxed, 4, true),
        ];
        let (batch, mut outcomes): (Vec<Job>, Vec<_>) = jobs.into_iter().unzip();
        assert!(
            !run_batch(&connection, batch),
            "part of the batch was rolled back"
        );
        assert_eq!(stored(&connection), vec![1]);
        let results: Vec<String> = outcomes
            .iter_mut()
            .map(|o| match o.try_recv().unwrap() {
                Ok(value) => value.to_string(),
                Err(error) => error.to_string(),
            })
            .collect();
        assert_eq!(results[0], "1");
        assert!(results[1].contains("job 2 failed"), "{}", results[1]);
        assert!(
            results[2].contains("rolled back with a failed write"),
            "{}",
            results[2]
        );
        assert!(results[3].contains("job 4 failed"), "{}", results[3]);
    }

    #[test]
    fn a_batch_without_failures_commits_every_job() {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        let jobs = [
            insert(Durability::Relaxed, 3, false),
            insert(Durability::Full, 1, false),
            insert(Durability::Relaxed, 4, false),
        ];
        let (batch, mut outcomes): (Vec<Job>, Vec<_>) = jobs.into_iter().unzip();
        assert!(run_batch(&connection, batch));
        assert_eq!(stored(&connection), vec![1, 3, 4]);
        for outcome in &mut outcomes {
            assert!(outcome.try_recv().unwrap().is_ok());
        }
    }
}
