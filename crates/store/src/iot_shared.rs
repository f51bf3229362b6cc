//! The body of [`IotStore`](crate::IotStore), written once and expanded for
//! each backend by [`impl_iot_store!`], on top of the helpers `impl_store!`
//! defines. Per-backend text:
//!
//! - `$cast`: appended to the placeholder of a JSON parameter (`::jsonb` on
//!   PostgreSQL; nothing on SQLite, which keeps JSON as text). JSON is bound
//!   as text that serde wrote once, so the telemetry path never builds a
//!   `serde_json::Value` tree.
//! - `$downsample`: the bucketed aggregate over the numeric members of the
//!   `vals` JSON (`json_each` on SQLite, `jsonb_each` on PostgreSQL).
//! - `$telemetry_rows`: rows per multi-row telemetry insert (measured).

/// The downsample query on SQLite: `$1` device, `$2`/`$3` the time range in
/// microseconds, `$4` the bucket width in microseconds.
pub(crate) const SQLITE_DOWNSAMPLE: &str = "\
SELECT bucket, prop, COUNT(*) AS n, AVG(num) AS avg, MIN(num) AS min, MAX(num) AS max, \
       MAX(CASE WHEN rn = 1 THEN num END) AS last \
FROM (SELECT (t.at_us / $4) * $4 AS bucket, j.key AS prop, CAST(j.value AS REAL) AS num, \
             ROW_NUMBER() OVER (PARTITION BY t.at_us / $4, j.key ORDER BY t.at_us DESC, t.id DESC) AS rn \
      FROM iot_telemetry t, json_each(t.vals) j \
      WHERE t.device_id = $1 AND t.at_us >= $2 AND t.at_us < $3 AND j.type IN ('integer', 'real')) s \
GROUP BY bucket, prop ORDER BY bucket, prop";

/// The downsample query on PostgreSQL (same parameters).
pub(crate) const POSTGRES_DOWNSAMPLE: &str = "\
SELECT bucket, prop, COUNT(*) AS n, AVG(num) AS avg, MIN(num) AS min, MAX(num) AS max, \
       MAX(CASE WHEN rn = 1 THEN num END) AS last \
FROM (SELECT (t.at_us / $4) * $4 AS bucket, j.key AS prop, (j.value #>> '{}')::double precision AS num, \
             ROW_NUMBER() OVER (PARTITION BY t.at_us / $4, j.key ORDER BY t.at_us DESC, t.id DESC) AS rn \
      FROM iot_telemetry t CROSS JOIN LATERAL jsonb_each(t.vals) j \
      WHERE t.device_id = $1 AND t.at_us >= $2 AND t.at_us < $3 AND jsonb_typeof(j.value) = 'number') s \
GROUP BY bucket, prop ORDER BY bucket, prop";

pub(crate) const TELEMETRY_COLUMNS: [&str; 6] =
    ["device_id", "at_us", "vals", "events", "lon", "lat"];

/// Telemetry rows per insert statement on SQLite (see the benchmark in
/// `crates/services/benches/telemetry.rs`).
pub(crate) const SQLITE_TELEMETRY_ROWS: usize = 1_000;
/// Telemetry rows per insert statement on PostgreSQL.
pub(crate) const POSTGRES_TELEMETRY_ROWS: usize = 1_000;
// Both stay under the 8,000 parameters per statement the stores keep to.
const _: () = assert!(TELEMETRY_COLUMNS.len() * POSTGRES_TELEMETRY_ROWS <= 8_000);
const _: () = assert!(TELEMETRY_COLUMNS.len() * SQLITE_TELEMETRY_ROWS <= 8_000);

