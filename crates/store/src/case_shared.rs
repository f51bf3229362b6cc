//! The body of [`CaseStore`](crate::CaseStore), written once and expanded for
//! each backend by [`impl_case_store!`], on top of the helpers `impl_store!`
//! defines (`begin_write`, `audit_in`, `commit`, `fetch_rows`, `fetch_page`,
//! `upsert_rows`). The only per-backend text is `$day`, the SQL that turns a
//! stored instant into its UTC day `YYYY-MM-DD`; the placeholder style of
//! wide multi-row inserts follows the backend's name (`?` on SQLite, see
//! [`insert_sql`](crate::case_rows::insert_sql)).
//!
//! One case write is a handful of statements: the number (one UPSERT … RETURNING),
//! the case row (INSERT … RETURNING id), one multi-row insert each for the
//! reporters, the flow records (RETURNING their ids), the clocks, the
//! statistics rows and their daily roll-up, and the audit row. Nothing is
//! read back: the record answered is built from what was written.

/// Statistics rows per multi-row insert: 34 columns × 200 rows stays under the
/// 8,000 parameters per statement both backends are kept to.
pub(crate) const STAT_ROWS_PER_STATEMENT: usize = 200;

/// Expands `impl CaseStore for $store` over the sqlx database `$db`.
macro_rules! impl_case_store {
    ($store:ty, $db:ty, $day:expr) => {
        impl $store {
            /// SQLite binds `$n` placeholders by name lookup (linear per
            /// parameter); wide inserts use anonymous `?` there.
            fn anonymous_placeholders() -> bool {
                <$db as sqlx::Database>::NAME == "SQLite"
            }

            /// Reporters, flow records, clocks, statistics rows (with their
            /// roll-up) and attachment links of one case write, inside the
            /// caller's transaction. Answers the flow records with their ids.
            async fn apply_case_changes(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                case_id: i64,
                number: &str,
                changes: &$crate::case::CaseChanges,
            ) -> $crate::Result<Vec<$crate::case::FlowRecord>> {
                use $crate::sql::stored_time as t;
                let anon = Self::anonymous_placeholders();
                if !changes.reporters.is_empty() {
                    const COLS: [&str; 6] = ["case_id", "name", "phone", "user_id", "channel", "reported_at"];
                    let sql = $crate::case_rows::insert_sql("case_reporters", &COLS, changes.reporters.len(), anon);
                    let mut args: Vec<$crate::sql::Arg> = Vec::with_capacity(changes.reporters.len() * COLS.len());
                    for r in &changes.reporters {
                        args.push(case_id.into());
                        args.push(r.name.clone().into());
                        args.push(r.phone.clone().into());
                        args.push(r.user_id.into());
                        args.push(r.channel.as_str().into());
                        args.push(t(r.reported_at).into());
                    }
                    $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), args)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                }
                let mut flow = Vec::with_capacity(changes.flow.len());
                if !changes.flow.is_empty() {
                    const COLS: [&str; 11] = [
                        "case_id", "action", "detail", "from_state", "to_state", "actor_user",
                        "actor_department", "acted_as", "at", "opinion", "attachments",
                    ];
                    let sql = format!(
                        "{} RETURNING id",
                        $crate::case_rows::insert_sql("flow_records", &COLS, changes.flow.len(), anon)
                    );
                    let mut args: Vec<$crate::sql::Arg> = Vec::with_capacity(changes.flow.len() * COLS.len());
                    for f in &changes.flow {
                        args.push(case_id.into());
                        args.push(f.action.as_str().into());
                        args.push($crate::sql::Arg::Json(Some(f.detail.clone())));
                        args.push(f.from_state.map(|s| s.as_str()).into());
                        args.push(f.to_state.as_str().into());
                        args.push(f.actor_user.into());
                        args.push(f.actor_department.clone().into());
                        args.push(f.acted_as.clone().into());
                        args.push(t(f.at).into());
                        args.push(f.opinion.clone().into());
                        args.push($crate::sql::Arg::Json(Some(serde_json::json!(f.attachments))));
                    }
                    let mut ids: Vec<i64> =
                        $crate::sql::bind_args!(sqlx::query_scalar::<$db, i64>(sqlx::AssertSqlSafe(sql)), args)
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(|e| self.db_err(e))?;
                    // One statement takes its ids in the order of its VALUES
                    // rows on both backends; RETURNING need not list them in
                    // that order, so sort before pairing.
                    ids.sort_unstable();
                    for (id, f) in ids.into_iter().zip(&changes.flow) {
                        let mut record = f.clone();
                        record.at = t(record.at);
                        flow.push($crate::case::FlowRecord { id, case_id, record });
                    }
                }
                if !changes.clocks.is_empty() {
                    let clocks: Vec<$crate::case::CaseClock> = changes
                        .clocks
                        .iter()
                        .map(|c| $crate::case::CaseClock { case_id, ..c.clone() })
                        .collect();
                    let rows = $crate::sql::last_wins(&clocks, |c| c.clock);
                    self.upsert_rows(&mut *conn, &$crate::case_rows::CLOCK_UPSERT, &rows, $crate::case_rows::clock_args)
                        .await?;
                }
                if !changes.stats.is_empty() {
                    let rows: Vec<(i64, &str, &$crate::case::NewStatRow)> =
                        changes.stats.iter().map(|r| (case_id, number, r)).collect();
                    self.insert_stats(&mut *conn, &rows).await?;
                }
                for a in &changes.attachments {
                    let done = sqlx::query::<$db>(
                        "UPDATE attachments SET case_id = $1 WHERE id = $2 AND (case_id IS NULL OR case_id = $1)",
                    )
                    .bind(case_id)
                    .bind(a.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| self.db_err(e))?;
                    if done.rows_affected() == 0 {
                        return Err(chengyun_domain::Invalid::new(
                            "attachments",
                            format!("attachment {a} does not exist or belongs to another case; upload it first"),
                        )
                        .into());
                    }
                }
                Ok(flow)
            }

            /// Statistics rows (multi-row inserts) and their daily roll-up
            /// (summed per key in memory, then one UPSERT adding the sums).
            async fn insert_stats(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                rows: &[(i64, &str, &$crate::case::NewStatRow)],
            ) -> $crate::Result<u64> {
                let anon = Self::anonymous_placeholders();
                let columns = $crate::case_rows::stat_insert_columns();
                let per = $crate::case_shared::STAT_ROWS_PER_STATEMENT;
                let full: Option<std::sync::Arc<str>> = (rows.len() >= per)
                    .then(|| $crate::case_rows::insert_sql("stat_rows", &columns, per, anon).into());
                let mut total = 0;
                for (chunk_no, chunk) in rows.chunks(per).enumerate() {
                    let mut args = Vec::with_capacity(chunk.len() * columns.len());
                    for (i, (case_id, number, row)) in chunk.iter().enumerate() {
                        $crate::case_rows::stat_args(*case_id, number, row, &mut args)
                            .map_err(|e| e.at(format!("stats[{}]", chunk_no * per + i)))?;
                    }
                    let sql: std::sync::Arc<str> = match &full {
                        Some(sql) if chunk.len() == per => sql.clone(),
                        _ => $crate::case_rows::insert_sql("stat_rows", &columns, chunk.len(), anon).into(),
                    };
                    let done = $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), args)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                    total += done.rows_affected();
                }
                let daily = $crate::case_rows::daily_rows(rows.iter().map(|(_, _, r)| *r));
                let per = $crate::case_rows::DAILY_ROWS_PER_STATEMENT;
                let full: Option<std::sync::Arc<str>> =
                    (daily.len() >= per).then(|| $crate::case_rows::daily_upsert_sql(per, anon).into());
                for chunk in daily.chunks(per) {
                    let mut args = Vec::with_capacity(chunk.len() * 32);
                    for row in chunk {
                        $crate::case_rows::daily_args(row, &mut args)?;
                    }
                    let sql: std::sync::Arc<str> = match &full {
                        Some(sql) if chunk.len() == per => sql.clone(),
                        _ => $crate::case_rows::daily_upsert_sql(chunk.len(), anon).into(),
                    };
                    $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), args)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                }
                Ok(total)
            }

            async fn case_in(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
            ) -> $crate::Result<Option<$crate::case::CaseRecord>> {
                let sql = format!("SELECT {} FROM cases t WHERE t.id = $1", $crate::case_rows::CASE_COLUMNS);
                let row = sqlx::query_as::<$db, $crate::case_rows::CaseRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| self.db_err(e))?;
                row.map(TryFrom::try_from).transpose()
            }

            /// Creates one case in the caller's transaction and answers it as
            /// written (times at the stored precision).
            async fn create_case_in(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                new: &$crate::case::NewCaseWrite,
            ) -> $crate::Result<$crate::case::CaseWritten> {
                let seq: i64 = sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO case_sequences (prefix, date, last) VALUES ($1, $2, 1) \
                     ON CONFLICT (prefix, date) DO UPDATE SET last = case_sequences.last + 1 RETURNING last",
                )
                .bind(new.number_prefix.as_str())
                .bind(new.number_date)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| self.db_err(e))?;
                let number = chengyun_domain::case::CaseNumber::new(
                    &new.number_prefix,
                    new.number_date,
                    u32::try_from(seq).unwrap_or(u32::MAX),
                )?;
                let now = $crate::sql::now();
                let mut columns = vec!["number", "version", "created_at"];
                columns.extend($crate::case_rows::CASE_WRITE_COLUMNS);
                let mut args: Vec<$crate::sql::Arg> =
                    vec![number.as_str().into(), 1i64.into(), now.into()];
                args.extend($crate::case_rows::case_args(&new.data, now)?);
                let sql = format!(
                    "{} RETURNING id",
                    $crate::case_rows::insert_sql("cases", &columns, 1, Self::anonymous_placeholders())
                );
                let id: i64 = $crate::sql::bind_args!(sqlx::query_scalar::<$db, i64>(sqlx::AssertSqlSafe(sql)), args)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| {
                        if $crate::sql::is_unique_violation(&e) {
                            $crate::StoreError::Conflict(match &new.data.external_id {
                                Some(x) => format!(
                                    "a case from {} with external id {x:?} already exists",
                                    new.data.source.as_str()
                                ),
                                None => format!("case number {number} is taken"),
                            })
                        } else {
                            self.db_err(e)
                        }
                    })?;
                let flow = self.apply_case_changes(&mut *conn, id, number.as_str(), &new.changes).await?;
                if let Some(key) = &new.idempotency {
                    sqlx::query::<$db>(
                        "INSERT INTO idempotency (user_id, key, request_hash, response, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(key.user_id)
                    .bind(key.key.as_str())
                    .bind(key.request_hash.as_str())
                    .bind(sqlx::types::Json(serde_json::json!({ "case_id": id })))
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        if $crate::sql::is_unique_violation(&e) {
                            $crate::StoreError::Conflict(format!(
                                "idempotency key {:?} was already used",
                                key.key
                            ))
                        } else {
                            self.db_err(e)
                        }
                    })?;
                }
                Ok($crate::case::CaseWritten {
                    case: $crate::case::CaseRecord {
                        id,
                        number,
                        version: 1,
                        created_at: now,
                        updated_at: now,
                        data: $crate::case_rows::as_stored(&new.data),
                    },
                    flow,
                })
            }

            /// Writes a batch of new cases with one multi-row statement per
            /// table (numbers reserved per prefix and date in one UPSERT each,
            /// cases, reporters, flow records, clocks, statistics and roll-up,
            /// idempotency keys, audit rows), in the caller's transaction.
            /// Any failure fails the whole batch; the caller then retries case
            /// by case to find and isolate the bad one.
            async fn create_cases_bulk(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                writes: &[($crate::case::NewCaseWrite, chengyun_domain::audit::AuditEvent)],
            ) -> $crate::Result<Vec<$crate::case::CaseWritten>> {
                use $crate::sql::stored_time as t;
                let anon = Self::anonymous_placeholders();
                let now = $crate::sql::now();
                // numbers: one reservation of k per (prefix, date)
                let mut wanted: std::collections::BTreeMap<(&str, chrono::NaiveDate), i64> = Default::default();
                for (w, _) in writes {
                    *wanted.entry((w.number_prefix.as_str(), w.number_date)).or_default() += 1;
                }
                let mut next: std::collections::BTreeMap<(&str, chrono::NaiveDate), i64> = Default::default();
                for ((prefix, date), k) in &wanted {
                    let last: i64 = sqlx::query_scalar::<$db, i64>(
                        "INSERT INTO case_sequences (prefix, date, last) VALUES ($1, $2, $3) \
                         ON CONFLICT (prefix, date) DO UPDATE SET last = case_sequences.last + $3 RETURNING last",
                    )
                    .bind(*prefix)
                    .bind(*date)
                    .bind(*k)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| self.db_err(e))?;
                    next.insert((*prefix, *date), last - k + 1);
                }
                let mut numbers = Vec::with_capacity(writes.len());
                for (w, _) in writes {
                    let slot = next.entry((w.number_prefix.as_str(), w.number_date)).or_default();
                    numbers.push(chengyun_domain::case::CaseNumber::new(
                        &w.number_prefix,
                        w.number_date,
                        u32::try_from(*slot).unwrap_or(u32::MAX),
                    )?);
                    *slot += 1;
                }
                // cases
                let mut columns = vec!["number", "version", "created_at"];
                columns.extend($crate::case_rows::CASE_WRITE_COLUMNS);
                let per = (8_000 / columns.len()).max(1);
                let mut ids: Vec<i64> = Vec::with_capacity(writes.len());
                for (chunk_no, chunk) in writes.chunks(per).enumerate() {
                    let mut args: Vec<$crate::sql::Arg> = Vec::with_capacity(chunk.len() * columns.len());
                    for (i, (w, _)) in chunk.iter().enumerate() {
                        args.push(numbers[chunk_no * per + i].as_str().into());
                        args.push(1i64.into());
                        args.push(now.into());
                        args.extend($crate::case_rows::case_args(&w.data, now).map_err(|e| e.at(format!("[{}]", chunk_no * per + i)))?);
                    }
                    let sql = format!("{} RETURNING id", $crate::case_rows::insert_sql("cases", &columns, chunk.len(), anon));
                    let mut got: Vec<i64> =
                        $crate::sql::bind_args!(sqlx::query_scalar::<$db, i64>(sqlx::AssertSqlSafe(sql)), args)
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(|e| self.db_err(e))?;
                    got.sort_unstable();
                    ids.extend(got);
                }
                // reporters
                let reporters: Vec<(i64, &$crate::case::Reporter)> = writes
                    .iter()
                    .zip(&ids)
                    .flat_map(|((w, _), id)| w.changes.reporters.iter().map(move |r| (*id, r)))
                    .collect();
                const REPORTER_COLS: [&str; 6] = ["case_id", "name", "phone", "user_id", "channel", "reported_at"];
                for chunk in reporters.chunks(1_000) {
                    let mut args: Vec<$crate::sql::Arg> = Vec::with_capacity(chunk.len() * 6);
                    for (id, r) in chunk {
                        args.push((*id).into());
                        args.push(r.name.clone().into());
                        args.push(r.phone.clone().into());
                        args.push(r.user_id.into());
                        args.push(r.channel.as_str().into());
                        args.push(t(r.reported_at).into());
                    }
                    let sql = $crate::case_rows::insert_sql("case_reporters", &REPORTER_COLS, chunk.len(), anon);
                    $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), args)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                }
                // flow records, ids paired in order
                let flows: Vec<(usize, i64, &$crate::case::NewFlowRecord)> = writes
                    .iter()
                    .zip(&ids)
                    .enumerate()
                    .flat_map(|(k, ((w, _), id))| w.changes.flow.iter().map(move |f| (k, *id, f)))
                    .collect();
                const FLOW_COLS: [&str; 11] = [
                    "case_id", "action", "detail", "from_state", "to_state", "actor_user",
                    "actor_department", "acted_as", "at", "opinion", "attachments",
                ];
                let mut flow_out: Vec<Vec<$crate::case::FlowRecord>> = vec![Vec::new(); writes.len()];
                for chunk in flows.chunks(700) {
                    let mut args: Vec<$crate::sql::Arg> = Vec::with_capacity(chunk.len() * 11);
                    for (_, id, f) in chunk {
                        args.push((*id).into());
                        args.push(f.action.as_str().into());
                        args.push($crate::sql::Arg::Json(Some(f.detail.clone())));
                        args.push(f.from_state.map(|s| s.as_str()).into());
                        args.push(f.to_state.as_str().into());
                        args.push(f.actor_user.into());
                        args.push(f.actor_department.clone().into());
                        args.push(f.acted_as.clone().into());
                        args.push(t(f.at).into());
                        args.push(f.opinion.clone().into());
                        args.push($crate::sql::Arg::Json(Some(serde_json::json!(f.attachments))));
                    }
                    let sql = format!("{} RETURNING id", $crate::case_rows::insert_sql("flow_records", &FLOW_COLS, chunk.len(), anon));
                    let mut got: Vec<i64> =
                        $crate::sql::bind_args!(sqlx::query_scalar::<$db, i64>(sqlx::AssertSqlSafe(sql)), args)
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(|e| self.db_err(e))?;
                    got.sort_unstable();
                    for (fid, (k, id, f)) in got.into_iter().zip(chunk) {
                        let mut record = (*f).clone();
                        record.at = t(record.at);
                        flow_out[*k].push($crate::case::FlowRecord { id: fid, case_id: *id, record });
                    }
                }
                // clocks
                let clocks: Vec<$crate::case::CaseClock> = writes
                    .iter()
                    .zip(&ids)
                    .flat_map(|((w, _), id)| w.changes.clocks.iter().map(move |c| $crate::case::CaseClock { case_id: *id, ..c.clone() }))
                    .collect();
                if !clocks.is_empty() {
                    let rows = $crate::sql::last_wins(&clocks, |c| (c.case_id, c.clock));
                    self.upsert_rows(&mut *conn, &$crate::case_rows::CLOCK_UPSERT, &rows, $crate::case_rows::clock_args)
                        .await?;
                }
                // statistics and roll-up
                let stats: Vec<(i64, &str, &$crate::case::NewStatRow)> = writes
                    .iter()
                    .zip(&ids)
                    .zip(&numbers)
                    .flat_map(|(((w, _), id), n)| w.changes.stats.iter().map(move |r| (*id, n.as_str(), r)))
                    .collect();
                if !stats.is_empty() {
                    self.insert_stats(&mut *conn, &stats).await?;
                }
                // attachment links (rare in bulk sources)
                for ((w, _), id) in writes.iter().zip(&ids) {
                    for a in &w.changes.attachments {
                        let done = sqlx::query::<$db>(
                            "UPDATE attachments SET case_id = $1 WHERE id = $2 AND (case_id IS NULL OR case_id = $1)",
                        )
                        .bind(*id)
                        .bind(a.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                        if done.rows_affected() == 0 {
                            return Err(chengyun_domain::Invalid::new(
                                "attachments",
                                format!("attachment {a} does not exist or belongs to another case; upload it first"),
                            )
                            .into());
                        }
                    }
                }
                // idempotency keys
                for ((w, _), id) in writes.iter().zip(&ids) {
                    if let Some(key) = &w.idempotency {
                        sqlx::query::<$db>(
                            "INSERT INTO idempotency (user_id, key, request_hash, response, created_at) VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(key.user_id)
                        .bind(key.key.as_str())
                        .bind(key.request_hash.as_str())
                        .bind(sqlx::types::Json(serde_json::json!({ "case_id": id })))
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                    }
                }
                // audit rows
                const AUDIT_COLS: [&str; 9] =
                    ["at", "user_id", "actor", "ip", "request_id", "action", "target_kind", "target", "details"];
                for (chunk_no, chunk) in writes.chunks(800).enumerate() {
                    let mut args: Vec<$crate::sql::Arg> = Vec::with_capacity(chunk.len() * 9);
                    for (i, (_, a)) in chunk.iter().enumerate() {
                        args.push(now.into());
                        args.push(a.actor.user_id.into());
                        args.push(a.actor.name.as_str().into());
                        args.push(a.actor.ip.clone().into());
                        args.push(a.actor.request_id.clone().into());
                        args.push(a.action.as_str().into());
                        args.push(a.target_kind.as_str().into());
                        let target = if a.target.is_empty() {
                            numbers[chunk_no * 800 + i].to_string()
                        } else {
                            a.target.clone()
                        };
                        args.push(target.into());
                        args.push($crate::sql::Arg::Json(Some(a.details.clone())));
                    }
                    let sql = $crate::case_rows::insert_sql("audit_log", &AUDIT_COLS, chunk.len(), anon);
                    $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), args)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                }
                Ok(writes
                    .iter()
                    .zip(ids)
                    .zip(numbers)
                    .zip(flow_out)
                    .map(|((((w, _), id), number), flow)| $crate::case::CaseWritten {
                        case: $crate::case::CaseRecord {
                            id,
                            number,
                            version: 1,
                            created_at: now,
                            updated_at: now,
                            data: $crate::case_rows::as_stored(&w.data),
                        },
                        flow,
                    })
                    .collect())
            }

            /// Sums over `stat_rows` (`raw`) or `stat_daily`, as [`StatTotal`]s keyed by group.
            async fn stat_sums(
                &self,
                raw: bool,
                q: &$crate::case::StatQuery,
                days: Option<(Option<String>, Option<String>)>,
                group: $crate::case::StatGroup,
            ) -> $crate::Result<Vec<$crate::case::StatTotal>> {
                use sqlx::Row;
                let key = $crate::case_rows::stat_group_key(group, raw, $day);
                let mut f = $crate::sql::Filter::default();
                if raw {
                    if let Some(from) = q.from {
                        f.cmp("t.at", ">=", $crate::sql::stored_time(from));
                    }
                    if let Some(to) = q.to {
                        f.cmp("t.at", "<", $crate::sql::stored_time(to));
                    }
                } else if let Some((from, to)) = days {
                    if let Some(from) = from {
                        f.cmp("t.day", ">=", from);
                    }
                    if let Some(to) = to {
                        f.cmp("t.day", "<", to);
                    }
                }
                if let Some(w) = &q.within {
                    f.prefix("t.area_code", w);
                }
                if let Some(d) = &q.department_code {
                    f.eq("t.department_code", d.as_str());
                }
                if let Some(u) = q.user_id {
                    f.eq("t.user_id", u);
                }
                let group_by = match group {
                    $crate::case::StatGroup::Total => String::new(),
                    _ => format!(" GROUP BY {key}"),
                };
                let table = if raw { "stat_rows" } else { "stat_daily" };
                let sql = format!(
                    "SELECT {key} AS key, {} FROM {table} t{}{group_by}",
                    $crate::case_rows::counter_sums(),
                    f.where_sql()
                );
                let rows = $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), f.args)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| self.db_err(e))?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let key: Option<String> = row.try_get("key").map_err(|e| self.db_err(e))?;
                    let mut values = [0u64; 27];
                    for (i, c) in $crate::case_rows::COUNTERS.iter().enumerate() {
                        let v: i64 = row.try_get(*c).map_err(|e| self.db_err(e))?;
                        values[i] = u64::try_from(v).unwrap_or(0);
                    }
                    out.push($crate::case::StatTotal { key, counters: $crate::case_rows::counters_from(values) });
                }
                Ok(out)
            }
        }

        #[async_trait::async_trait]
        impl $crate::case::CaseStore for $store {
            async fn create_case(
                &self,
                new: &$crate::case::NewCaseWrite,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::case::CaseRecord> {
                let mut tx = self.begin_write().await?;
                let written = self.create_case_in(&mut tx, new).await?;
                let mut audit = audit.clone();
                if audit.target.is_empty() {
                    audit.target = written.case.number.to_string();
                }
                self.audit_in(&mut tx, &audit).await?;
                self.commit(tx).await?;
                Ok(written.case)
            }

            async fn create_cases(
                &self,
                writes: &[($crate::case::NewCaseWrite, chengyun_domain::audit::AuditEvent)],
            ) -> $crate::Result<Vec<$crate::Result<$crate::case::CaseWritten>>> {
                use sqlx::Connection as _;
                let mut tx = self.begin_write().await?;
                if let [(new, audit)] = writes {
                    // One case: the transaction itself is the unit, no savepoint.
                    let done = match self.create_case_in(&mut tx, new).await {
                        Ok(written) => {
                            let mut audit = audit.clone();
                            if audit.target.is_empty() {
                                audit.target = written.case.number.to_string();
                            }
                            self.audit_in(&mut tx, &audit).await.map(|()| written)
                        }
                        Err(e) => Err(e),
                    };
                    return match done {
                        Ok(written) => {
                            self.commit(tx).await?;
                            Ok(vec![Ok(written)])
                        }
                        Err(e) => {
                            tx.rollback().await.map_err(|e| self.db_err(e))?;
                            Ok(vec![Err(e)])
                        }
                    };
                }
                // Fast path: the whole batch in multi-row statements. If
                // anything in it fails, undo it and go case by case.
                {
                    let mut sp = (&mut *tx).begin().await.map_err(|e| self.db_err(e))?;
                    match self.create_cases_bulk(&mut sp, writes).await {
                        Ok(written) => {
                            sp.commit().await.map_err(|e| self.db_err(e))?;
                            self.commit(tx).await?;
                            return Ok(written.into_iter().map(Ok).collect());
                        }
                        Err(_) => sp.rollback().await.map_err(|e| self.db_err(e))?,
                    }
                }
                let mut out = Vec::with_capacity(writes.len());
                for (new, audit) in writes {
                    let mut sp = (&mut *tx).begin().await.map_err(|e| self.db_err(e))?;
                    let done = match self.create_case_in(&mut sp, new).await {
                        Ok(written) => {
                            let mut audit = audit.clone();
                            if audit.target.is_empty() {
                                audit.target = written.case.number.to_string();
                            }
                            self.audit_in(&mut sp, &audit).await.map(|()| written)
                        }
                        Err(e) => Err(e),
                    };
                    match done {
                        Ok(written) => {
                            sp.commit().await.map_err(|e| self.db_err(e))?;
                            out.push(Ok(written));
                        }
                        Err(e) => {
                            sp.rollback().await.map_err(|e| self.db_err(e))?;
                            out.push(Err(e));
                        }
                    }
                }
                self.commit(tx).await?;
                Ok(out)
            }

            async fn import_cases(
                &self,
                cases: &[$crate::case::NewCaseWrite],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<Vec<$crate::case::CaseRecord>> {
                use sqlx::Connection as _;
                const CHUNK: usize = 500;
                let mut tx = self.begin_write().await?;
                let mut out = Vec::with_capacity(cases.len());
                for (chunk_no, chunk) in cases.chunks(CHUNK).enumerate() {
                    let writes: Vec<($crate::case::NewCaseWrite, chengyun_domain::audit::AuditEvent)> = chunk
                        .iter()
                        .map(|w| {
                            let mut a = audit.clone();
                            a.target = String::new();
                            (w.clone(), a)
                        })
                        .collect();
                    let mut sp = (&mut *tx).begin().await.map_err(|e| self.db_err(e))?;
                    match self.create_cases_bulk(&mut sp, &writes).await {
                        Ok(written) => {
                            sp.commit().await.map_err(|e| self.db_err(e))?;
                            out.extend(written.into_iter().map(|w| w.case));
                            continue;
                        }
                        Err(_) => sp.rollback().await.map_err(|e| self.db_err(e))?,
                    }
                    // Find the case that broke the chunk, to name it; the
                    // transaction is then dropped (nothing stored).
                    for (k, new) in chunk.iter().enumerate() {
                        let i = chunk_no * CHUNK + k;
                        let written = self.create_case_in(&mut tx, new).await.map_err(|e| match e {
                            $crate::StoreError::Invalid(v) => $crate::StoreError::Invalid(chengyun_domain::ValidationError {
                                problems: v.problems.into_iter().map(|p| p.at(format!("[{i}]"))).collect(),
                            }),
                            $crate::StoreError::Conflict(m) => $crate::StoreError::Conflict(format!("[{i}]: {m}")),
                            other => other,
                        })?;
                        out.push(written.case);
                    }
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(out)
            }

            async fn save_cases(
                &self,
                saves: &[$crate::case::CaseSave],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<Vec<$crate::case::CaseRecord>> {
                let mut tx = self.begin_write().await?;
                let sets: Vec<String> = $crate::case_rows::CASE_WRITE_COLUMNS
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} = ${}", i + 1))
                    .collect();
                let n = $crate::case_rows::CASE_WRITE_COLUMNS.len();
                let sql: std::sync::Arc<str> = format!(
                    "UPDATE cases SET {}, version = version + 1 WHERE id = ${} AND version = ${} \
                     RETURNING number, created_at",
                    sets.join(", "),
                    n + 1,
                    n + 2
                )
                .into();
                let now = $crate::sql::now();
                let mut out = Vec::with_capacity(saves.len());
                for s in saves {
                    let mut args = $crate::case_rows::case_args(&s.data, now)?;
                    args.push(s.id.into());
                    args.push(s.expected_version.into());
                    let done: Option<(String, chrono::DateTime<chrono::Utc>)> = $crate::sql::bind_args!(
                        sqlx::query_as::<$db, (String, chrono::DateTime<chrono::Utc>)>(sqlx::AssertSqlSafe(sql.clone())),
                        args
                    )
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                    let Some((number, created_at)) = done else {
                        return Err(match self.case_in(&mut tx, s.id).await? {
                            None => $crate::StoreError::NotFound(format!("case {}", s.id)),
                            Some(c) => $crate::StoreError::Conflict(format!(
                                "case {} was changed by someone else (version {} is stored, {} was read); reload it and try again",
                                c.number, c.version, s.expected_version
                            )),
                        });
                    };
                    self.apply_case_changes(&mut tx, s.id, &number, &s.changes).await?;
                    let number = chengyun_domain::case::CaseNumber::parse(&number).map_err(|e| {
                        $crate::StoreError::Database(format!("stored case {} is corrupt: column number: {e}", s.id))
                    })?;
                    out.push($crate::case::CaseRecord {
                        id: s.id,
                        number,
                        version: s.expected_version + 1,
                        created_at,
                        updated_at: now,
                        data: $crate::case_rows::as_stored(&s.data),
                    });
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(out)
            }

            async fn case(&self, id: i64) -> $crate::Result<Option<$crate::case::CaseRecord>> {
                let sql = format!("SELECT {} FROM cases t WHERE t.id = $1", $crate::case_rows::CASE_COLUMNS);
                let rows: Vec<$crate::case_rows::CaseRow> = self.fetch_rows(sql, vec![id.into()]).await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn case_by_number(&self, number: &str) -> $crate::Result<Option<$crate::case::CaseRecord>> {
                let sql = format!("SELECT {} FROM cases t WHERE t.number = $1", $crate::case_rows::CASE_COLUMNS);
                let rows: Vec<$crate::case_rows::CaseRow> = self.fetch_rows(sql, vec![number.trim().into()]).await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn case_by_external_id(
                &self,
                source: chengyun_domain::case::workflow::Source,
                external_id: &str,
            ) -> $crate::Result<Option<$crate::case::CaseRecord>> {
                let sql = format!(
                    "SELECT {} FROM cases t WHERE t.source = $1 AND t.external_id = $2",
                    $crate::case_rows::CASE_COLUMNS
                );
                let rows: Vec<$crate::case_rows::CaseRow> =
                    self.fetch_rows(sql, vec![source.as_str().into(), external_id.into()]).await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn existing_external_ids(
                &self,
                source: chengyun_domain::case::workflow::Source,
                external_ids: &[String],
            ) -> $crate::Result<Vec<String>> {
                let mut out = Vec::new();
                for chunk in external_ids.chunks(500) {
                    let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                    let sql = format!(
                        "SELECT external_id FROM cases WHERE source = $1 AND external_id IN ({})",
                        list.join(", ")
                    );
                    let mut q = sqlx::query_scalar::<$db, String>(sqlx::AssertSqlSafe(sql)).bind(source.as_str());
                    for id in chunk {
                        q = q.bind(id.as_str());
                    }
                    out.extend(q.fetch_all(&self.pool).await.map_err(|e| self.db_err(e))?);
                }
                Ok(out)
            }

            async fn list_cases(
                &self,
                q: &$crate::case::CaseQuery,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<$crate::case::CaseRecord>> {
                let mut f = $crate::case_rows::case_filter(q);
                if let Some(after) = &page.after {
                    f.cmp("t.id", "<", $crate::sql::id_cursor(after)?);
                }
                let select = format!("SELECT {} FROM cases t", $crate::case_rows::CASE_COLUMNS);
                self.fetch_page::<$crate::case_rows::CaseRow, $crate::case::CaseRecord>(
                    &select, f, "t.id DESC", page, |c| c.id.to_string(),
                )
                .await
            }

            async fn count_cases(&self, q: &$crate::case::CaseQuery) -> $crate::Result<u64> {
                let f = $crate::case_rows::case_filter(q);
                let sql = format!("SELECT COUNT(*) FROM cases t{}", f.where_sql());
                let n: i64 = $crate::sql::bind_args!(sqlx::query_scalar::<$db, i64>(sqlx::AssertSqlSafe(sql)), f.args)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| self.db_err(e))?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn matters_reported_since(&self, from: chrono::DateTime<chrono::Utc>) -> $crate::Result<Vec<String>> {
                let rows: Vec<(String,)> = self
                    .fetch_rows(
                        "SELECT DISTINCT t.matter_code FROM cases t \
                         WHERE t.reported_at >= $1 AND t.matter_code IS NOT NULL ORDER BY t.matter_code"
                            .into(),
                        vec![$crate::sql::stored_time(from).into()],
                    )
                    .await?;
                Ok(rows.into_iter().map(|(m,)| m).collect())
            }

            async fn open_cases_near(
                &self,
                matter_code: &str,
                bbox: [f64; 4],
                since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<$crate::case::NearbyCase>> {
                let rows: Vec<(i64, f64, f64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as::<$db, (i64, f64, f64, chrono::DateTime<chrono::Utc>)>(
                    "SELECT t.id, t.lon, t.lat, t.reported_at FROM cases t WHERE t.matter_code = $1 AND t.is_open = $2 \
                     AND t.lon >= $3 AND t.lon <= $4 AND t.lat >= $5 AND t.lat <= $6 AND t.reported_at >= $7 \
                     ORDER BY t.reported_at, t.id",
                )
                .bind(matter_code)
                .bind(true)
                .bind(bbox[0])
                .bind(bbox[2])
                .bind(bbox[1])
                .bind(bbox[3])
                .bind($crate::sql::stored_time(since))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.db_err(e))?;
                Ok(rows
                    .into_iter()
                    .map(|(id, lon, lat, reported_at)| $crate::case::NearbyCase { id, lon, lat, reported_at })
                    .collect())
            }

            async fn case_reporters(&self, case_id: i64) -> $crate::Result<Vec<$crate::case::Reporter>> {
                let sql = "SELECT t.name, t.phone, t.user_id, t.channel, t.reported_at FROM case_reporters t \
                           WHERE t.case_id = $1 ORDER BY t.reported_at, t.id"
                    .to_string();
                let rows: Vec<$crate::case_rows::ReporterRow> = self.fetch_rows(sql, vec![case_id.into()]).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn flow_records(&self, case_id: i64) -> $crate::Result<Vec<$crate::case::FlowRecord>> {
                let sql = format!(
                    "SELECT {} FROM flow_records t WHERE t.case_id = $1 ORDER BY t.id",
                    $crate::case_rows::FLOW_COLUMNS
                );
                let rows: Vec<$crate::case_rows::FlowRow> = self.fetch_rows(sql, vec![case_id.into()]).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn case_clocks(&self, case_id: i64) -> $crate::Result<Vec<$crate::case::CaseClock>> {
                let sql = format!(
                    "SELECT {} FROM case_clocks t WHERE t.case_id = $1 ORDER BY t.started_at, t.clock",
                    $crate::case_rows::CLOCK_COLUMNS
                );
                let rows: Vec<$crate::case_rows::ClockRow> = self.fetch_rows(sql, vec![case_id.into()]).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn running_clocks(&self, case_ids: &[i64]) -> $crate::Result<Vec<$crate::case::CaseClock>> {
                let mut out = Vec::new();
                for chunk in case_ids.chunks(500) {
                    let sql = format!(
                        "SELECT {} FROM case_clocks t WHERE t.stopped_at IS NULL AND t.case_id IN {} ORDER BY t.case_id, t.clock",
                        $crate::case_rows::CLOCK_COLUMNS,
                        $crate::sql::in_list(chunk.len())
                    );
                    let rows: Vec<$crate::case_rows::ClockRow> =
                        self.fetch_rows(sql, chunk.iter().map(|id| (*id).into()).collect()).await?;
                    for r in rows {
                        out.push($crate::case::CaseClock::try_from(r)?);
                    }
                }
                Ok(out)
            }

            async fn due_clocks(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::case::CaseClock>> {
                let sql = format!(
                    "SELECT {} FROM case_clocks t WHERE t.stopped_at IS NULL AND t.paused_at IS NULL \
                     AND ((t.warned_at IS NULL AND t.warn_at <= $1) OR (t.overdue_at IS NULL AND t.deadline_at <= $1)) \
                     ORDER BY t.deadline_at, t.case_id LIMIT $2",
                    $crate::case_rows::CLOCK_COLUMNS
                );
                let rows: Vec<$crate::case_rows::ClockRow> = self
                    .fetch_rows(sql, vec![$crate::sql::stored_time(now).into(), i64::from(limit.max(1)).into()])
                    .await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn mark_clock_warned(
                &self,
                case_id: i64,
                clock: chengyun_domain::case::calendar::Clock,
                at: chrono::DateTime<chrono::Utc>,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>(
                    "UPDATE case_clocks SET warned_at = $1 WHERE case_id = $2 AND clock = $3 AND warned_at IS NULL",
                )
                .bind($crate::sql::stored_time(at))
                .bind(case_id)
                .bind(clock.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn stat_totals(
                &self,
                q: &$crate::case::StatQuery,
                group: $crate::case::StatGroup,
            ) -> $crate::Result<Vec<$crate::case::StatTotal>> {
                let plan = $crate::case_rows::RollupPlan::new(q.from, q.to);
                let mut parts = Vec::new();
                if let Some(days) = plan.days {
                    parts.push(self.stat_sums(false, q, Some(days), group).await?);
                }
                for (from, to) in plan.raw {
                    let edge = $crate::case::StatQuery { from, to, ..q.clone() };
                    parts.push(self.stat_sums(true, &edge, None, group).await?);
                }
                Ok($crate::case_rows::merge_totals(parts, group))
            }

            async fn stat_totals_raw(
                &self,
                q: &$crate::case::StatQuery,
                group: $crate::case::StatGroup,
            ) -> $crate::Result<Vec<$crate::case::StatTotal>> {
                let got = self.stat_sums(true, q, None, group).await?;
                Ok($crate::case_rows::merge_totals(vec![got], group))
            }

            async fn insert_stat_rows(
                &self,
                rows: &[$crate::case::StatRowWrite],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<u64> {
                let mut tx = self.begin_write().await?;
                let refs: Vec<(i64, &str, &$crate::case::NewStatRow)> =
                    rows.iter().map(|r| (r.case_id, r.case_number.as_str(), &r.row)).collect();
                let n = self.insert_stats(&mut tx, &refs).await?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(n)
            }

            async fn put_dispatch_rule(
                &self,
                rule: &$crate::case::DispatchRule,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::case::DispatchRule> {
                let mut problems = chengyun_domain::ValidationError::default();
                let pattern = rule.matter_pattern.trim();
                if pattern != "*" && let Err(e) = chengyun_domain::case::calendar::MatterPattern::parse(pattern) {
                    problems.push(chengyun_domain::Invalid::new("matter_pattern", e.message));
                }
                let area = rule.area_code.trim();
                if area != "*" && (area.is_empty() || area.len() > 12 || !area.bytes().all(|b| b.is_ascii_digit())) {
                    problems.push(chengyun_domain::Invalid::new(
                        "area_code",
                        format!("area {area:?} must be * or a division code prefix of up to 12 digits"),
                    ));
                }
                problems.into_result()?;
                let mut tx = self.begin_write().await?;
                self.check_department_exists(&mut tx, Some(rule.department_code.as_str())).await?;
                let id = if rule.id == 0 {
                    sqlx::query_scalar::<$db, i64>(
                        "INSERT INTO dispatch_rules (matter_pattern, area_code, department_code, priority, auto_dispatch, enabled, note) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(pattern)
                    .bind(area)
                    .bind(rule.department_code.as_str())
                    .bind(rule.priority)
                    .bind(rule.auto_dispatch)
                    .bind(rule.enabled)
                    .bind(rule.note.as_deref())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?
                } else {
                    let done = sqlx::query::<$db>(
                        "UPDATE dispatch_rules SET matter_pattern = $1, area_code = $2, department_code = $3, priority = $4, \
                         auto_dispatch = $5, enabled = $6, note = $7 WHERE id = $8",
                    )
                    .bind(pattern)
                    .bind(area)
                    .bind(rule.department_code.as_str())
                    .bind(rule.priority)
                    .bind(rule.auto_dispatch)
                    .bind(rule.enabled)
                    .bind(rule.note.as_deref())
                    .bind(rule.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::NotFound(format!("dispatch rule {}", rule.id)));
                    }
                    rule.id
                };
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok($crate::case::DispatchRule {
                    id,
                    matter_pattern: pattern.to_string(),
                    area_code: area.to_string(),
                    ..rule.clone()
                })
            }

            async fn delete_dispatch_rule(&self, id: i64, audit: &chengyun_domain::audit::AuditEvent) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>("DELETE FROM dispatch_rules WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("dispatch rule {id}")));
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn dispatch_rules(&self) -> $crate::Result<Vec<$crate::case::DispatchRule>> {
                let sql = format!("SELECT {} FROM dispatch_rules t ORDER BY t.id", $crate::case_rows::RULE_COLUMNS);
                let rows: Vec<$crate::case_rows::RuleRow> = self.fetch_rows(sql, vec![]).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn setting(&self, key: &str) -> $crate::Result<Option<serde_json::Value>> {
                let v: Option<sqlx::types::Json<serde_json::Value>> =
                    sqlx::query_scalar::<$db, sqlx::types::Json<serde_json::Value>>("SELECT value FROM settings WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| self.db_err(e))?;
                Ok(v.map(|j| j.0))
            }

            async fn put_setting(
                &self,
                key: &str,
                value: &serde_json::Value,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                if key.trim().is_empty() || key.len() > 128 {
                    return Err(chengyun_domain::Invalid::new("key", "a setting key must be 1-128 characters").into());
                }
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>(
                    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(sqlx::types::Json(value))
                .bind($crate::sql::now())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db_err(e))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn idempotency(&self, user_id: i64, key: &str) -> $crate::Result<Option<$crate::case::IdempotencyRecord>> {
                let row: Option<(i64, String, String, sqlx::types::Json<serde_json::Value>, chrono::DateTime<chrono::Utc>)> =
                    sqlx::query_as::<$db, _>(
                        "SELECT user_id, key, request_hash, response, created_at FROM idempotency WHERE user_id = $1 AND key = $2",
                    )
                    .bind(user_id)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| self.db_err(e))?;
                Ok(row.map(|(user_id, key, request_hash, response, created_at)| $crate::case::IdempotencyRecord {
                    user_id,
                    key,
                    request_hash,
                    response: response.0,
                    created_at,
                }))
            }

            async fn put_idempotency(
                &self,
                key: &$crate::case::IdempotencyKey,
                response: &serde_json::Value,
            ) -> $crate::Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO idempotency (user_id, key, request_hash, response, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(key.user_id)
                .bind(key.key.as_str())
                .bind(key.request_hash.as_str())
                .bind(sqlx::types::Json(response))
                .bind($crate::sql::now())
                .execute(self.writer())
                .await
                .map_err(|e| {
                    if $crate::sql::is_unique_violation(&e) {
                        $crate::StoreError::Conflict(format!("idempotency key {:?} was already used", key.key))
                    } else {
                        self.db_err(e)
                    }
                })?;
                Ok(())
            }

            async fn create_attachment(
                &self,
                meta: &$crate::case::AttachmentMeta,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>(
                    "INSERT INTO attachments (id, case_id, file_name, content_type, size, sha256, storage_key, uploaded_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(meta.id.as_str())
                .bind(meta.case_id)
                .bind(meta.file_name.as_str())
                .bind(meta.content_type.as_str())
                .bind(meta.size)
                .bind(meta.sha256.as_str())
                .bind(meta.storage_key.as_str())
                .bind(meta.uploaded_by)
                .bind($crate::sql::stored_time(meta.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if $crate::sql::is_unique_violation(&e) {
                        $crate::StoreError::Conflict(format!("attachment {} already exists", meta.id))
                    } else {
                        self.db_err(e)
                    }
                })?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn attachment(&self, id: &str) -> $crate::Result<Option<$crate::case::AttachmentMeta>> {
                let sql = format!("SELECT {} FROM attachments t WHERE t.id = $1", $crate::case_rows::ATTACHMENT_COLUMNS);
                let rows: Vec<$crate::case_rows::AttachmentRow> = self.fetch_rows(sql, vec![id.into()]).await?;
                Ok(rows.into_iter().next().map(Into::into))
            }

            async fn case_attachments(&self, case_id: i64) -> $crate::Result<Vec<$crate::case::AttachmentMeta>> {
                let sql = format!(
                    "SELECT {} FROM attachments t WHERE t.case_id = $1 ORDER BY t.created_at, t.id",
                    $crate::case_rows::ATTACHMENT_COLUMNS
                );
                let rows: Vec<$crate::case_rows::AttachmentRow> = self.fetch_rows(sql, vec![case_id.into()]).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn put_webhook(
                &self,
                hook: &$crate::case::Webhook,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<$crate::case::Webhook> {
                let url = hook.url.trim();
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
                    return Err(chengyun_domain::Invalid::new(
                        "url",
                        format!("webhook url {url:?} must be an http:// or https:// URL of at most 2048 characters"),
                    )
                    .into());
                }
                if hook.secret.len() < 16 {
                    return Err(chengyun_domain::Invalid::new("secret", "a webhook secret needs at least 16 characters").into());
                }
                let mut tx = self.begin_write().await?;
                let id = if hook.id == 0 {
                    sqlx::query_scalar::<$db, i64>(
                        "INSERT INTO webhooks (url, secret, event_filter, enabled, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(url)
                    .bind(hook.secret.as_str())
                    .bind(hook.event_filter.as_str())
                    .bind(hook.enabled)
                    .bind(hook.created_by)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?
                } else {
                    let done = sqlx::query::<$db>(
                        "UPDATE webhooks SET url = $1, secret = $2, event_filter = $3, enabled = $4 WHERE id = $5",
                    )
                    .bind(url)
                    .bind(hook.secret.as_str())
                    .bind(hook.event_filter.as_str())
                    .bind(hook.enabled)
                    .bind(hook.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::NotFound(format!("webhook {}", hook.id)));
                    }
                    hook.id
                };
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok($crate::case::Webhook { id, url: url.to_string(), ..hook.clone() })
            }

            async fn delete_webhook(&self, id: i64, audit: &chengyun_domain::audit::AuditEvent) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                let done = sqlx::query::<$db>("DELETE FROM webhooks WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("webhook {id}")));
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn webhooks(&self) -> $crate::Result<Vec<$crate::case::Webhook>> {
                let sql = format!("SELECT {} FROM webhooks t ORDER BY t.id", $crate::case_rows::WEBHOOK_COLUMNS);
                let rows: Vec<$crate::case_rows::WebhookRow> = self.fetch_rows(sql, vec![]).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn enqueue_deliveries(
                &self,
                event_type: &str,
                event: &serde_json::Value,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<u64> {
                let hooks = self.webhooks().await?;
                let targets: Vec<i64> = hooks
                    .iter()
                    .filter(|h| h.enabled && (h.event_filter == "*" || event_type.starts_with(h.event_filter.as_str())))
                    .map(|h| h.id)
                    .collect();
                if targets.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.begin_write().await?;
                let now = $crate::sql::stored_time(now);
                for id in &targets {
                    sqlx::query::<$db>(
                        "INSERT INTO webhook_deliveries (webhook_id, event, attempts, next_attempt_at, created_at) \
                         VALUES ($1, $2, 0, $3, $3)",
                    )
                    .bind(*id)
                    .bind(sqlx::types::Json(event))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                }
                self.commit(tx).await?;
                Ok(targets.len() as u64)
            }

            async fn due_deliveries(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::case::WebhookDelivery>> {
                let sql = format!(
                    "SELECT {} FROM webhook_deliveries t WHERE t.delivered_at IS NULL AND t.next_attempt_at IS NOT NULL \
                     AND t.next_attempt_at <= $1 ORDER BY t.next_attempt_at, t.id LIMIT $2",
                    $crate::case_rows::DELIVERY_COLUMNS
                );
                let rows: Vec<$crate::case_rows::DeliveryRow> = self
                    .fetch_rows(sql, vec![$crate::sql::stored_time(now).into(), i64::from(limit.max(1)).into()])
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn claim_due_deliveries(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::case::WebhookDelivery>> {
                // The due condition is repeated outside the sub-select: a
                // concurrent claimer that locked the same rows first has moved
                // them past `now`, and PostgreSQL re-checks the outer condition
                // on the updated row, so each row goes to one claimer.
                // No table alias: SQLite's RETURNING does not accept one.
                // Most rounds find nothing due: ask a reader first, so an idle
                // round does not take the write lock (SQLite) at all.
                let due: Vec<(i64,)> = self
                    .fetch_rows(
                        "SELECT d.id FROM webhook_deliveries d WHERE d.delivered_at IS NULL \
                         AND d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= $1 LIMIT 1"
                            .into(),
                        vec![$crate::sql::stored_time(now).into()],
                    )
                    .await?;
                if due.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "UPDATE webhook_deliveries SET next_attempt_at = $1 \
                     WHERE id IN (SELECT d.id FROM webhook_deliveries d WHERE d.delivered_at IS NULL \
                     AND d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= $2 \
                     ORDER BY d.next_attempt_at, d.id LIMIT $3) \
                     AND delivered_at IS NULL AND next_attempt_at IS NOT NULL AND next_attempt_at <= $2 \
                     RETURNING {}",
                    $crate::case_rows::DELIVERY_COLUMNS.replace("t.", "")
                );
                let rows: Vec<$crate::case_rows::DeliveryRow> = self
                    .fetch_written_rows(
                        sql,
                        vec![
                            $crate::sql::stored_time(lease_until).into(),
                            $crate::sql::stored_time(now).into(),
                            i64::from(limit.max(1)).into(),
                        ],
                    )
                    .await?;
                let mut claimed: Vec<$crate::case::WebhookDelivery> =
                    rows.into_iter().map(Into::into).collect();
                claimed.sort_by_key(|d| d.id);
                Ok(claimed)
            }

            async fn record_delivery_attempt(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
                error: Option<&str>,
                next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
            ) -> $crate::Result<()> {
                let at = $crate::sql::stored_time(at);
                let done = match error {
                    None => sqlx::query::<$db>(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = $1, next_attempt_at = NULL, \
                         last_error = NULL WHERE id = $2",
                    )
                    .bind(at)
                    .bind(id)
                    .execute(self.writer())
                    .await,
                    Some(err) => sqlx::query::<$db>(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3",
                    )
                    .bind(err)
                    .bind(next_attempt_at.map($crate::sql::stored_time))
                    .bind(id)
                    .execute(self.writer())
                    .await,
                }
                .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("webhook delivery {id}")));
                }
                Ok(())
            }
        }
    };
}
pub(crate) use impl_case_store;
