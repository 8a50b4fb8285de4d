//! The SQLite store's records: the admin key, event types, accounts and
//! their keys, subscriptions, and the listings of events, deliveries and
//! attempts.

use super::*;

#[async_trait]
impl Records for SqliteStore {
    async fn admin_key_hash(&self) -> StoreResult<Option<String>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT value FROM settings WHERE key = 'admin_key_hash'",
                [],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn set_admin_key_hash(&self, hash: String) -> StoreResult<()> {
        self.writer
            .write(Durability::Full, move |c| {
                c.execute(
                    "INSERT INTO settings (key, value) VALUES ('admin_key_hash', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![hash],
                )?;
                Ok(())
            })
            .await
    }

    async fn create_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool> {
        self.writer
            .write(Durability::Full, move |c| {
                let created = c.execute(
                    "INSERT INTO event_types
                       (name, description, schema, examples, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
                    params![
                        event_type.name,
                        event_type.description,
                        to_json(&event_type.schema),
                        to_json(&event_type.examples),
                        event_type.created_at.0,
                        event_type.updated_at.0
                    ],
                )?;
                Ok(created == 1)
            })
            .await
    }

    async fn replace_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool> {
        self.writer
            .write(Durability::Full, move |c| {
                let replaced = c.execute(
                    "UPDATE event_types SET description = ?2, schema = ?3, examples = ?4,
                       updated_at = ?5 WHERE name = ?1",
                    params![
                        event_type.name,
                        event_type.description,
                        to_json(&event_type.schema),
                        to_json(&event_type.examples),
                        event_type.updated_at.0
                    ],
                )?;
                Ok(replaced == 1)
            })
            .await
    }

    async fn event_types(&self) -> StoreResult<Vec<RegisteredEventType>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(
                "SELECT name, description, schema, examples, created_at, updated_at
                 FROM event_types ORDER BY name",
            )?;
            let rows = statement.query_map([], event_type_from)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn create_account(&self, account: Account) -> StoreResult<Account> {
        self.writer
            .write(Durability::Full, move |c| {
                c.execute(
                    "INSERT INTO accounts (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![account.id, account.name, account.created_at.0],
                )?;
                Ok(account)
            })
            .await
    }

    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT id, name, created_at FROM accounts WHERE id = ?1")?
                    .query_row(params![id], account_from)
                    .optional()?,
            )
        })
        .await
    }

    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord> {
        self.writer
            .write(Durability::Full, move |c| {
                let exists = c
                    .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
                    .exists(params![key.account_id])?;
                if !exists {
                    return Err(StoreError::AccountNotFound(key.account_id.to_string()));
                }
                c.execute(
                    "INSERT INTO api_keys (id, account_id, hash, last_four, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        key.id,
                        key.account_id,
                        key.hash,
                        key.last_four,
                        key.created_at.0
                    ],
                )?;
                Ok(key)
            })
            .await
    }

    async fn account_by_key_hash(&self, hash: &str) -> StoreResult<Option<Account>> {
        let hash = hash.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT a.id, a.name, a.created_at FROM api_keys k
                 JOIN accounts a ON a.id = k.account_id WHERE k.hash = ?1",
            )?
            .query_row(params![hash], account_from)
            .optional()?)
        })
        .await
    }

    async fn create_subscription(&self, subscription: Subscription) -> StoreResult<Subscription> {
        let cache = self.cache.clone();
        self.writer
            .write(Durability::Full, move |c| {
                cache.forget(&subscription.account_id, &subscription.id);
                c.prepare_cached(
                    "INSERT INTO subscriptions (id, account_id, url, events, filter, format,
                         secret, headers, description, source, created_at, updated_at,
                         previous_secret, previous_secret_until, enabled, disabled_reason,
                         failing_since, ordering, rate_limit)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                         ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                )?
                .execute(rusqlite::params_from_iter(subscription_values(
                    &subscription,
                    &cache.sealer,
                )))?;
                Ok(subscription)
            })
            .await
    }

    async fn subscription(
        &self,
        account_id: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<Option<Subscription>> {
        let (account_id, id) = (account_id.to_owned(), id.to_owned());
        let sealer = self.cache.sealer.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                 WHERE s.id = ?1 AND s.account_id = ?2"
            ))?
            .query_row(params![id, account_id], |r| subscription_at(r, 0, &sealer))
            .optional()?)
        })
        .await
    }

    async fn list_subscriptions(
        &self,
        account_id: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Subscription>> {
        let account_id = account_id.to_owned();
        let sealer = self.cache.sealer.clone();
        self.read(move |c| {
            let items = c
                .prepare_cached(&format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                     WHERE s.account_id = ?1 AND (?2 IS NULL OR s.id < ?2)
                     ORDER BY s.id DESC LIMIT ?3"
                ))?
                .query_map(
                    params![account_id, page.cursor, page.limit as i64 + 1],
                    |r| subscription_at(r, 0, &sealer),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page_of(items, page.limit, |s| s.id.to_string()))
        })
        .await
    }

    async fn update_subscription(
        &self,
        subscription: Subscription,
    ) -> StoreResult<Option<Subscription>> {
        let cache = self.cache.clone();
        self.writer
            .write(Durability::Full, move |c| {
                cache.forget(&subscription.account_id, &subscription.id);
                // The values are `subscription_values` in full: `source` and
                // `created_at` never change, so they only narrow the WHERE.
                let changed =
                    c.prepare_cached(
                        "UPDATE subscriptions SET url = ?3, events = ?4, filter = ?5, format = ?6,
                             secret = ?7, headers = ?8, description = ?9, updated_at = ?12,
                             previous_secret = ?13, previous_secret_until = ?14,
                             enabled = ?15, disabled_reason = ?16, failing_since = ?17,
                             ordering = ?18, rate_limit = ?19
                         WHERE id = ?1 AND account_id = ?2 AND source = ?10 AND created_at = ?11",
                    )?
                    .execute(rusqlite::params_from_iter(
                        subscription_values(&subscription, &cache.sealer),
                    ))?;
                if changed > 0 && subscription.ordering == Ordering::None {
                    release_waiting(c, &subscription.id)?;
                }
                Ok((changed > 0).then_some(subscription))
            })
            .await
    }

    async fn delete_subscription(
        &self,
        account_id: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<bool> {
        let (account_id, id) = (account_id.to_owned(), id.to_owned());
        let (cache, leases) = (self.cache.clone(), self.leases.clone());
        self.writer
            .write(Durability::Full, move |c| {
                delete_subscription_in(c, &cache, &leases, &account_id, &id)
            })
            .await
    }

    async fn recent_events(
        &self,
        account_id: &AccountId,
        event_type: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let (account_id, event_type) = (account_id.to_owned(), event_type.map(str::to_owned));
        self.read(move |c| {
            let events = c
                .prepare_cached(
                    "SELECT id, type, data, created_at FROM events
                     WHERE account_id = ?1 AND (?2 IS NULL OR type = ?2) AND test = 0
                     ORDER BY pk DESC LIMIT ?3",
                )?
                .query_map(params![account_id, event_type, limit as i64], |row| {
                    let data: String = row.get(2)?;
                    Ok(StoredEvent {
                        id: row.get(0)?,
                        event_type: row.get(1)?,
                        data: serde_json::from_str(&data).map_err(|_| corrupt("event data"))?,
                        created_at: Timestamp(row.get(3)?),
                        bodies: Default::default(),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(events)
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    /// Refused while the file system holds less than [`PROBE_HEADROOM`]
    /// free: a small write can fit on a disk where an event does not.
    async fn probe_write(&self) -> StoreResult<()> {
        let folder = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let free = rustix::fs::statvfs(&folder)
            .map(|fs| fs.f_bavail.saturating_mul(fs.f_frsize))
            .map_err(|e| StoreError::Database(format!("reading the free space: {e}")))?;
        if free < PROBE_HEADROOM {
            return Err(StoreError::StorageFull(format!(
                "{free} bytes free on the database's file system"
            )));
        }
        self.writer
            .write(Durability::Full, |c| {
                c.prepare_cached(
                    "INSERT INTO settings (key, value) VALUES ('storage_probe', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![Timestamp::now().0.to_string()])?;
                Ok(())
            })
            .await
    }

    async fn database_size(&self) -> StoreResult<u64> {
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
        Ok(size(&self.path) + size(&log_path(&self.path)))
    }

    async fn attempts(
        &self,
        account_id: &AccountId,
        of: AttemptsOf,
        page: PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let account_id = account_id.to_owned();
        self.read(move |c| {
            // One statement per kind, so each reads its own index: a
            // webhook's attempts from the newest down, an event's through
            // the event. (One statement with optional filters read the
            // whole account's attempts and sorted them, for every page.)
            let (sql, of_id) = match of {
                AttemptsOf::Subscription(id) => (ATTEMPTS_OF_SUBSCRIPTION, id.to_string()),
                AttemptsOf::Event(id) => (ATTEMPTS_OF_EVENT, id),
            };
            let items = c
                .prepare_cached(sql)?
                .query_map(
                    params![account_id, of_id, page.cursor, page.limit as i64 + 1],
                    |row| {
                        Ok(Attempt {
                            id: row.get(0)?,
                            delivery_id: row.get(1)?,
                            event_id: row.get(2)?,
                            event_type: row.get(3)?,
                            subscription_id: row.get(4)?,
                            result: AttemptResult {
                                started_at: Timestamp(row.get(5)?),
                                status: row.get(6)?,
                                latency_ms: row.get::<_, i64>(7)? as u64,
                                response_snippet: row.get(8)?,
                                error: row.get(9)?,
                                retry_after: None,
                            },
                        })
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page_of(items, page.limit, |a| a.id.clone()))
        })
        .await
    }

    async fn has_event(&self, account_id: &AccountId, event_id: &str) -> StoreResult<bool> {
        let (account_id, event_id) = (account_id.to_owned(), event_id.to_owned());
        self.read(move |c| event_exists(c, &account_id, &event_id))
            .await
    }

    async fn deliveries_for_event(
        &self,
        account_id: &AccountId,
        event_id: &str,
    ) -> StoreResult<Option<Vec<DeliveryStatus>>> {
        let (account_id, event_id) = (account_id.to_owned(), event_id.to_owned());
        self.read(move |c| {
            if !event_exists(c, &account_id, &event_id)? {
                return Ok(None);
            }
            let deliveries = c
                .prepare_cached(
                    "SELECT d.id, d.subscription_id, d.state, d.attempts, d.last_status, d.last_error
                     FROM deliveries d JOIN events e ON e.pk = d.event_pk
                     WHERE e.account_id = ?1 AND e.id = ?2 ORDER BY d.id",
                )?
                .query_map(params![account_id, event_id], delivery_status_from)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(deliveries))
        })
        .await
    }
}
