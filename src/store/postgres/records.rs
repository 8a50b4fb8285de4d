//! The PostgreSQL store's records: the admin key, event types, accounts
//! and their keys, subscriptions, and the listings of events, deliveries
//! and attempts.

use super::*;

#[async_trait]
impl Records for PostgresStore {
    async fn admin_key_hash(&self) -> StoreResult<Option<String>> {
        let client = self.pool.get().await?;
        Ok(query_opt(
            &client,
            "SELECT value FROM settings WHERE key = 'admin_key_hash'",
            &[],
        )
        .await?
        .map(|r| r.get(0)))
    }

    async fn set_admin_key_hash(&self, hash: String) -> StoreResult<()> {
        let client = self.pool.get().await?;
        execute(
            &client,
            "INSERT INTO settings (key, value) VALUES ('admin_key_hash', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&hash],
        )
        .await?;
        Ok(())
    }

    async fn create_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let created = execute(
            &client,
            "INSERT INTO event_types (name, description, schema, examples, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
            &[
                &event_type.name,
                &event_type.description,
                &to_json(&event_type.schema),
                &to_json(&event_type.examples),
                &event_type.created_at.0,
                &event_type.updated_at.0,
            ],
        )
        .await?;
        Ok(created == 1)
    }

    async fn replace_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let replaced = execute(
            &client,
            "UPDATE event_types SET description = $2, schema = $3, examples = $4,
                     updated_at = $5 WHERE name = $1",
            &[
                &event_type.name,
                &event_type.description,
                &to_json(&event_type.schema),
                &to_json(&event_type.examples),
                &event_type.updated_at.0,
            ],
        )
        .await?;
        Ok(replaced == 1)
    }

    async fn event_types(&self) -> StoreResult<Vec<RegisteredEventType>> {
        let client = self.pool.get().await?;
        query(
            &client,
            "SELECT name, description, schema, examples, created_at, updated_at
                 FROM event_types ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(RegisteredEventType {
                name: row.get(0),
                description: row.get(1),
                schema: json_text(row.get(2), "event type schema")?,
                examples: json_text(row.get(3), "event type example list")?,
                created_at: Timestamp(row.get(4)),
                updated_at: Timestamp(row.get(5)),
            })
        })
        .collect()
    }

    async fn create_account(&self, account: Account) -> StoreResult<Account> {
        let client = self.pool.get().await?;
        execute(
            &client,
            "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
            &[&account.id, &account.name, &account.created_at.0],
        )
        .await?;
        Ok(account)
    }

    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        let client = self.pool.get().await?;
        Ok(query_opt(
            &client,
            "SELECT id, name, created_at FROM accounts WHERE id = $1",
            &[&id],
        )
        .await?
        .as_ref()
        .map(account_from))
    }

    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord> {
        let client = self.pool.get().await?;
        let inserted = execute(
            &client,
            "INSERT INTO api_keys (id, account_id, hash, last_four, created_at)
                 SELECT $1, id, $3, $4, $5 FROM accounts WHERE id = $2",
            &[
                &key.id,
                &key.account_id,
                &key.hash,
                &key.last_four,
                &key.created_at.0,
            ],
        )
        .await?;
        if inserted == 0 {
            return Err(StoreError::AccountNotFound(key.account_id.to_string()));
        }
        Ok(key)
    }

    async fn account_by_key_hash(&self, hash: &str) -> StoreResult<Option<Account>> {
        let client = self.pool.get().await?;
        Ok(query_opt(
            &client,
            "SELECT a.id, a.name, a.created_at FROM api_keys k
                 JOIN accounts a ON a.id = k.account_id WHERE k.hash = $1",
            &[&hash],
        )
        .await?
        .as_ref()
        .map(account_from))
    }

    async fn create_subscription(&self, subscription: Subscription) -> StoreResult<Subscription> {
        let client = self.pool.get().await?;
        let s = &subscription;
        let v = SubscriptionValues::of(s, &self.sealer);
        let inserted = execute(
            &client,
            "INSERT INTO subscriptions (id, account_id, url, events, filter, format, secret,
                     headers, description, source, created_at, updated_at, previous_secret,
                     previous_secret_until, enabled, disabled_reason, failing_since, ordering,
                     rate_limit)
                 SELECT $1, id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18, $19
                 FROM accounts WHERE id = $2",
            &[
                &s.id,
                &s.account_id,
                &s.url,
                &v.events,
                &v.filter,
                &s.format.as_str(),
                &v.secret,
                &v.headers,
                &s.description,
                &s.source.as_str(),
                &s.created_at.0,
                &s.updated_at.0,
                &v.previous_secret,
                &v.previous_until,
                &s.enabled,
                &s.disabled_reason,
                &v.failing_since,
                &s.ordering.as_str(),
                &v.rate_limit,
            ],
        )
        .await?;
        if inserted == 0 {
            return Err(StoreError::AccountNotFound(
                subscription.account_id.to_string(),
            ));
        }
        Ok(subscription)
    }

    async fn subscription(
        &self,
        account_id: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<Option<Subscription>> {
        let client = self.pool.get().await?;
        query_opt(
            &client,
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                     WHERE s.id = $1 AND s.account_id = $2"
            ),
            &[&id, &account_id],
        )
        .await?
        .map(|row| subscription_at(&row, 0, &self.sealer))
        .transpose()
    }

    async fn list_subscriptions(
        &self,
        account_id: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Subscription>> {
        let client = self.pool.get().await?;
        let items = query(
            &client,
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                     WHERE s.account_id = $1 AND ($2::TEXT IS NULL OR s.id < $2)
                     ORDER BY s.id DESC LIMIT $3"
            ),
            &[&account_id, &page.cursor, &(page.limit as i64 + 1)],
        )
        .await?
        .iter()
        .map(|row| subscription_at(row, 0, &self.sealer))
        .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |s| s.id.to_string()))
    }

    async fn update_subscription(
        &self,
        subscription: Subscription,
    ) -> StoreResult<Option<Subscription>> {
        let client = self.pool.get().await?;
        let s = &subscription;
        let v = SubscriptionValues::of(s, &self.sealer);
        let changed = execute(
            &client,
            "UPDATE subscriptions SET url = $3, events = $4, filter = $5, format = $6,
                     secret = $7, headers = $8, description = $9, updated_at = $10,
                     previous_secret = $11, previous_secret_until = $12,
                     enabled = $13, disabled_reason = $14, failing_since = $15, ordering = $16,
                     rate_limit = $17
                 WHERE id = $1 AND account_id = $2",
            &[
                &s.id,
                &s.account_id,
                &s.url,
                &v.events,
                &v.filter,
                &s.format.as_str(),
                &v.secret,
                &v.headers,
                &s.description,
                &s.updated_at.0,
                &v.previous_secret,
                &v.previous_until,
                &s.enabled,
                &s.disabled_reason,
                &v.failing_since,
                &s.ordering.as_str(),
                &v.rate_limit,
            ],
        )
        .await?;
        if changed > 0 && s.ordering == Ordering::None {
            let released = execute(
                &client,
                "UPDATE deliveries SET state = 'pending'
                     WHERE subscription_id = $1 AND state = 'waiting'",
                &[&s.id],
            )
            .await?;
            if released > 0 {
                notify_due(&client, &self.node, &[s.id.as_str()]).await?;
            }
        }
        Ok((changed > 0).then_some(subscription))
    }

    async fn delete_subscription(
        &self,
        account_id: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<bool> {
        retrying(|| async {
            let mut client = self.pool.get().await?;
            let transaction = client.transaction().await?;
            let deleted = delete_subscription_in(&transaction, account_id, id).await?;
            transaction.commit().await?;
            Ok(deleted)
        })
        .await
    }

    async fn recent_events(
        &self,
        account_id: &AccountId,
        event_type: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let client = self.pool.get().await?;
        query(
            &client,
            "SELECT id, type, data, created_at FROM events
                 WHERE account_id = $1 AND ($2::TEXT IS NULL OR type = $2) AND NOT test
                 ORDER BY pk DESC LIMIT $3",
            &[&account_id, &event_type, &(limit as i64)],
        )
        .await?
        .iter()
        .map(|row| event_from(row, 0))
        .collect()
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client.execute("SELECT 1", &[]).await?;
        Ok(())
    }

    /// Writes 32 KiB of text that does not compress: a small write can
    /// fit in a page's free space on a disk where an event does not.
    async fn probe_write(&self) -> StoreResult<()> {
        let client = self.pool.get().await?;
        execute(
            &client,
            "INSERT INTO settings (key, value) VALUES ('storage_probe',
                 (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 1024)))
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[],
        )
        .await?;
        Ok(())
    }

    async fn database_size(&self) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        let row = query_one(&client, "SELECT pg_database_size(current_database())", &[]).await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    async fn attempts(
        &self,
        account_id: &AccountId,
        of: AttemptsOf,
        page: PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let client = self.pool.get().await?;
        // One statement per kind, so each reads its own index (see the
        // SQLite store).
        let (sql, of_id) = match of {
            AttemptsOf::Subscription(id) => (ATTEMPTS_OF_SUBSCRIPTION, id.to_string()),
            AttemptsOf::Event(id) => (ATTEMPTS_OF_EVENT, id),
        };
        let items = query(
            &client,
            sql,
            &[&account_id, &of_id, &page.cursor, &(page.limit as i64 + 1)],
        )
        .await?
        .iter()
        .map(|row| Attempt {
            id: row.get(0),
            delivery_id: row.get(1),
            event_id: row.get(2),
            event_type: row.get(3),
            subscription_id: row.get(4),
            result: AttemptResult {
                started_at: Timestamp(row.get(5)),
                status: row.get::<_, Option<i32>>(6).map(|s| s as u16),
                latency_ms: row.get::<_, i64>(7).max(0) as u64,
                response_snippet: row.get(8),
                error: row.get(9),
                retry_after: None,
            },
        })
        .collect();
        Ok(page_of(items, page.limit, |a| a.id.clone()))
    }

    async fn has_event(&self, account_id: &AccountId, event_id: &str) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        event_exists(&client, account_id, event_id).await
    }

    async fn deliveries_for_event(
        &self,
        account_id: &AccountId,
        event_id: &str,
    ) -> StoreResult<Option<Vec<DeliveryStatus>>> {
        let client = self.pool.get().await?;
        if !event_exists(&client, account_id, event_id).await? {
            return Ok(None);
        }
        let rows = query(
            &client,
            "SELECT d.id, d.subscription_id, d.state, d.attempts, d.last_status, d.last_error
                 FROM deliveries d JOIN events e ON e.pk = d.event_pk
                 WHERE e.account_id = $1 AND e.id = $2 ORDER BY d.id",
            &[&account_id, &event_id],
        )
        .await?;
        Ok(Some(
            rows.iter()
                .map(delivery_status_from)
                .collect::<StoreResult<_>>()?,
        ))
    }
}
