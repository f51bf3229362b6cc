//! The body of [`Store`](crate::Store), written once and expanded for each
//! backend by [`impl_store!`]. Each expansion is concrete (`sqlx::Sqlite` or
//! `sqlx::Postgres`), so no generic database bounds are needed; the few
//! per-backend differences live in inherent methods every store defines:
//!
//! - `begin_write()`: a transaction for writes (`BEGIN IMMEDIATE` on SQLite, so
//!   a writer waits for the lock instead of failing on upgrade);
//! - `db_err(e)`: sqlx error → [`StoreError`](crate::StoreError), naming the database;
//! - `UPSERT_ROWS`: rows per multi-row `INSERT` (measured per backend).

use crate::sql::Filter;
use crate::{AreaQuery, ComponentQuery, DepartmentQuery, GridQuery, StaffQuery};
use chengyun_domain::page::PageRequest;

/// The key cursor of code-keyed lists.
pub(crate) fn after_code(f: &mut Filter, column: &'static str, page: &PageRequest) {
    if let Some(after) = &page.after {
        f.cmp(column, ">", after.as_str());
    }
}

pub(crate) fn area_filter(q: &AreaQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(p) = &q.parent {
        f.eq("t.parent_code", p.as_str());
    }
    if let Some(l) = q.level {
        f.eq("t.level", l.as_str());
    }
    if let Some(w) = &q.within {
        f.prefix("t.code", w);
    }
    f
}

pub(crate) fn grid_filter(q: &GridQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(w) = &q.within {
        f.prefix("t.area_code", w);
    }
    f
}

pub(crate) fn department_filter(q: &DepartmentQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(w) = &q.within {
        f.prefix("t.area_code", w);
    }
    if let Some(t) = q.tier {
        f.eq("t.tier", t.as_str());
    }
    if let Some(k) = q.kind {
        f.eq("t.kind", k.as_str());
    }
    if let Some(p) = &q.parent_code {
        f.eq("t.parent_code", p.as_str());
    }
    f
}

pub(crate) fn staff_filter(q: &StaffQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(d) = &q.department_code {
        f.eq("t.department_code", d.as_str());
    }
    if let Some(w) = &q.within {
        f.prefix("d.area_code", w);
    }
    f
}

pub(crate) fn component_filter(q: &ComponentQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(c) = &q.class_code {
        f.eq("t.class_code", c.as_str());
    }
    if let Some(s) = q.status {
        f.eq("t.status", s.as_str());
    }
    if let Some(g) = &q.grid_code {
        f.eq("t.grid_code", g.as_str());
    }
    if let Some(w) = &q.within {
        f.prefix("t.id", w);
    }
    f
}

/// `[i].field` for the row at input index `i`.
pub(crate) fn row_field(i: usize, field: &str) -> String {
    format!("[{i}].{field}")
}

