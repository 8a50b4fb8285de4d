//! The single SQLite writer: one thread owns the write connection and runs
//! queued write jobs in shared transactions (group commit). A job that fails
//! changes nothing, so it fails alone; one that fails after writing rolls
//! its whole batch back (see [`run_batch`]). Callers hear back only after
//! the transaction holding their job has committed.
//!
//! Every batch commits with `synchronous=NORMAL`: its pages are then in the
//! write-ahead log, which survives a process crash, and the callers of queue
//! bookkeeping (claims, attempt outcomes) hear back; losing those in a power
//! cut only means a delivery is made again (at least once). A
//! [`Durability::Full`] job (an accepted event, a subscription change) must
//! also survive power loss: when a batch holds one, the writer then syncs
//! the log, as `synchronous=FULL` would inside the commit, and only after
//! that do those callers hear back. So a claim committed beside an accepted
//! event no longer waits for that event's `fsync`.

use std::fs::File;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::store::{StoreError, StoreResult};

/// How many queued jobs one transaction takes at most.
const MAX_BATCH: usize = 512;
/// How many jobs may wait for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 8192;

type Reply = Box<dyn FnOnce(Option<&BatchFailure>) + Send>;
/// Runs a job on the connection, or, given none (its batch had already
/// failed), only makes its reply; says how the job ended.
type Work = Box<dyn FnOnce(Option<&Connection>) -> (JobEnd, Reply) + Send>;

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobEnd {
    Succeeded,
    Failed { storage_full: bool },
}

/// Why a batch did not commit, as each of its callers hears it.
#[derive(Debug, Clone)]
struct BatchFailure {
    message: String,
    /// The database refused a write for lack of space.
    storage_full: bool,
}

impl BatchFailure {
    fn new(message: impl Into<String>, storage_full: bool) -> Self {
        Self {
            message: message.into(),
            storage_full,
        }
    }

    fn of(error: &rusqlite::Error) -> Self {
        Self::new(error.to_string(), is_storage_full(error))
    }

    fn error(&self) -> StoreError {
        if self.storage_full {
            StoreError::StorageFull(self.message.clone())
        } else {
            StoreError::Database(self.message.clone())
        }
    }
}