/// Expands `impl IotStore for $store` over the sqlx database `$db`.
macro_rules! impl_iot_store {
    ($store:ty, $db:ty, $cast:expr, $downsample:expr, $telemetry_rows:expr) => {
        impl $store {
            /// Wide inserts bind anonymous `?` placeholders on SQLite (see
            /// [`insert_sql`]($crate::iot_rows::insert_sql)).
            fn iot_anonymous() -> bool {
                <$db as sqlx::Database>::NAME == "SQLite"
            }

            async fn iot_product_in(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                key: &str,
            ) -> $crate::Result<Option<chengyun_domain::iot::Product>> {
                let row: Option<$crate::iot_rows::BodyRow> =
                    sqlx::query_as::<$db, $crate::iot_rows::BodyRow>("SELECT key, body FROM iot_products WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                row.map(|r| $crate::iot_rows::from_json(r.body.0, "product", &r.key, "body")).transpose()
            }

            async fn iot_command_in(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
            ) -> $crate::Result<Option<$crate::iot::CommandRecord>> {
                let sql = format!("SELECT {} FROM iot_commands t WHERE t.id = $1", $crate::iot_rows::COMMAND_COLUMNS);
                let row = sqlx::query_as::<$db, $crate::iot_rows::CommandRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| self.db_err(e))?;
                row.map(TryFrom::try_from).transpose()
            }

            async fn iot_alarms_where(
                &self,
                cond: &str,
                args: Vec<$crate::sql::Arg>,
            ) -> $crate::Result<Vec<$crate::iot::StoredAlarm>> {
                let sql = format!("SELECT {} FROM iot_alarms t WHERE {cond}", $crate::iot_rows::ALARM_COLUMNS);
                let rows: Vec<$crate::iot_rows::AlarmRow> = self.fetch_rows(sql, args).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::iot::IotStore for $store {
            async fn upsert_product(
                &self,
                product: &chengyun_domain::iot::Product,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                product.validate()?;
                let body = $crate::iot_rows::json_text(product, "product")?;
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "INSERT INTO iot_products (key, name, protocol, body, updated_at) VALUES ($1, $2, $3, $4{}, $5) \
                     ON CONFLICT (key) DO UPDATE SET name = excluded.name, protocol = excluded.protocol, \
                     body = excluded.body, updated_at = excluded.updated_at",
                    $cast
                );
                sqlx::query::<$db>(sqlx::AssertSqlSafe(sql))
                    .bind(product.key.as_str())
                    .bind(product.name.as_str())
                    .bind(product.protocol.as_str())
                    .bind(body)
                    .bind($crate::sql::now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn product(&self, key: &str) -> $crate::Result<Option<chengyun_domain::iot::Product>> {
                let mut conn = self.pool.acquire().await.map_err(|e| self.db_err(e))?;
                self.iot_product_in(&mut conn, key).await
            }

            async fn products(&self) -> $crate::Result<Vec<chengyun_domain::iot::Product>> {
                let rows: Vec<$crate::iot_rows::BodyRow> =
                    self.fetch_rows("SELECT key, body FROM iot_products ORDER BY key".into(), vec![]).await?;
                rows.into_iter()
                    .map(|r| $crate::iot_rows::from_json(r.body.0, "product", &r.key, "body"))
                    .collect()
            }

            async fn upsert_device(
                &self,
                device: &chengyun_domain::iot::Device,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                self.upsert_devices(std::slice::from_ref(device), audit).await
            }

            async fn upsert_devices(
                &self,
                devices: &[chengyun_domain::iot::Device],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let mut products: std::collections::HashMap<String, chengyun_domain::iot::Product> =
                    std::collections::HashMap::new();
                let sql = format!(
                    "INSERT INTO iot_devices (id, product_key, protocol, name, owner_department, terminal_id, \
                     credential_hash, component_id, lon, lat, body, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11{}, $12, $12) \
                     ON CONFLICT (id) DO UPDATE SET product_key = excluded.product_key, protocol = excluded.protocol, \
                     name = excluded.name, owner_department = excluded.owner_department, terminal_id = excluded.terminal_id, \
                     credential_hash = excluded.credential_hash, component_id = excluded.component_id, lon = excluded.lon, \
                     lat = excluded.lat, body = excluded.body, updated_at = excluded.updated_at",
                    $cast
                );
                let now = $crate::sql::now();
                for (i, device) in devices.iter().enumerate() {
                    // One device's error names it; the batch is all or nothing.
                    let at = |e: chengyun_domain::Invalid| {
                        if devices.len() > 1 { e.at(format!("devices[{i}]")) } else { e }
                    };
                    if !products.contains_key(&device.product_key) {
                        let Some(p) = self.iot_product_in(&mut tx, &device.product_key).await? else {
                            return Err(at(chengyun_domain::Invalid::new(
                                "product_key",
                                format!("device {} names product {:?}, which is not registered; add the product first", device.id, device.product_key),
                            ))
                            .into());
                        };
                        products.insert(device.product_key.clone(), p);
                    }
                    let product = &products[&device.product_key];
                    device.validate(product).map_err(|mut e| {
                        if devices.len() > 1 {
                            e.problems = e.problems.into_iter().map(|p| p.at(format!("devices[{i}]"))).collect();
                        }
                        $crate::StoreError::from(e)
                    })?;
                    let body = $crate::iot_rows::json_text(device, "device")?;
                    sqlx::query::<$db>(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(device.id.as_str())
                        .bind(device.product_key.as_str())
                        .bind(product.protocol.as_str())
                        .bind(device.name.as_str())
                        .bind(device.owner_department.as_str())
                        .bind(device.terminal_id.as_deref())
                        .bind(device.credential_hash.as_deref())
                        .bind(device.component_id.as_ref().map(|c| c.to_string()))
                        .bind(device.location.map(|p| p.lon))
                        .bind(device.location.map(|p| p.lat))
                        .bind(body)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| {
                            if $crate::sql::is_unique_violation(&e) {
                                $crate::StoreError::Conflict(format!(
                                    "terminal id {:?} of protocol {} already belongs to another device",
                                    device.terminal_id.as_deref().unwrap_or(""),
                                    product.protocol.as_str()
                                ))
                            } else {
                                self.db_err(e)
                            }
                        })?;
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn device(&self, id: &str) -> $crate::Result<Option<chengyun_domain::iot::Device>> {
                let rows: Vec<$crate::iot_rows::BodyRow> = self
                    .fetch_rows("SELECT id AS key, body FROM iot_devices WHERE id = $1".into(), vec![id.into()])
                    .await?;
                rows.into_iter().next().map($crate::iot_rows::device_from).transpose()
            }

            async fn device_by_terminal(
                &self,
                protocol: chengyun_domain::iot::Protocol,
                terminal_id: &str,
            ) -> $crate::Result<Option<chengyun_domain::iot::Device>> {
                let rows: Vec<$crate::iot_rows::BodyRow> = self
                    .fetch_rows(
                        "SELECT id AS key, body FROM iot_devices WHERE protocol = $1 AND terminal_id = $2".into(),
                        vec![protocol.as_str().into(), terminal_id.into()],
                    )
                    .await?;
                rows.into_iter().next().map($crate::iot_rows::device_from).transpose()
            }

            async fn list_devices(
                &self,
                q: &$crate::iot::DeviceQuery,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<chengyun_domain::iot::Device>> {
                let mut f = $crate::sql::Filter::default();
                if let Some(p) = &q.product_key {
                    f.eq("t.product_key", p.as_str());
                }
                if let Some(o) = &q.owner_department {
                    f.eq("t.owner_department", o.as_str());
                }
                if let Some(on) = q.online {
                    let p = f.arg(on);
                    let off = f.arg(false);
                    f.raw(format!("COALESCE(l.online, {off}) = {p}"));
                }
                if let Some([x0, y0, x1, y1]) = q.within {
                    let (a, b, c, d) = (f.arg(x0), f.arg(x1), f.arg(y0), f.arg(y1));
                    f.raw(format!(
                        "COALESCE(t.lon, l.lon) >= {a} AND COALESCE(t.lon, l.lon) <= {b} \
                         AND COALESCE(t.lat, l.lat) >= {c} AND COALESCE(t.lat, l.lat) <= {d}"
                    ));
                }
                if let Some(after) = &page.after {
                    f.cmp("t.id", ">", after.as_str());
                }
                self.fetch_page::<$crate::iot_rows::BodyRow, chengyun_domain::iot::Device>(
                    "SELECT t.id AS key, t.body FROM iot_devices t LEFT JOIN iot_latest l ON l.device_id = t.id",
                    f,
                    "t.id",
                    page,
                    |d| d.id.clone(),
                )
                .await
            }

            async fn all_devices(&self) -> $crate::Result<Vec<chengyun_domain::iot::Device>> {
                let rows: Vec<$crate::iot_rows::BodyRow> =
                    self.fetch_rows("SELECT id AS key, body FROM iot_devices ORDER BY id".into(), vec![]).await?;
                rows.into_iter().map($crate::iot_rows::device_from).collect()
            }

            async fn create_grant(
                &self,
                grant: &chengyun_domain::iot::Grant,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::iot::StoredGrant> {
                grant.validate()?;
                let (kind, target) = match &grant.target {
                    chengyun_domain::iot::GrantTarget::Device(d) => ("device", d.as_str()),
                    chengyun_domain::iot::GrantTarget::Product(p) => ("product", p.as_str()),
                };
                let perms = $crate::iot_rows::json_text(&grant.permissions, "permissions")?;
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "INSERT INTO iot_grants (target_kind, target, grantee_department, permissions, created_at) \
                     VALUES ($1, $2, $3, $4{}, $5) RETURNING id",
                    $cast
                );
                let now = $crate::sql::now();
                let id: i64 = sqlx::query_scalar::<$db, i64>(sqlx::AssertSqlSafe(sql))
                    .bind(kind)
                    .bind(target)
                    .bind(grant.grantee_department.as_str())
                    .bind(perms)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok($crate::iot::StoredGrant { id, grant: grant.clone(), created_at: now, revoked_at: None })
            }

            async fn grants(&self, department: Option<&str>) -> $crate::Result<Vec<$crate::iot::StoredGrant>> {
                let mut f = $crate::sql::Filter::default();
                f.raw("t.revoked_at IS NULL".into());
                if let Some(d) = department {
                    f.eq("t.grantee_department", d);
                }
                let sql = format!(
                    "SELECT t.id, t.target_kind, t.target, t.grantee_department, t.permissions, t.created_at, t.revoked_at \
                     FROM iot_grants t{} ORDER BY t.id",
                    f.where_sql()
                );
                let rows: Vec<$crate::iot_rows::GrantRow> = self.fetch_rows(sql, f.args).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn revoke_grant(&self, id: i64, audit: &chengyun_domain::audit::AuditEvent) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>("UPDATE iot_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind($crate::sql::now())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("grant {id} (or it is already revoked)")));
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn upsert_latest(&self, states: &[$crate::iot::LatestState]) -> $crate::Result<u64> {
                if states.is_empty() {
                    return Ok(0);
                }
                let rows = $crate::sql::last_wins(states, |s| s.device_id.clone());
                const COLUMNS: [&str; 6] = ["device_id", "vals", "lon", "lat", "last_seen", "online"];
                let per = 1_000usize.min(Self::UPSERT_ROWS.max(100));
                let mut tx = self.begin_write().await?;
                let mut total = 0;
                for chunk in rows.chunks(per) {
                    let mut sql = $crate::iot_rows::insert_sql("iot_latest", &COLUMNS, &["vals"], $cast, chunk.len(), Self::iot_anonymous());
                    sql.push_str(
                        " ON CONFLICT (device_id) DO UPDATE SET vals = excluded.vals, lon = excluded.lon, \
                         lat = excluded.lat, last_seen = excluded.last_seen, online = excluded.online",
                    );
                    let mut q = sqlx::query::<$db>(sqlx::AssertSqlSafe(sql));
                    for (i, s) in chunk {
                        let vals = $crate::iot_rows::json_text(&s.values, &format!("[{i}].values"))?;
                        q = q
                            .bind(s.device_id.as_str())
                            .bind(vals)
                            .bind(s.location.map(|p| p.lon))
                            .bind(s.location.map(|p| p.lat))
                            .bind($crate::sql::stored_time(s.last_seen))
                            .bind(s.online);
                    }
                    total += q.execute(&mut *tx).await.map_err(|e| self.db_err(e))?.rows_affected();
                }
                self.commit(tx).await?;
                Ok(total)
            }

            async fn latest(&self, device_id: &str) -> $crate::Result<Option<$crate::iot::LatestState>> {
                let rows: Vec<$crate::iot_rows::LatestRow> = self
                    .fetch_rows(
                        "SELECT device_id, vals, lon, lat, last_seen, online FROM iot_latest WHERE device_id = $1".into(),
                        vec![device_id.into()],
                    )
                    .await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn all_latest(&self) -> $crate::Result<Vec<$crate::iot::LatestState>> {
                let rows: Vec<$crate::iot_rows::LatestRow> = self
                    .fetch_rows(
                        "SELECT device_id, vals, lon, lat, last_seen, online FROM iot_latest ORDER BY device_id".into(),
                        vec![],
                    )
                    .await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn set_offline(&self, device_ids: &[String]) -> $crate::Result<u64> {
                let mut total = 0;
                for chunk in device_ids.chunks(500) {
                    let mut f = $crate::sql::Filter::default();
                    let off = f.arg(false);
                    let list: Vec<String> = chunk.iter().map(|d| f.arg(d.as_str())).collect();
                    let sql = format!(
                        "UPDATE iot_latest SET online = {off} WHERE online <> {off} AND device_id IN ({})",
                        list.join(", ")
                    );
                    let done = $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), f.args)
                        .execute(self.writer())
                        .await
                        .map_err(|e| self.db_err(e))?;
                    total += done.rows_affected();
                }
                Ok(total)
            }

            async fn append_telemetry(&self, rows: &[chengyun_domain::iot::Telemetry]) -> $crate::Result<u64> {
                if rows.is_empty() {
                    return Ok(0);
                }
                let columns = &$crate::iot_shared::TELEMETRY_COLUMNS;
                let per: usize = $telemetry_rows;
                let anon = Self::iot_anonymous();
                let mut tx = self.begin_write().await?;
                // SQLite: this connection checkpoints the WAL every 64 MB
                // instead of every 4 MB (the index pages each flush dirties
                // are copied back once per many flushes, not at every one).
                // A per-connection setting, idempotent and cheap. (The page
                // cache is set for every connection when the pool opens them:
                // raising it here grew whichever connections the writer
                // landed on, up to 8 × 64 MB over a long run.)
                if anon {
                    sqlx::query::<$db>("PRAGMA wal_autocheckpoint = 16384").execute(&mut *tx).await.map_err(|e| self.db_err(e))?;
                }
                let full: std::sync::Arc<str> =
                    $crate::iot_rows::insert_sql("iot_telemetry", columns, &["vals", "events"], $cast, per, anon).into();
                let mut total = 0;
                for (chunk_no, chunk) in rows.chunks(per).enumerate() {
                    let sql: std::sync::Arc<str> = if chunk.len() == per {
                        full.clone()
                    } else {
                        $crate::iot_rows::insert_sql("iot_telemetry", columns, &["vals", "events"], $cast, chunk.len(), anon).into()
                    };
                    let mut q = sqlx::query::<$db>(sqlx::AssertSqlSafe(sql));
                    for (i, t) in chunk.iter().enumerate() {
                        // The row's label is only built when serialising fails.
                        let vals = serde_json::to_string(&t.values).map_err(|e| {
                            chengyun_domain::Invalid::new(format!("[{}].values", chunk_no * per + i), format!("cannot be written as JSON: {e}"))
                        })?;
                        let events = if t.events.is_empty() {
                            None
                        } else {
                            Some($crate::iot_rows::json_text(&t.events, &format!("[{}].events", chunk_no * per + i))?)
                        };
                        q = q
                            .bind(t.device_id.as_str())
                            .bind($crate::iot_rows::micros(t.at))
                            .bind(vals)
                            .bind(events)
                            .bind(t.location.map(|p| p.lon))
                            .bind(t.location.map(|p| p.lat));
                    }
                    total += q.execute(&mut *tx).await.map_err(|e| self.db_err(e))?.rows_affected();
                }
                self.commit(tx).await?;
                Ok(total)
            }

            async fn telemetry(
                &self,
                device_id: &str,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::Result<Vec<chengyun_domain::iot::Telemetry>> {
                let rows: Vec<$crate::iot_rows::TelemetryRow> = self
                    .fetch_rows(
                        "SELECT id, device_id, at_us, vals, events, lon, lat FROM iot_telemetry \
                         WHERE device_id = $1 AND at_us >= $2 AND at_us < $3 ORDER BY at_us, id LIMIT $4"
                            .into(),
                        vec![
                            device_id.into(),
                            $crate::iot_rows::micros(from).into(),
                            $crate::iot_rows::micros(to).into(),
                            i64::from(limit).into(),
                        ],
                    )
                    .await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn telemetry_downsampled(
                &self,
                device_id: &str,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                bucket_secs: u32,
            ) -> $crate::Result<Vec<$crate::iot::TelemetryBucket>> {
                if bucket_secs == 0 {
                    return Err(chengyun_domain::Invalid::new("bucket_secs", "a bucket must be at least 1 second wide").into());
                }
                let rows: Vec<$crate::iot_rows::BucketRow> = self
                    .fetch_rows(
                        $downsample.to_string(),
                        vec![
                            device_id.into(),
                            $crate::iot_rows::micros(from).into(),
                            $crate::iot_rows::micros(to).into(),
                            (i64::from(bucket_secs) * 1_000_000).into(),
                        ],
                    )
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn delete_telemetry_before(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                max_rows: u32,
            ) -> $crate::Result<u64> {
                let done = sqlx::query::<$db>(
                    "DELETE FROM iot_telemetry WHERE id IN \
                     (SELECT id FROM iot_telemetry WHERE at_us < $1 ORDER BY at_us LIMIT $2)",
                )
                .bind($crate::iot_rows::micros(before))
                .bind(i64::from(max_rows))
                .execute(self.writer())
                .await
                .map_err(|e| self.db_err(e))?;
                Ok(done.rows_affected())
            }

            async fn upsert_alarms(&self, alarms: &[(chengyun_domain::iot::Alarm, String)]) -> $crate::Result<u64> {
                if alarms.is_empty() {
                    return Ok(0);
                }
                let sql = format!(
                    "INSERT INTO iot_alarms (id, device_id, rule_id, subject, alarm_type, level, state, count, \
                     last_us, first_at, last_at, lon, lat, owner_department, body, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15{}, $16) \
                     ON CONFLICT (id) DO UPDATE SET level = excluded.level, state = excluded.state, count = excluded.count, \
                     last_us = excluded.last_us, last_at = excluded.last_at, lon = excluded.lon, lat = excluded.lat, \
                     body = excluded.body, updated_at = excluded.updated_at",
                    $cast
                );
                let now = $crate::sql::now();
                let mut tx = self.begin_write().await?;
                let mut total = 0;
                for (i, (a, owner)) in alarms.iter().enumerate() {
                    let body = $crate::iot_rows::json_text(a, &format!("[{i}]"))?;
                    let state = match a.state {
                        chengyun_domain::iot::AlarmState::Active => "active",
                        chengyun_domain::iot::AlarmState::Acknowledged => "acknowledged",
                        chengyun_domain::iot::AlarmState::Cleared => "cleared",
                    };
                    let done = sqlx::query::<$db>(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(a.id.as_str())
                        .bind(a.key.device_id.as_str())
                        .bind(a.key.rule_id.as_str())
                        .bind(a.key.subject.as_deref().unwrap_or(""))
                        .bind(a.alarm_type.as_str())
                        .bind(a.level.as_str())
                        .bind(state)
                        .bind(i64::try_from(a.count).unwrap_or(i64::MAX))
                        .bind($crate::iot_rows::micros(a.last_at))
                        .bind($crate::sql::stored_time(a.first_at))
                        .bind($crate::sql::stored_time(a.last_at))
                        .bind(a.location.map(|p| p.lon))
                        .bind(a.location.map(|p| p.lat))
                        .bind(owner.as_str())
                        .bind(body)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.db_err(e))?;
                    total += done.rows_affected();
                }
                self.commit(tx).await?;
                Ok(total)
            }

            async fn alarm(&self, id: &str) -> $crate::Result<Option<$crate::iot::StoredAlarm>> {
                Ok(self.iot_alarms_where("t.id = $1", vec![id.into()]).await?.into_iter().next())
            }

            async fn open_alarm(
                &self,
                key: &chengyun_domain::iot::AlarmKey,
            ) -> $crate::Result<Option<$crate::iot::StoredAlarm>> {
                Ok(self
                    .iot_alarms_where(
                        "t.device_id = $1 AND t.rule_id = $2 AND t.subject = $3 AND t.state <> 'cleared' \
                         ORDER BY t.last_us DESC",
                        vec![
                            key.device_id.as_str().into(),
                            key.rule_id.as_str().into(),
                            key.subject.as_deref().unwrap_or("").into(),
                        ],
                    )
                    .await?
                    .into_iter()
                    .next())
            }

            async fn set_alarm_case(&self, alarm_id: &str, case_id: i64) -> $crate::Result<()> {
                let done = sqlx::query::<$db>("UPDATE iot_alarms SET case_id = $1 WHERE id = $2")
                    .bind(case_id)
                    .bind(alarm_id)
                    .execute(self.writer())
                    .await
                    .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("alarm {alarm_id}")));
                }
                Ok(())
            }

            async fn alarms_of_case(&self, case_id: i64) -> $crate::Result<Vec<$crate::iot::StoredAlarm>> {
                self.iot_alarms_where("t.case_id = $1 ORDER BY t.id", vec![case_id.into()]).await
            }

            async fn list_alarms(
                &self,
                q: &$crate::iot::AlarmQuery,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<$crate::iot::StoredAlarm>> {
                let mut f = $crate::sql::Filter::default();
                if let Some(d) = &q.device_id {
                    f.eq("t.device_id", d.as_str());
                }
                if let Some(t) = &q.alarm_type {
                    f.eq("t.alarm_type", t.as_str());
                }
                if let Some(s) = q.state {
                    let s = match s {
                        chengyun_domain::iot::AlarmState::Active => "active",
                        chengyun_domain::iot::AlarmState::Acknowledged => "acknowledged",
                        chengyun_domain::iot::AlarmState::Cleared => "cleared",
                    };
                    f.eq("t.state", s);
                }
                if q.open_only {
                    f.raw("t.state <> 'cleared'".into());
                }
                if let Some(owners) = &q.owners {
                    if owners.is_empty() {
                        f.raw("1 = 0".into());
                    } else {
                        let list: Vec<String> = owners.iter().map(|o| f.arg(o.as_str())).collect();
                        f.raw(format!("t.owner_department IN ({})", list.join(", ")));
                    }
                }
                if let Some(since) = q.since {
                    f.cmp("t.last_us", ">=", $crate::iot_rows::micros(since));
                }
                if let Some(after) = &page.after {
                    let bad = || {
                        $crate::StoreError::from(chengyun_domain::Invalid::new(
                            "after",
                            format!("cursor {after:?} is not an alarm cursor; pass the `next` value of the previous page"),
                        ))
                    };
                    let (us, id) = after.split_once('/').ok_or_else(bad)?;
                    let us: i64 = us.parse().map_err(|_| bad())?;
                    let a = f.arg(us);
                    let b = f.arg(id);
                    f.raw(format!("(t.last_us < {a} OR (t.last_us = {a} AND t.id < {b}))"));
                }
                let select = format!("SELECT {} FROM iot_alarms t", $crate::iot_rows::ALARM_COLUMNS);
                self.fetch_page::<$crate::iot_rows::AlarmRow, $crate::iot::StoredAlarm>(
                    &select,
                    f,
                    "t.last_us DESC, t.id DESC",
                    page,
                    |a| format!("{}/{}", $crate::iot_rows::micros(a.alarm.last_at), a.alarm.id),
                )
                .await
            }

            async fn create_command(
                &self,
                cmd: &$crate::iot::NewCommand,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::iot::CommandRecord> {
                let params = $crate::iot_rows::json_text(&cmd.params, "params")?;
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "INSERT INTO iot_commands (device_id, command, params, actor, status, created_at, deadline_us, deadline_at) \
                     VALUES ($1, $2, $3{}, $4, 'queued', $5, $6, $7) RETURNING id",
                    $cast
                );
                let id: i64 = sqlx::query_scalar::<$db, i64>(sqlx::AssertSqlSafe(sql))
                    .bind(cmd.device_id.as_str())
                    .bind(cmd.command.as_str())
                    .bind(params)
                    .bind(cmd.actor.as_str())
                    .bind($crate::sql::now())
                    .bind($crate::iot_rows::micros(cmd.deadline_at))
                    .bind($crate::sql::stored_time(cmd.deadline_at))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                let mut audit = audit.clone();
                if audit.target.is_empty() {
                    audit.target = id.to_string();
                }
                self.audit_in(&mut tx, &audit).await?;
                let rec = self
                    .iot_command_in(&mut tx, id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Database(format!("command {id} vanished while it was created")))?;
                self.commit(tx).await?;
                Ok(rec)
            }

            async fn command(&self, id: i64) -> $crate::Result<Option<$crate::iot::CommandRecord>> {
                let mut conn = self.pool.acquire().await.map_err(|e| self.db_err(e))?;
                self.iot_command_in(&mut conn, id).await
            }

            async fn update_command(
                &self,
                id: i64,
                status: $crate::iot::CommandStatus,
                at: chrono::DateTime<chrono::Utc>,
                error: Option<&str>,
            ) -> $crate::Result<$crate::iot::CommandRecord> {
                let mut tx = self.begin_write().await?;
                let Some(cur) = self.iot_command_in(&mut tx, id).await? else {
                    return Err($crate::StoreError::NotFound(format!("command {id}")));
                };
                if !cur.status.is_open() {
                    return Err($crate::StoreError::Conflict(format!(
                        "command {id} is already {}; a final command does not change",
                        cur.status.as_str()
                    )));
                }
                if status == $crate::iot::CommandStatus::Queued {
                    return Err(chengyun_domain::Invalid::new("status", "a command cannot go back to queued").into());
                }
                let at = $crate::sql::stored_time(at);
                let sent_at = if status == $crate::iot::CommandStatus::Sent { Some(at) } else { cur.sent_at };
                let finished_at = if status.is_open() { None } else { Some(at) };
                let done = sqlx::query::<$db>(
                    "UPDATE iot_commands SET status = $1, sent_at = $2, finished_at = $3, error = $4 \
                     WHERE id = $5 AND status = $6",
                )
                .bind(status.as_str())
                .bind(sent_at)
                .bind(finished_at)
                .bind(error)
                .bind(id)
                .bind(cur.status.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::Conflict(format!(
                        "command {id} changed while it was updated; read it again"
                    )));
                }
                let rec = self
                    .iot_command_in(&mut tx, id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::NotFound(format!("command {id}")))?;
                self.commit(tx).await?;
                Ok(rec)
            }

            async fn list_commands(
                &self,
                device_id: &str,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<$crate::iot::CommandRecord>> {
                let mut f = $crate::sql::Filter::default();
                f.eq("t.device_id", device_id);
                if let Some(after) = &page.after {
                    f.cmp("t.id", "<", $crate::sql::id_cursor(after)?);
                }
                let select = format!("SELECT {} FROM iot_commands t", $crate::iot_rows::COMMAND_COLUMNS);
                self.fetch_page::<$crate::iot_rows::CommandRow, $crate::iot::CommandRecord>(
                    &select, f, "t.id DESC", page, |c| c.id.to_string(),
                )
                .await
            }

            async fn overdue_commands(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::iot::CommandRecord>> {
                let sql = format!(
                    "SELECT {} FROM iot_commands t WHERE t.status IN ('queued', 'sent') AND t.deadline_us < $1 \
                     ORDER BY t.deadline_us, t.id LIMIT $2",
                    $crate::iot_rows::COMMAND_COLUMNS
                );
                let rows: Vec<$crate::iot_rows::CommandRow> = self
                    .fetch_rows(sql, vec![$crate::iot_rows::micros(now).into(), i64::from(limit).into()])
                    .await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn save_rule_set(
                &self,
                rules: &chengyun_domain::iot::RuleSet,
                note: Option<&str>,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<i64> {
                let body = $crate::iot_rows::json_text(rules, "rules")?;
                let mut tx = self.begin_write().await?;
                let last: Option<i64> = sqlx::query_scalar::<$db, Option<i64>>("SELECT MAX(version) FROM iot_rule_sets")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                let version = last.unwrap_or(0) + 1;
                let sql = format!(
                    "INSERT INTO iot_rule_sets (version, body, note, created_by, created_at) VALUES ($1, $2{}, $3, $4, $5)",
                    $cast
                );
                sqlx::query::<$db>(sqlx::AssertSqlSafe(sql))
                    .bind(version)
                    .bind(body)
                    .bind(note)
                    .bind(audit.actor.name.as_str())
                    .bind($crate::sql::now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        if $crate::sql::is_unique_violation(&e) {
                            $crate::StoreError::Conflict(format!(
                                "rule set version {version} was saved by someone else meanwhile; save again"
                            ))
                        } else {
                            self.db_err(e)
                        }
                    })?;
                let mut audit = audit.clone();
                if audit.target.is_empty() {
                    audit.target = version.to_string();
                }
                self.audit_in(&mut tx, &audit).await?;
                self.commit(tx).await?;
                Ok(version)
            }

            async fn rule_set(&self, version: Option<i64>) -> $crate::Result<Option<$crate::iot::StoredRuleSet>> {
                let (cond, args): (&str, Vec<$crate::sql::Arg>) = match version {
                    Some(v) => ("WHERE version = $1", vec![v.into()]),
                    None => ("", vec![]),
                };
                let sql = format!(
                    "SELECT version, body, note, created_by, created_at FROM iot_rule_sets {cond} ORDER BY version DESC LIMIT 1"
                );
                let rows: Vec<(i64, sqlx::types::Json<serde_json::Value>, Option<String>, String, chrono::DateTime<chrono::Utc>)> =
                    self.fetch_rows(sql, args).await?;
                rows.into_iter()
                    .next()
                    .map(|(version, body, note, created_by, created_at)| {
                        Ok($crate::iot::StoredRuleSet {
                            rules: $crate::iot_rows::from_json(body.0, "rule set", &version.to_string(), "body")?,
                            version,
                            note,
                            created_by,
                            created_at,
                        })
                    })
                    .transpose()
            }

            async fn rule_sets(&self) -> $crate::Result<Vec<$crate::iot::StoredRuleSet>> {
                let rows: Vec<(i64, sqlx::types::Json<serde_json::Value>, Option<String>, String, chrono::DateTime<chrono::Utc>)> = self
                    .fetch_rows(
                        "SELECT version, body, note, created_by, created_at FROM iot_rule_sets ORDER BY version DESC".into(),
                        vec![],
                    )
                    .await?;
                rows.into_iter()
                    .map(|(version, body, note, created_by, created_at)| {
                        Ok($crate::iot::StoredRuleSet {
                            rules: $crate::iot_rows::from_json(body.0, "rule set", &version.to_string(), "body")?,
                            version,
                            note,
                            created_by,
                            created_at,
                        })
                    })
                    .collect()
            }

            async fn enable_pack(
                &self,
                pack: &chengyun_domain::iot::Pack,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let body = $crate::iot_rows::json_text(pack, "pack")?;
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "INSERT INTO iot_packs (key, body, enabled_at) VALUES ($1, $2{}, $3) \
                     ON CONFLICT (key) DO UPDATE SET body = excluded.body, enabled_at = excluded.enabled_at",
                    $cast
                );
                sqlx::query::<$db>(sqlx::AssertSqlSafe(sql))
                    .bind(pack.key.as_str())
                    .bind(body)
                    .bind($crate::sql::now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn disable_pack(&self, key: &str, audit: &chengyun_domain::audit::AuditEvent) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>("DELETE FROM iot_packs WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("enabled pack {key}")));
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn enabled_packs(&self) -> $crate::Result<Vec<chengyun_domain::iot::Pack>> {
                let rows: Vec<$crate::iot_rows::BodyRow> =
                    self.fetch_rows("SELECT key, body FROM iot_packs ORDER BY key".into(), vec![]).await?;
                rows.into_iter()
                    .map(|r| $crate::iot_rows::from_json(r.body.0, "pack", &r.key, "body"))
                    .collect()
            }
        }
    };
}
pub(crate) use impl_iot_store;