/// Expands `impl Store for $store` over the sqlx database `$db`.
macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:expr, $migrator:expr) => {
        impl $store {
            /// Rows of a read query on the pool.
            async fn fetch_rows<R>(&self, sql: String, args: Vec<$crate::sql::Arg>) -> $crate::Result<Vec<R>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                $crate::sql::bind_args!(sqlx::query_as::<$db, R>(sqlx::AssertSqlSafe(sql)), args)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| self.db_err(e))
            }

            /// [`Self::fetch_rows`] for a statement that writes (`UPDATE … RETURNING`): on the writer.
            async fn fetch_written_rows<R>(&self, sql: String, args: Vec<$crate::sql::Arg>) -> $crate::Result<Vec<R>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                $crate::sql::bind_args!(sqlx::query_as::<$db, R>(sqlx::AssertSqlSafe(sql)), args)
                    .fetch_all(self.writer())
                    .await
                    .map_err(|e| self.db_err(e))
            }

            /// One page of rows: `limit + 1` rows in `order`, converted.
            async fn fetch_page<R, T>(
                &self,
                select: &str,
                mut f: $crate::sql::Filter,
                order: &'static str,
                page: &chengyun_domain::page::PageRequest,
                key: impl Fn(&T) -> String,
            ) -> $crate::Result<chengyun_domain::page::Page<T>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                T: TryFrom<R, Error = $crate::StoreError>,
            {
                let limit = page.limit();
                let lim = f.arg(i64::from(limit) + 1);
                let sql = format!("{select}{} ORDER BY {order} LIMIT {lim}", f.where_sql());
                let rows: Vec<R> = self.fetch_rows(sql, f.args).await?;
                let items = rows
                    .into_iter()
                    .map(T::try_from)
                    .collect::<$crate::Result<Vec<T>>>()?;
                Ok(chengyun_domain::page::Page::from_rows(items, limit, key))
            }

            /// Which of `keys` the query `select … IN (…)` finds, in chunks.
            async fn existing(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                select: &'static str,
                keys: &std::collections::BTreeSet<String>,
            ) -> $crate::Result<std::collections::HashSet<String>> {
                let mut found = std::collections::HashSet::new();
                let keys: Vec<&String> = keys.iter().collect();
                for chunk in keys.chunks(500) {
                    let sql = format!("{select} {}", $crate::sql::in_list(chunk.len()));
                    let mut q = sqlx::query_scalar::<$db, String>(sqlx::AssertSqlSafe(sql));
                    for k in chunk {
                        q = q.bind(k.as_str());
                    }
                    let rows = q.fetch_all(&mut *conn).await.map_err(|e| self.db_err(e))?;
                    found.extend(rows);
                }
                Ok(found)
            }

            /// Whether one row exists (for single-reference checks).
            async fn exists(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                select: &'static str,
                key: $crate::sql::Arg,
            ) -> $crate::Result<bool> {
                let row: Option<i32> = $crate::sql::bind_args!(sqlx::query_scalar::<$db, i32>(select), [key])
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| self.db_err(e))?;
                Ok(row.is_some())
            }

            /// Multi-row upserts in chunks inside the caller's transaction.
            async fn upsert_rows<T>(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                spec: &$crate::sql::Upsert,
                rows: &[(usize, &T)],
                args_of: fn(&T, &mut Vec<$crate::sql::Arg>) -> Result<(), chengyun_domain::Invalid>,
            ) -> $crate::Result<u64> {
                let per = spec.rows_per_statement(Self::UPSERT_ROWS);
                let full: Option<std::sync::Arc<str>> =
                    (rows.len() >= per).then(|| spec.sql(per).into());
                let mut total = 0;
                for chunk in rows.chunks(per) {
                    let mut args = Vec::with_capacity(chunk.len() * spec.columns.len());
                    for (i, row) in chunk {
                        args_of(row, &mut args).map_err(|e| e.at(format!("[{i}]")))?;
                    }
                    let sql: std::sync::Arc<str> = match &full {
                        Some(sql) if chunk.len() == per => sql.clone(),
                        _ => spec.sql(chunk.len()).into(),
                    };
                    let done = $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), args)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.db_err(e))?;
                    total += done.rows_affected();
                }
                Ok(total)
            }

            /// Stores the audit record of a write in the write's transaction.
            async fn audit_in(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO audit_log (at, user_id, actor, ip, request_id, action, target_kind, target, details) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind($crate::sql::now())
                .bind(audit.actor.user_id)
                .bind(audit.actor.name.as_str())
                .bind(audit.actor.ip.as_deref())
                .bind(audit.actor.request_id.as_deref())
                .bind(audit.action.as_str())
                .bind(audit.target_kind.as_str())
                .bind(audit.target.as_str())
                .bind(sqlx::types::Json(&audit.details))
                .execute(&mut *conn)
                .await
                .map_err(|e| self.db_err(e))?;
                Ok(())
            }

            async fn commit(&self, tx: sqlx::Transaction<'static, $db>) -> $crate::Result<()> {
                tx.commit().await.map_err(|e| self.db_err(e))
            }

            /// Checks that each named area exists; problems name the row.
            async fn check_areas_exist<'a>(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                refs: impl Iterator<Item = (usize, &'a str, &'a str)> + Clone,
                known: &std::collections::HashSet<&str>,
                problems: &mut chengyun_domain::ValidationError,
            ) -> $crate::Result<()> {
                let wanted: std::collections::BTreeSet<String> = refs
                    .clone()
                    .filter(|(_, _, code)| !known.contains(code))
                    .map(|(_, _, code)| code.to_string())
                    .collect();
                let found = self
                    .existing(conn, "SELECT code FROM areas WHERE code IN", &wanted)
                    .await?;
                for (i, field, code) in refs {
                    if !known.contains(code) && !found.contains(code) {
                        problems.push(chengyun_domain::Invalid::new(
                            $crate::shared::row_field(i, field),
                            format!("area {code} does not exist"),
                        ));
                    }
                }
                Ok(())
            }

            async fn check_user_exists(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                user_id: i64,
            ) -> $crate::Result<()> {
                if self.exists(conn, "SELECT 1 FROM users WHERE id = $1", user_id.into()).await? {
                    Ok(())
                } else {
                    Err(chengyun_domain::Invalid::new("user_id", format!("user {user_id} does not exist")).into())
                }
            }

            async fn check_department_exists(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                code: Option<&str>,
            ) -> $crate::Result<()> {
                let Some(code) = code else { return Ok(()) };
                if self.exists(conn, "SELECT 1 FROM departments WHERE code = $1", code.into()).await? {
                    Ok(())
                } else {
                    Err(chengyun_domain::Invalid::new(
                        "department_code",
                        format!("department {code} does not exist"),
                    )
                    .into())
                }
            }

            async fn user_row(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
            ) -> $crate::Result<Option<chengyun_domain::auth::User>> {
                let sql = format!("SELECT {} FROM users t WHERE t.id = $1", $crate::rows::USER_COLUMNS);
                let row: Option<$crate::rows::UserRow> = sqlx::query_as::<$db, $crate::rows::UserRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| self.db_err(e))?;
                row.map(chengyun_domain::auth::User::try_from).transpose()
            }

            fn username_conflict(&self, e: sqlx::Error, username: &str) -> $crate::StoreError {
                if $crate::sql::is_unique_violation(&e) {
                    $crate::StoreError::Conflict(format!("username {username:?} is taken"))
                } else {
                    self.db_err(e)
                }
            }
        }

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            async fn migrate(&self) -> $crate::Result<()> {
                $migrator.run(&self.pool).await.map_err(|e| match e {
                    sqlx::migrate::MigrateError::Execute(e) => self.db_err(e),
                    other => $crate::StoreError::Database(format!("{}: migration failed: {other}", self.target)),
                })
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query::<$db>("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(|e| self.db_err(e))?;
                Ok(())
            }

            // ── areas ──────────────────────────────────────────────────────
            async fn upsert_areas(
                &self,
                areas: &[chengyun_domain::city::Area],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<u64> {
                let rows = $crate::sql::last_wins(areas, |a| a.code.clone());
                let mut tx = self.begin_write().await?;
                let in_batch: std::collections::HashSet<&str> =
                    rows.iter().map(|(_, a)| a.code.as_str()).collect();
                let mut problems = chengyun_domain::ValidationError::default();
                for (i, a) in &rows {
                    if a.parent_code.as_ref() == Some(&a.code) {
                        problems.push(chengyun_domain::Invalid::new(
                            $crate::shared::row_field(*i, "parent_code"),
                            format!("area {} cannot be its own parent", a.code),
                        ));
                    }
                }
                let refs = rows.iter().filter_map(|(i, a)| {
                    a.parent_code.as_ref().filter(|p| *p != &a.code).map(|p| (*i, "parent_code", p.as_str()))
                });
                self.check_areas_exist(&mut tx, refs, &in_batch, &mut problems).await?;
                problems.into_result()?;
                let n = self.upsert_rows(&mut tx, &$crate::rows::AREA_UPSERT, &rows, $crate::rows::area_args).await?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(n)
            }

            async fn area(&self, code: &chengyun_domain::codes::DivisionCode) -> $crate::Result<Option<chengyun_domain::city::Area>> {
                let sql = format!("SELECT {} FROM areas t WHERE t.code = $1", $crate::rows::AREA_COLUMNS);
                let rows: Vec<$crate::rows::AreaRow> = self.fetch_rows(sql, vec![code.as_str().into()]).await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn list_areas(
                &self,
                q: &$crate::AreaQuery,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<chengyun_domain::city::Area>> {
                let mut f = $crate::shared::area_filter(q);
                $crate::shared::after_code(&mut f, "t.code", page);
                let select = format!("SELECT {} FROM areas t", $crate::rows::AREA_COLUMNS);
                self.fetch_page::<$crate::rows::AreaRow, _>(&select, f, "t.code", page, |a: &chengyun_domain::city::Area| a.code.to_string()).await
            }

            async fn all_areas(&self) -> $crate::Result<Vec<chengyun_domain::city::Area>> {
                let sql = format!("SELECT {} FROM areas t ORDER BY t.code", $crate::rows::AREA_COLUMNS);
                let rows: Vec<$crate::rows::AreaRow> = self.fetch_rows(sql, vec![]).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            // ── grids ──────────────────────────────────────────────────────
            async fn upsert_grids(
                &self,
                grids: &[chengyun_domain::city::UnitGrid],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<u64> {
                let rows = $crate::sql::last_wins(grids, |g| g.code.clone());
                let mut tx = self.begin_write().await?;
                let mut problems = chengyun_domain::ValidationError::default();
                let refs = rows.iter().map(|(i, g)| (*i, "area_code", g.area_code.as_str()));
                self.check_areas_exist(&mut tx, refs, &Default::default(), &mut problems).await?;
                problems.into_result()?;
                let n = self.upsert_rows(&mut tx, &$crate::rows::GRID_UPSERT, &rows, $crate::rows::grid_args).await?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(n)
            }

            async fn replace_grids(
                &self,
                area: &chengyun_domain::codes::DivisionCode,
                grids: &[chengyun_domain::city::UnitGrid],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<u64> {
                let rows = $crate::sql::last_wins(grids, |g| g.code.clone());
                let mut tx = self.begin_write().await?;
                let mut problems = chengyun_domain::ValidationError::default();
                for (i, g) in &rows {
                    if !area.contains(&g.area_code) {
                        problems.push(chengyun_domain::Invalid::new(
                            $crate::shared::row_field(*i, "area_code"),
                            format!("area {} lies outside {area}, the area whose grids are replaced", g.area_code),
                        ));
                    }
                }
                let refs = rows.iter().map(|(i, g)| (*i, "area_code", g.area_code.as_str()));
                self.check_areas_exist(&mut tx, refs, &Default::default(), &mut problems).await?;
                problems.into_result()?;
                let mut f = $crate::sql::Filter::default();
                f.prefix("area_code", area.prefix());
                let sql = format!("DELETE FROM unit_grids{}", f.where_sql());
                $crate::sql::bind_args!(sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)), f.args)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                let n = self.upsert_rows(&mut tx, &$crate::rows::GRID_UPSERT, &rows, $crate::rows::grid_args).await?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(n)
            }

            async fn grid(&self, code: &chengyun_domain::codes::GridCode) -> $crate::Result<Option<chengyun_domain::city::UnitGrid>> {
                let sql = format!("SELECT {} FROM unit_grids t WHERE t.code = $1", $crate::rows::GRID_COLUMNS);
                let rows: Vec<$crate::rows::GridRow> = self.fetch_rows(sql, vec![code.as_str().into()]).await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn list_grids(
                &self,
                q: &$crate::GridQuery,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<chengyun_domain::city::UnitGrid>> {
                let mut f = $crate::shared::grid_filter(q);
                $crate::shared::after_code(&mut f, "t.code", page);
                let select = format!("SELECT {} FROM unit_grids t", $crate::rows::GRID_COLUMNS);
                self.fetch_page::<$crate::rows::GridRow, _>(&select, f, "t.code", page, |g: &chengyun_domain::city::UnitGrid| g.code.to_string()).await
            }

            async fn all_grids(&self) -> $crate::Result<Vec<chengyun_domain::city::UnitGrid>> {
                let sql = format!("SELECT {} FROM unit_grids t ORDER BY t.code", $crate::rows::GRID_COLUMNS);
                let rows: Vec<$crate::rows::GridRow> = self.fetch_rows(sql, vec![]).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn upsert_responsibility_grids(
                &self,
                grids: &[chengyun_domain::city::ResponsibilityGrid],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<u64> {
                let rows = $crate::sql::last_wins(grids, |g| g.code.clone());
                let mut tx = self.begin_write().await?;
                let n = self
                    .upsert_rows(&mut tx, &$crate::rows::RESPONSIBILITY_UPSERT, &rows, $crate::rows::responsibility_args)
                    .await?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(n)
            }

            async fn list_responsibility_grids(
                &self,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<chengyun_domain::city::ResponsibilityGrid>> {
                let mut f = $crate::sql::Filter::default();
                $crate::shared::after_code(&mut f, "t.code", page);
                let select = format!("SELECT {} FROM responsibility_grids t", $crate::rows::RESPONSIBILITY_COLUMNS);
                self.fetch_page::<$crate::rows::ResponsibilityRow, _>(&select, f, "t.code", page, |g: &chengyun_domain::city::ResponsibilityGrid| g.code.clone()).await
            }

            // ── departments and staff ──────────────────────────────────────
            async fn upsert_departments(
                &self,
                departments: &[chengyun_domain::city::Department],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<u64> {
                let rows = $crate::sql::last_wins(departments, |d| d.code.clone());
                let mut tx = self.begin_write().await?;
                let mut problems = chengyun_domain::ValidationError::default();
                let refs = rows.iter().map(|(i, d)| (*i, "area_code", d.area_code.as_str()));
                self.check_areas_exist(&mut tx, refs, &Default::default(), &mut problems).await?;
                let in_batch: std::collections::HashSet<&str> =
                    rows.iter().map(|(_, d)| d.code.as_str()).collect();
                let wanted: std::collections::BTreeSet<String> = rows
                    .iter()
                    .filter_map(|(_, d)| d.parent_code.as_deref())
                    .filter(|p| !in_batch.contains(p))
                    .map(str::to_string)
                    .collect();
                let found = self
                    .existing(&mut tx, "SELECT code FROM departments WHERE code IN", &wanted)
                    .await?;
                for (i, d) in &rows {
                    if let Some(p) = d.parent_code.as_deref() {
                        if p == d.code {
                            problems.push(chengyun_domain::Invalid::new(
                                $crate::shared::row_field(*i, "parent_code"),
                                format!("department {p} cannot be its own parent"),
                            ));
                        } else if !in_batch.contains(p) && !found.contains(p) {
                            problems.push(chengyun_domain::Invalid::new(
                                $crate::shared::row_field(*i, "parent_code"),
                                format!("department {p} does not exist"),
                            ));
                        }
                    }
                }
                problems.into_result()?;
                let n = self
                    .upsert_rows(&mut tx, &$crate::rows::DEPARTMENT_UPSERT, &rows, $crate::rows::department_args)
                    .await?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(n)
            }

            async fn department(&self, code: &str) -> $crate::Result<Option<chengyun_domain::city::Department>> {
                let sql = format!("SELECT {} FROM departments t WHERE t.code = $1", $crate::rows::DEPARTMENT_COLUMNS);
                let rows: Vec<$crate::rows::DepartmentRow> = self.fetch_rows(sql, vec![code.into()]).await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn list_departments(
                &self,
                q: &$crate::DepartmentQuery,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<chengyun_domain::city::Department>> {
                let mut f = $crate::shared::department_filter(q);
                $crate::shared::after_code(&mut f, "t.code", page);
                let select = format!("SELECT {} FROM departments t", $crate::rows::DEPARTMENT_COLUMNS);
                self.fetch_page::<$crate::rows::DepartmentRow, _>(&select, f, "t.code", page, |d: &chengyun_domain::city::Department| d.code.clone()).await
            }

            async fn upsert_staff(
                &self,
                staff: &[chengyun_domain::city::Staff],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<u64> {
                let rows = $crate::sql::last_wins(staff, |s| s.code.clone());
                let mut tx = self.begin_write().await?;
                let wanted: std::collections::BTreeSet<String> =
                    rows.iter().map(|(_, s)| s.department_code.clone()).collect();
                let found = self
                    .existing(&mut tx, "SELECT code FROM departments WHERE code IN", &wanted)
                    .await?;
                let mut problems = chengyun_domain::ValidationError::default();
                for (i, s) in &rows {
                    if !found.contains(&s.department_code) {
                        problems.push(chengyun_domain::Invalid::new(
                            $crate::shared::row_field(*i, "department_code"),
                            format!("department {} does not exist", s.department_code),
                        ));
                    }
                }
                problems.into_result()?;
                let n = self.upsert_rows(&mut tx, &$crate::rows::STAFF_UPSERT, &rows, $crate::rows::staff_args).await?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(n)
            }

            async fn staff(&self, code: &str) -> $crate::Result<Option<chengyun_domain::city::Staff>> {
                let sql = format!("SELECT {} FROM staff t WHERE t.code = $1", $crate::rows::STAFF_COLUMNS);
                let rows: Vec<$crate::rows::StaffRow> = self.fetch_rows(sql, vec![code.into()]).await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn list_staff(
                &self,
                q: &$crate::StaffQuery,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<chengyun_domain::city::Staff>> {
                let mut f = $crate::shared::staff_filter(q);
                $crate::shared::after_code(&mut f, "t.code", page);
                let select = format!(
                    "SELECT {} FROM staff t JOIN departments d ON d.code = t.department_code",
                    $crate::rows::STAFF_COLUMNS
                );
                self.fetch_page::<$crate::rows::StaffRow, _>(&select, f, "t.code", page, |s: &chengyun_domain::city::Staff| s.code.clone()).await
            }

            // ── components and local classes ───────────────────────────────
            async fn upsert_components(
                &self,
                components: &[chengyun_domain::component::Component],
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<u64> {
                let rows = $crate::sql::last_wins(components, |c| c.id.clone());
                let mut tx = self.begin_write().await?;
                let n = self
                    .upsert_rows(&mut tx, &$crate::rows::COMPONENT_UPSERT, &rows, $crate::rows::component_args)
                    .await?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(n)
            }

            async fn component(
                &self,
                id: &chengyun_domain::component::ComponentId,
            ) -> $crate::Result<Option<chengyun_domain::component::Component>> {
                let sql = format!("SELECT {} FROM components t WHERE t.id = $1", $crate::rows::COMPONENT_COLUMNS);
                let rows: Vec<$crate::rows::ComponentRow> = self.fetch_rows(sql, vec![id.as_str().into()]).await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn list_components(
                &self,
                q: &$crate::ComponentQuery,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<chengyun_domain::component::Component>> {
                let mut f = $crate::shared::component_filter(q);
                $crate::shared::after_code(&mut f, "t.id", page);
                let select = format!("SELECT {} FROM components t", $crate::rows::COMPONENT_COLUMNS);
                self.fetch_page::<$crate::rows::ComponentRow, _>(&select, f, "t.id", page, |c: &chengyun_domain::component::Component| c.id.to_string()).await
            }

            async fn count_components(&self, q: &$crate::ComponentQuery) -> $crate::Result<u64> {
                let f = $crate::shared::component_filter(q);
                let sql = format!("SELECT COUNT(*) FROM components t{}", f.where_sql());
                let n: i64 = $crate::sql::bind_args!(sqlx::query_scalar::<$db, i64>(sqlx::AssertSqlSafe(sql)), f.args)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| self.db_err(e))?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn upsert_local_class(
                &self,
                class: &chengyun_domain::standard::StandardClass,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                chengyun_domain::standard::validate_local(class)?;
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>(
                    "INSERT INTO local_classes (kind, code, major_code, major_name, name) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (kind, code) DO UPDATE SET major_code = excluded.major_code, \
                     major_name = excluded.major_name, name = excluded.name",
                )
                .bind(class.kind.as_str())
                .bind(class.code.as_str())
                .bind(class.major_code.as_str())
                .bind(class.major_name.as_str())
                .bind(class.name.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db_err(e))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn local_classes(&self) -> $crate::Result<Vec<chengyun_domain::standard::StandardClass>> {
                let sql = "SELECT t.kind, t.code, t.major_code, t.major_name, t.name FROM local_classes t ORDER BY t.kind, t.code";
                let rows: Vec<$crate::rows::LocalClassRow> = self.fetch_rows(sql.to_string(), vec![]).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            // ── users ──────────────────────────────────────────────────────
            async fn create_user(
                &self,
                user: &chengyun_domain::auth::NewUser,
                password_hash: &str,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<chengyun_domain::auth::User> {
                user.validate()?;
                let mut tx = self.begin_write().await?;
                self.check_department_exists(&mut tx, user.department_code.as_deref()).await?;
                let id: i64 = sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO users (username, display_name, department_code, roles, password_hash, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(user.username.as_str())
                .bind(user.display_name.as_str())
                .bind(user.department_code.as_deref())
                .bind(sqlx::types::Json($crate::rows::roles_json(&user.roles)))
                .bind(password_hash)
                .bind(false)
                .bind($crate::sql::now())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.username_conflict(e, &user.username))?;
                let created = self
                    .user_row(&mut tx, id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Database(format!("user {id} vanished after insert")))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(created)
            }

            async fn update_user(
                &self,
                id: i64,
                user: &chengyun_domain::auth::NewUser,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<chengyun_domain::auth::User> {
                user.validate()?;
                let mut tx = self.begin_write().await?;
                self.check_department_exists(&mut tx, user.department_code.as_deref()).await?;
                let done = sqlx::query::<$db>(
                    "UPDATE users SET username = $1, display_name = $2, department_code = $3, roles = $4 WHERE id = $5",
                )
                .bind(user.username.as_str())
                .bind(user.display_name.as_str())
                .bind(user.department_code.as_deref())
                .bind(sqlx::types::Json($crate::rows::roles_json(&user.roles)))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.username_conflict(e, &user.username))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("user {id}")));
                }
                let updated = self
                    .user_row(&mut tx, id)
                    .await?
                    .ok_or_else(|| $crate::StoreError::NotFound(format!("user {id}")))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn set_password(
                &self,
                id: i64,
                password_hash: &str,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("user {id}")));
                }
                sqlx::query::<$db>("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn set_user_disabled(
                &self,
                id: i64,
                disabled: bool,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>("UPDATE users SET disabled = $1 WHERE id = $2")
                    .bind(disabled)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("user {id}")));
                }
                if disabled {
                    sqlx::query::<$db>("DELETE FROM sessions WHERE user_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.db_err(e))?;
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn user(&self, id: i64) -> $crate::Result<Option<chengyun_domain::auth::User>> {
                let mut conn = self.pool.acquire().await.map_err(|e| self.db_err(e))?;
                self.user_row(&mut conn, id).await
            }

            async fn user_by_name(&self, username: &str) -> $crate::Result<Option<(chengyun_domain::auth::User, String)>> {
                let sql = format!("SELECT {}, t.password_hash FROM users t WHERE t.username = $1", $crate::rows::USER_COLUMNS);
                let rows: Vec<$crate::rows::UserWithHashRow> = self.fetch_rows(sql, vec![username.into()]).await?;
                match rows.into_iter().next() {
                    Some(r) => Ok(Some((chengyun_domain::auth::User::try_from(r.user)?, r.password_hash))),
                    None => Ok(None),
                }
            }

            async fn list_users(
                &self,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<chengyun_domain::auth::User>> {
                let mut f = $crate::sql::Filter::default();
                if let Some(after) = &page.after {
                    f.cmp("t.id", ">", $crate::sql::id_cursor(after)?);
                }
                let select = format!("SELECT {} FROM users t", $crate::rows::USER_COLUMNS);
                self.fetch_page::<$crate::rows::UserRow, _>(&select, f, "t.id", page, |u: &chengyun_domain::auth::User| u.id.to_string()).await
            }

            async fn count_users(&self) -> $crate::Result<u64> {
                let n: i64 = sqlx::query_scalar::<$db, i64>("SELECT COUNT(*) FROM users")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| self.db_err(e))?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            // ── sessions ───────────────────────────────────────────────────
            async fn create_session(
                &self,
                token_hash: &str,
                user_id: i64,
                expires_at: chrono::DateTime<chrono::Utc>,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                self.check_user_exists(&mut tx, user_id).await?;
                sqlx::query::<$db>(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind($crate::sql::now())
                .bind($crate::sql::stored_time(expires_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if $crate::sql::is_unique_violation(&e) {
                        $crate::StoreError::Conflict("a session with this secret already exists".into())
                    } else {
                        self.db_err(e)
                    }
                })?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            async fn session_user(
                &self,
                token_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<chengyun_domain::auth::User>> {
                let sql = format!(
                    "SELECT {} FROM users t JOIN sessions s ON s.user_id = t.id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT t.disabled",
                    $crate::rows::USER_COLUMNS
                );
                let rows: Vec<$crate::rows::UserRow> = self
                    .fetch_rows(sql, vec![token_hash.into(), $crate::sql::stored_time(now).into()])
                    .await?;
                rows.into_iter().next().map(TryFrom::try_from).transpose()
            }

            async fn delete_session(&self, token_hash: &str, audit: &chengyun_domain::audit::AuditEvent) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            // ── tokens ─────────────────────────────────────────────────────
            async fn create_token(
                &self,
                token: &$crate::NewToken,
                audit: &chengyun_domain::audit::AuditEvent,
            ) -> $crate::Result<chengyun_domain::auth::ApiToken> {
                let mut tx = self.begin_write().await?;
                self.check_user_exists(&mut tx, token.user_id).await?;
                let id: i64 = sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(token.user_id)
                .bind(token.name.as_str())
                .bind(token.prefix.as_str())
                .bind(token.hash.as_str())
                .bind($crate::sql::now())
                .bind(token.expires_at.map($crate::sql::stored_time))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    if $crate::sql::is_unique_violation(&e) {
                        $crate::StoreError::Conflict("a token with this secret already exists".into())
                    } else {
                        self.db_err(e)
                    }
                })?;
                let sql = format!("SELECT {} FROM api_tokens t WHERE t.id = $1", $crate::rows::TOKEN_COLUMNS);
                let row = sqlx::query_as::<$db, $crate::rows::TokenRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await?;
                Ok(row.into())
            }

            async fn token_user(
                &self,
                token_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<(chengyun_domain::auth::ApiToken, chengyun_domain::auth::User)>> {
                let now = $crate::sql::stored_time(now);
                let sql = format!(
                    "SELECT {} FROM api_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
                     AND (t.expires_at IS NULL OR t.expires_at > $2) AND NOT u.disabled",
                    $crate::rows::TOKEN_COLUMNS
                );
                let rows: Vec<$crate::rows::TokenRow> =
                    self.fetch_rows(sql, vec![token_hash.into(), now.into()]).await?;
                let Some(row) = rows.into_iter().next() else { return Ok(None) };
                let mut token = chengyun_domain::auth::ApiToken::from(row);
                let mut conn = self.writer().acquire().await.map_err(|e| self.db_err(e))?;
                sqlx::query::<$db>("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(token.id)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| self.db_err(e))?;
                token.last_used_at = Some(now);
                match self.user_row(&mut conn, token.user_id).await? {
                    Some(user) if !user.disabled => Ok(Some((token, user))),
                    _ => Ok(None),
                }
            }

            async fn list_tokens(&self, user_id: Option<i64>) -> $crate::Result<Vec<chengyun_domain::auth::ApiToken>> {
                let mut f = $crate::sql::Filter::default();
                if let Some(u) = user_id {
                    f.eq("t.user_id", u);
                }
                let sql = format!("SELECT {} FROM api_tokens t{} ORDER BY t.id", $crate::rows::TOKEN_COLUMNS, f.where_sql());
                let rows: Vec<$crate::rows::TokenRow> = self.fetch_rows(sql, f.args).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn token(&self, id: i64) -> $crate::Result<Option<chengyun_domain::auth::ApiToken>> {
                let sql = format!("SELECT {} FROM api_tokens t WHERE t.id = $1", $crate::rows::TOKEN_COLUMNS);
                let rows: Vec<$crate::rows::TokenRow> = self.fetch_rows(sql, vec![id.into()]).await?;
                Ok(rows.into_iter().next().map(Into::into))
            }

            async fn revoke_token(&self, id: i64, audit: &chengyun_domain::audit::AuditEvent) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                // A second revoke keeps the time of the first.
                let done = sqlx::query::<$db>("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                    .bind($crate::sql::now())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db_err(e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound(format!("token {id}")));
                }
                self.audit_in(&mut tx, audit).await?;
                self.commit(tx).await
            }

            // ── audit ──────────────────────────────────────────────────────
            async fn record_audit(&self, audit: &chengyun_domain::audit::AuditEvent) -> $crate::Result<()> {
                let mut conn = self.writer().acquire().await.map_err(|e| self.db_err(e))?;
                self.audit_in(&mut conn, audit).await
            }

            async fn list_audit(
                &self,
                q: &$crate::AuditQuery,
                page: &chengyun_domain::page::PageRequest,
            ) -> $crate::Result<chengyun_domain::page::Page<chengyun_domain::audit::AuditRecord>> {
                let mut f = $crate::sql::Filter::default();
                if let Some(u) = q.user_id {
                    f.eq("t.user_id", u);
                }
                if let Some(a) = &q.action_prefix {
                    f.prefix("t.action", a);
                }
                if let Some(k) = &q.target_kind {
                    f.eq("t.target_kind", k.as_str());
                }
                if let Some(s) = q.since {
                    f.cmp("t.at", ">=", $crate::sql::stored_time(s));
                }
                if let Some(u) = q.until {
                    f.cmp("t.at", "<", $crate::sql::stored_time(u));
                }
                if let Some(after) = &page.after {
                    f.cmp("t.id", "<", $crate::sql::id_cursor(after)?);
                }
                let select = format!("SELECT {} FROM audit_log t", $crate::rows::AUDIT_COLUMNS);
                self.fetch_page::<$crate::rows::AuditRow, chengyun_domain::audit::AuditRecord>(
                    &select, f, "t.id DESC", page, |r| r.id.to_string(),
                )
                .await
            }
        }
    };
}
pub(crate) use impl_store;
