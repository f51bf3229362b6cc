//! The body of [`CaseStore`](crate::CaseStore), written once and expanded for
//! each backend by [`impl_case_store!`], on top of the helpers `impl_store!`
//! defines (`begin_write`, `audit_in`, `commit`, `fetch_rows`, `fetch_page`,
//! `upsert_rows`). The only per-backend text is `$day`, the SQL that turns a
//! stored instant into its UTC day `YYYY-MM-DD`.

/// Statistics rows per multi-row insert: 34 columns × 200 rows stays under the
/// 8,000 parameters per statement both backends are kept to.
pub(crate) const STAT_ROWS_PER_STATEMENT: usize = 200;

/// Expands `impl CaseStore for $store` over the sqlx database `$db`.
macro_rules! impl_case_store {
    ($store:ty, $db:ty, $day:expr) => {
        impl $store {
            /// Reporters, flow records, clocks, statistics rows and attachment
            /// links of one case write, inside the caller's transaction.
            async fn apply_case_changes(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                case_id: i64,
                number: &str,
                changes: &$crate::case::CaseChanges,
            ) -> $crate::Result<()> {
                use $crate::sql::stored_time as t;
                for r in &changes.reporters {
                    sqlx::query::<$db>(
                        "INSERT INTO case_reporters (case_id, name, phone, user_id, channel, reported_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(case_id)
                    .bind(r.name.as_deref())
                    .bind(r.phone.as_deref())
                    .bind(r.user_id)
                    .bind(r.channel.as_str())
                    .bind(t(r.reported_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| self.db_err(e))?;
                }
                for f in &changes.flow {
                    sqlx::query::<$db>(
                        "INSERT INTO flow_records (case_id, action, detail, from_state, to_state, actor_user, \
                         actor_department, acted_as, at, opinion, attachments) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(case_id)
                    .bind(f.action.as_str())
                    .bind(sqlx::types::Json(&f.detail))
                    .bind(f.from_state.map(|s| s.as_str()))
                    .bind(f.to_state.as_str())
                    .bind(f.actor_user)
                    .bind(f.actor_department.as_deref())
                    .bind(f.acted_as.as_deref())
                    .bind(t(f.at))
                    .bind(f.opinion.as_deref())
                    .bind(sqlx::types::Json(&f.attachments))
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| self.db_err(e))?;
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
                Ok(())
            }

            async fn insert_stats(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                rows: &[(i64, &str, &$crate::case::NewStatRow)],
            ) -> $crate::Result<u64> {
                let columns = $crate::case_rows::stat_insert_columns();
                let per = $crate::case_shared::STAT_ROWS_PER_STATEMENT;
                let full: Option<std::sync::Arc<str>> = (rows.len() >= per)
                    .then(|| $crate::case_rows::insert_sql("stat_rows", &columns, per).into());
                let mut total = 0;
                for (chunk_no, chunk) in rows.chunks(per).enumerate() {
                    let mut args = Vec::with_capacity(chunk.len() * columns.len());
                    for (i, (case_id, number, row)) in chunk.iter().enumerate() {
                        $crate::case_rows::stat_args(*case_id, number, row, &mut args)
                            .map_err(|e| e.at(format!("stats[{}]", chunk_no * per + i)))?;
                    }
                    let sql: std::sync::Arc<str> = match &full {
                        Some(sql) if chunk.len() == per => sql.clone(),
                        _ => $crate::case_rows::insert_sql("stat_rows", &columns, chunk.len()).into(),
                    };
                    let done = $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), args)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                    total += done.rows_affected();
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

            async fn create_case_in(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                new: &$crate::case::NewCaseWrite,
            ) -> $crate::Result<$crate::case::CaseRecord> {
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
                let sql = format!("{} RETURNING id", $crate::case_rows::insert_sql("cases", &columns, 1));
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
                self.apply_case_changes(&mut *conn, id, number.as_str(), &new.changes).await?;
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
                self.case_in(&mut *conn, id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Database(format!("case {id} vanished while it was created")))
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
                let case = self.create_case_in(&mut tx, new).await?;
                let mut audit = audit.clone();
                if audit.target.is_empty() {
                    audit.target = case.number.to_string();
                }
                self.audit_in(&mut tx, &audit).await?;
                self.commit(tx).await?;
                Ok(case)
            }

            async fn import_cases(
                &self,
                cases: &[$crate::case::NewCaseWrite],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<Vec<$crate::case::CaseRecord>> {
                let mut tx = self.begin_write().await?;
                let mut out = Vec::with_capacity(cases.len());
                for (i, new) in cases.iter().enumerate() {
                    let case = self.create_case_in(&mut tx, new).await.map_err(|e| match e {
                        $crate::StoreError::Invalid(v) => $crate::StoreError::Invalid(chengyun_domain::ValidationError {
                            problems: v.problems.into_iter().map(|p| p.at(format!("[{i}]"))).collect(),
                        }),
                        $crate::StoreError::Conflict(m) => $crate::StoreError::Conflict(format!("[{i}]: {m}")),
                        other => other,
                    })?;
                    out.push(case);
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
                    "UPDATE cases SET {}, version = version + 1 WHERE id = ${} AND version = ${}",
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
                    let done = $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql.clone())), args)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.db_err(e))?;
                    if done.rows_affected() == 0 {
                        return Err(match self.case_in(&mut tx, s.id).await? {
                            None => $crate::StoreError::NotFound(format!("case {}", s.id)),
                            Some(c) => $crate::StoreError::Conflict(format!(
                                "case {} was changed by someone else (version {} is stored, {} was read); reload it and try again",
                                c.number, c.version, s.expected_version
                            )),
                        });
                    }
                    let stored = self
                        .case_in(&mut tx, s.id)
                        .await?
                        .ok_or_else(|| $crate::StoreError::NotFound(format!("case {}", s.id)))?;
                    self.apply_case_changes(&mut tx, s.id, stored.number.as_str(), &s.changes).await?;
                    out.push(stored);
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

            async fn open_cases_near(
                &self,
                matter_code: &str,
                bbox: [f64; 4],
                since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<$crate::case::CaseRecord>> {
                let sql = format!(
                    "SELECT {} FROM cases t WHERE t.matter_code = $1 AND t.is_open = $2 AND t.reported_at >= $3 \
                     AND t.lon >= $4 AND t.lon <= $5 AND t.lat >= $6 AND t.lat <= $7 ORDER BY t.reported_at, t.id",
                    $crate::case_rows::CASE_COLUMNS
                );
                let rows: Vec<$crate::case_rows::CaseRow> = self
                    .fetch_rows(
                        sql,
                        vec![
                            matter_code.into(),
                            true.into(),
                            $crate::sql::stored_time(since).into(),
                            bbox[0].into(),
                            bbox[2].into(),
                            bbox[1].into(),
                            bbox[3].into(),
                        ],
                    )
                    .await?;
                rows.into_iter().map(TryFrom::try_from).collect()
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
                use sqlx::Row;
                let key: String = match group {
                    $crate::case::StatGroup::Total => "CAST(NULL AS TEXT)".into(),
                    $crate::case::StatGroup::Department => "t.department_code".into(),
                    $crate::case::StatGroup::User => "CAST(t.user_id AS TEXT)".into(),
                    $crate::case::StatGroup::AreaPrefix(n) => format!("SUBSTR(t.area_code, 1, {})", n.max(1)),
                    $crate::case::StatGroup::Day => $day.into(),
                };
                let mut f = $crate::sql::Filter::default();
                if let Some(from) = q.from {
                    f.cmp("t.at", ">=", $crate::sql::stored_time(from));
                }
                if let Some(to) = q.to {
                    f.cmp("t.at", "<", $crate::sql::stored_time(to));
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
                let sql = format!(
                    "SELECT {key} AS key, {} FROM stat_rows t{}{group_by}",
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
                out.sort_by(|a, b| a.key.cmp(&b.key));
                Ok(out)
            }

            async fn insert_stat_rows(
                &self,
                rows: &[(i64, $crate::case::NewStatRow)],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<u64> {
                let mut tx = self.begin_write().await?;
                let ids: std::collections::BTreeSet<i64> = rows.iter().map(|(id, _)| *id).collect();
                let mut numbers: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
                for id in ids {
                    let number: Option<String> = sqlx::query_scalar::<$db, String>("SELECT number FROM cases WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| self.db_err(e))?;
                    match number {
                        Some(n) => {
                            numbers.insert(id, n);
                        }
                        None => {
                            return Err(chengyun_domain::Invalid::new("case_id", format!("case {id} does not exist")).into())
                        }
                    }
                }
                let refs: Vec<(i64, &str, &$crate::case::NewStatRow)> = rows
                    .iter()
                    .map(|(id, r)| (*id, numbers.get(id).map(String::as_str).unwrap_or(""), r))
                    .collect();
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
                .execute(&self.pool)
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
                    .execute(&self.pool)
                    .await,
                    Some(err) => sqlx::query::<$db>(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3",
                    )
                    .bind(err)
                    .bind(next_attempt_at.map($crate::sql::stored_time))
                    .bind(id)
                    .execute(&self.pool)
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