/// Whether SQLite refused `error`'s write for lack of space.
pub fn is_storage_full(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

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

/// What the writer thread calls after each batch.
pub struct Hooks {
    /// After a batch committed (the checkpointer's nudge).
    pub on_commit: Box<dyn Fn() + Send>,
    /// After a batch failed to commit, so caches filled inside the
    /// transaction can be dropped.
    pub on_rollback: Box<dyn Fn() + Send>,
}

impl Writer {
    /// Start the writer thread on `connection` (in WAL mode, at
    /// `synchronous=NORMAL`); `log` is the connection's write-ahead log
    /// file, synced before durable jobs hear back.
    pub fn start(connection: Connection, log: File, hooks: Hooks) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(connection, &log, queue, hooks))
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
        self.write_then(durability, work, |_| {}).await
    }

    /// [`Writer::write`], and once the transaction has committed (and the
    /// log is synced, for a durable job) run `committed` on the job's result,
    /// still on the writer thread: no later job has run yet, so nothing
    /// another job does can come between the commit and `committed`.
    pub async fn write_then<T, F, C>(
        &self,
        durability: Durability,
        work: F,
        committed: C,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        C: FnOnce(&mut T) + Send + 'static,
    {
        let (job, outcome) = job(durability, work, committed);
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

/// A queued job for `work`, and where its outcome arrives once its batch has
/// committed (or failed); `committed` runs on a committed result first.
fn job<T, F, C>(
    durability: Durability,
    work: F,
    committed: C,
) -> (Job, oneshot::Receiver<StoreResult<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    C: FnOnce(&mut T) + Send + 'static,
{
    let (done, outcome) = oneshot::channel();
    let work: Work = Box::new(move |connection| {
        let result = match connection {
            Some(connection) => work(connection),
            None => Err(StoreError::Database("not run".to_owned())),
        };
        let ending = match &result {
            Ok(_) => JobEnd::Succeeded,
            Err(error) => JobEnd::Failed {
                storage_full: matches!(error, StoreError::StorageFull(_)),
            },
        };
        let reply: Reply = Box::new(move |failure| {
            let result = match failure {
                Some(failure) => Err(failure.error()),
                None => result.map(|mut value| {
                    committed(&mut value);
                    value
                }),
            };
            let _ = done.send(result);
        });
        (ending, reply)
    });
    (Job { durability, work }, outcome)
}

fn run(connection: Connection, log: &File, mut queue: mpsc::Receiver<Job>, hooks: Hooks) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut durable = Vec::new();
        if run_batch(&connection, batch, &mut durable) {
            (hooks.on_commit)();
        } else {
            (hooks.on_rollback)();
        }
        if !durable.is_empty() {
            answer_after_sync(log, durable);
        }
    }
}

/// Sync the write-ahead log, then answer the committed durable jobs. A
/// failed sync is each caller's error: the write is committed but may not
/// survive power loss, and a publisher that publishes again is answered
/// idempotently by event id.
fn answer_after_sync(log: &File, replies: Vec<Reply>) {
    let failure = log.sync_data().err().map(|error| {
        BatchFailure::new(
            format!("syncing the write-ahead log failed: {error}"),
            error.kind() == std::io::ErrorKind::StorageFull,
        )
    });
    for reply in replies {
        reply(failure.as_ref());
    }
}

/// Run one batch in one transaction; false when it did not commit, so
/// caches filled inside it are dropped. Once it commits, the callers of
/// relaxed jobs hear back at once and those of durable jobs are left in
/// `durable`, to hear back after the log is synced; callers of a batch that
/// did not commit hear so at once.
///
/// There are no savepoints: copying every page a job touched into a
/// savepoint's sub-journal was the writer's largest cost. Instead a job
/// that fails must have changed nothing, which every job here does by
/// checking before it writes; SQLite undoes a failed statement by itself.
/// When a failed job did change rows anyway (the database failing mid-job),
/// the whole batch is rolled back and each caller hears so: an event's
/// publisher gets an error and publishes again (idempotently, by event id),
/// a claim is retried, and an outcome that was not recorded lets its lease
/// run out and the delivery be made again (at least once).
fn run_batch(connection: &Connection, batch: Vec<Job>, durable: &mut Vec<Reply>) -> bool {
    if let Err(error) = statement(connection, "BEGIN IMMEDIATE") {
        let failure = BatchFailure::of(&error);
        for job in batch {
            let (_, reply) = (job.work)(None);
            reply(Some(&failure));
        }
        return false;
    }
    let mut replies = Vec::with_capacity(batch.len());
    let mut failure: Option<(usize, BatchFailure)> = None;
    for (index, job) in batch.into_iter().enumerate() {
        if failure.is_some() {
            replies.push((job.durability, (job.work)(None).1));
            continue;
        }
        let before = connection.total_changes();
        let (ending, reply) = (job.work)(Some(connection));
        let storage_full = ending == JobEnd::Failed { storage_full: true };
        if connection.is_autocommit() {
            // SQLite ended the transaction itself (I/O error, disk full):
            // nothing of the batch is stored, whatever the job said.
            failure = Some((
                usize::MAX,
                BatchFailure::new("the database rolled the batch back", storage_full),
            ));
        } else if ending != JobEnd::Succeeded && connection.total_changes() != before {
            failure = Some((index, BatchFailure::new(ROLLED_BACK, storage_full)));
        }
        replies.push((job.durability, reply));
    }
    let failure = match failure {
        Some(failure) => {
            if !connection.is_autocommit() {
                let _ = statement(connection, "ROLLBACK");
            }
            failure
        }
        None => match statement(connection, "COMMIT") {
            Ok(()) => {
                for (durability, reply) in replies {
                    match durability {
                        Durability::Full => durable.push(reply),
                        Durability::Relaxed => reply(None),
                    }
                }
                return true;
            }
            Err(error) => {
                let _ = statement(connection, "ROLLBACK");
                (usize::MAX, BatchFailure::of(&error))
            }
        },
    };
    let (failed, failure) = failure;
    for (index, (_, reply)) in replies.into_iter().enumerate() {
        // The job that failed mid-write reports its own error.
        reply((index != failed).then_some(&failure));
    }
    false
}

/// What the other callers of a batch that was rolled back hear.
const ROLLED_BACK: &str = "rolled back with a failed write of the same batch";

/// Run one of the writer's fixed statements, parsed once.
fn statement(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How a test job ends.
    #[derive(Clone, Copy)]
    enum Ending {
        Succeeds,
        /// Fails before writing anything.
        RefusesFirst,
        /// Fails after its insert.
        FailsAfterWriting,
    }

    fn insert(
        durability: Durability,
        value: i64,
        ending: Ending,
    ) -> (Job, oneshot::Receiver<StoreResult<i64>>) {
        insert_then(durability, value, ending, |_| {})
    }

    /// [`insert`], with a `committed` step.
    fn insert_then(
        durability: Durability,
        value: i64,
        ending: Ending,
        committed: impl FnOnce(&mut i64) + Send + 'static,
    ) -> (Job, oneshot::Receiver<StoreResult<i64>>) {
        job(
            durability,
            move |c: &Connection| {
                if matches!(ending, Ending::RefusesFirst) {
                    return Err(StoreError::Database(format!("job {value} refused")));
                }
                c.execute("INSERT INTO t (x) VALUES (?1)", [value])?;
                if matches!(ending, Ending::FailsAfterWriting) {
                    return Err(StoreError::Database(format!("job {value} failed")));
                }
                Ok(value)
            },
            committed,
        )
    }

    fn table() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        connection
    }

    fn stored(connection: &Connection) -> Vec<i64> {
        let mut query = connection.prepare("SELECT x FROM t ORDER BY x").unwrap();
        query
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Run `jobs` as one batch: whether it committed, and what each caller heard.
    fn run_jobs(
        connection: &Connection,
        jobs: Vec<(Job, oneshot::Receiver<StoreResult<i64>>)>,
    ) -> (bool, Vec<String>) {
        let (batch, outcomes): (Vec<Job>, Vec<_>) = jobs.into_iter().unzip();
        let mut durable = Vec::new();
        let committed = run_batch(connection, batch, &mut durable);
        for reply in durable {
            reply(None);
        }
        let heard = outcomes
            .into_iter()
            .map(|mut o| match o.try_recv().unwrap() {
                Ok(value) => value.to_string(),
                Err(error) => error.to_string(),
            })
            .collect();
        (committed, heard)
    }

    #[test]
    fn a_job_that_fails_before_writing_fails_alone() {
        use Ending::*;
        let connection = table();
        let (committed, heard) = run_jobs(
            &connection,
            vec![
                insert(Durability::Full, 1, Succeeds),
                insert(Durability::Full, 2, RefusesFirst),
                insert(Durability::Relaxed, 3, Succeeds),
                insert(Durability::Relaxed, 4, RefusesFirst),
            ],
        );
        assert!(committed);
        assert_eq!(stored(&connection), vec![1, 3]);
        assert_eq!(heard[0], "1");
        assert!(heard[1].contains("job 2 refused"), "{}", heard[1]);
        assert_eq!(heard[2], "3");
        assert!(heard[3].contains("job 4 refused"), "{}", heard[3]);
    }

    #[test]
    fn a_job_that_fails_after_writing_rolls_back_its_batch() {
        use Ending::*;
        let connection = table();
        let (committed, heard) = run_jobs(
            &connection,
            vec![
                insert(Durability::Full, 1, Succeeds),
                insert(Durability::Relaxed, 2, FailsAfterWriting),
                insert(Durability::Full, 3, Succeeds),
            ],
        );
        assert!(!committed, "the batch was rolled back");
        assert!(stored(&connection).is_empty());
        assert!(heard[0].contains(ROLLED_BACK), "{}", heard[0]);
        assert!(heard[1].contains("job 2 failed"), "{}", heard[1]);
        assert!(heard[2].contains(ROLLED_BACK), "{}", heard[2]);

        let (committed, heard) = run_jobs(&connection, vec![insert(Durability::Full, 5, Succeeds)]);
        assert!(committed, "the next batch starts afresh");
        assert_eq!(
            (stored(&connection), heard),
            (vec![5], vec!["5".to_owned()])
        );
    }

    /// A job's `committed` step runs on its result once its batch has
    /// committed, before its caller hears back, and not at all when the
    /// batch was rolled back.
    #[test]
    fn the_committed_step_runs_only_after_a_commit() {
        use Ending::*;
        let connection = table();
        let with_step =
            |value, ending| insert_then(Durability::Relaxed, value, ending, |value| *value += 100);
        let (kept, mut kept_outcome) = with_step(1, Succeeds);
        assert!(run_batch(&connection, vec![kept], &mut Vec::new()));
        assert_eq!(kept_outcome.try_recv().unwrap().unwrap(), 101);

        let (undone, mut undone_outcome) = with_step(2, Succeeds);
        let (failing, _) = with_step(3, FailsAfterWriting);
        assert!(!run_batch(
            &connection,
            vec![undone, failing],
            &mut Vec::new()
        ));
        assert!(undone_outcome.try_recv().unwrap().is_err());
        assert_eq!(stored(&connection), vec![1]);
    }

    #[test]
    fn a_transaction_the_database_ended_fails_every_job_of_the_batch() {
        use Ending::*;
        let connection = table();
        let (ended, mut ended_outcome) = job(
            Durability::Relaxed,
            |c: &Connection| {
                // What SQLite does by itself on an I/O error or a full disk.
                c.execute_batch("ROLLBACK")?;
                Ok(2_i64)
            },
            |_| {},
        );
        let (first, mut first_outcome) = insert(Durability::Full, 1, Succeeds);
        let (last, mut last_outcome) = insert(Durability::Full, 3, Succeeds);
        let mut durable = Vec::new();
        assert!(!run_batch(
            &connection,
            vec![first, ended, last],
            &mut durable
        ));
        assert!(
            durable.is_empty(),
            "nothing of a failed batch waits for a sync"
        );
        assert!(
            stored(&connection).is_empty(),
            "job 3 did not run on its own"
        );
        let heard = [
            first_outcome.try_recv().unwrap().unwrap_err(),
            ended_outcome.try_recv().unwrap().unwrap_err(),
            last_outcome.try_recv().unwrap().unwrap_err(),
        ];
        for error in heard {
            assert!(
                error.to_string().contains("rolled the batch back"),
                "{error}"
            );
        }
    }

    #[test]
    fn durable_jobs_hear_back_after_the_log_sync_and_relaxed_ones_at_commit() {
        use Ending::*;
        let connection = table();
        let (full, mut full_outcome) = insert(Durability::Full, 1, Succeeds);
        let (relaxed, mut relaxed_outcome) = insert(Durability::Relaxed, 2, Succeeds);
        let mut durable = Vec::new();
        assert!(run_batch(&connection, vec![full, relaxed], &mut durable));
        assert_eq!(relaxed_outcome.try_recv().unwrap().unwrap(), 2);
        assert!(full_outcome.try_recv().is_err(), "answered before the sync");
        assert_eq!(durable.len(), 1);

        answer_after_sync(&tempfile::tempfile().unwrap(), durable);
        assert_eq!(full_outcome.try_recv().unwrap().unwrap(), 1);
    }

    #[test]
    fn a_batch_without_failures_commits_every_job() {
        use Ending::*;
        let connection = table();
        let (committed, heard) = run_jobs(
            &connection,
            vec![
                insert(Durability::Relaxed, 3, Succeeds),
                insert(Durability::Full, 1, Succeeds),
                insert(Durability::Relaxed, 4, Succeeds),
            ],
        );
        assert!(committed);
        assert_eq!(stored(&connection), vec![1, 3, 4]);
        assert_eq!(heard, ["3", "1", "4"]);
    }
}
