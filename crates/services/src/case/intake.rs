//! Intake: validate, locate, classify, de-duplicate, choose the managing
//! center, number, and (for trusted automatic sources whose rule says so)
//! register and dispatch at once as the system — all stored in one transaction.

use super::stats;
use super::timers::apply_effects;
use super::{CaseActor, CaseError, CaseService, CaseView, MatterSuggestion, NewCase};
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::case::Urgency;
use chengyun_domain::case::workflow::{ActionRequest, CaseAction, CaseSnapshot, Source};
use chengyun_domain::codes::{ClassCode, DivisionCode};
use chengyun_domain::{Invalid, ValidationError};
use chengyun_geo::Crs;
use chengyun_store::{
    CaseChanges, CaseData, CaseRecord, IdempotencyKey, NewCaseWrite, NewFlowRecord, Reporter,
    StoreError,
};
use chrono::Duration;
use sha2::{Digest, Sha256};

/// Metres per degree of latitude (and of longitude at the equator).
const METRES_PER_DEGREE: f64 = 111_320.0;

/// Great-circle distance in metres.
pub(crate) fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lon1, lat1) = (a.0.to_radians(), a.1.to_radians());
    let (lon2, lat2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

fn trimmed(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl CaseService {
    /// Takes a new case in (see the module docs). With an `idempotency_key`,
    /// a retried submission with the same body answers the case the first
    /// one created; the same key with another body is a `Conflict`.
    pub async fn intake(
        &self,
        new: NewCase,
        actor: &CaseActor,
        idempotency_key: Option<&str>,
    ) -> Result<CaseView, CaseError> {
        let key = match idempotency_key.map(str::trim).filter(|k| !k.is_empty()) {
            None => None,
            Some(k) if k.len() > 255 => {
                return Err(CaseError::invalid(
                    "Idempotency-Key",
                    "an idempotency key may have at most 255 characters",
                ));
            }
            Some(k) => {
                let body = serde_json::to_vec(&new)
                    .map_err(|e| CaseError::invalid("body", format!("cannot be hashed: {e}")))?;
                Some(IdempotencyKey {
                    user_id: actor.context.user_id.unwrap_or(0),
                    key: k.to_string(),
                    request_hash: hex::encode(Sha256::digest(&body)),
                })
            }
        };
        if let Some(k) = &key
            && let Some(view) = self.replay(k, actor).await?
        {
            return Ok(view);
        }
        let (write, suggestions) = self.prepare(new, actor, key.clone()).await?;
        let audit = AuditEvent::new(&actor.audit, "case.create", "case", "")
            .with(serde_json::json!({ "source": write.data.source.as_str() }));
        let written = self.write_case(write.clone(), audit).await?;
        let written = match written {
            Ok(w) => w,
            // A concurrent retry with the same key won the race: answer its case.
            Err(StoreError::Conflict(m)) => {
                if let Some(k) = &key
                    && let Some(view) = self.replay(k, actor).await?
                {
                    return Ok(view);
                }
                return Err(CaseError::Conflict(m));
            }
            Err(e) => return Err(e.into()),
        };
        self.published_intake(&written.case);
        self.view_written(written, write, actor, suggestions).await
    }

    /// Takes in many cases from a bulk source (an IoT gateway's backlog, a
    /// hotline system's export) with group commit: the cases are prepared
    /// one by one exactly as [`CaseService::intake`] does (validate, locate,
    /// classify, dedupe, center, automatic dispatch) and written in one
    /// store transaction with a savepoint per case, so each case is still
    /// stored whole with its audit row or not at all, and one bad case does
    /// not undo the others. Answers one result per input, in order.
    ///
    /// De-duplication sees the earlier cases of the same batch: a case near
    /// a pending one of the same matter flushes the batch first, so it is
    /// flagged exactly as if the cases had come in one at a time. There are
    /// no idempotency keys here; bulk sources name each case by
    /// `external_id` (unique per source), and a repeated one is that case's
    /// `Conflict`.
    pub async fn intake_many(
        &self,
        cases: Vec<NewCase>,
        actor: &CaseActor,
    ) -> Result<Vec<Result<CaseView, CaseError>>, CaseError> {
        let mut out: Vec<Option<Result<CaseView, CaseError>>> = Vec::with_capacity(cases.len());
        // (index in out, write, suggestions)
        let mut pending: Vec<(usize, NewCaseWrite, Vec<MatterSuggestion>)> = Vec::new();
        for new in cases {
            let i = out.len();
            out.push(None);
            let mut prepared = self.prepare(new.clone(), actor, None).await;
            if let Ok((write, _)) = &prepared
                && write.data.likely_duplicate_of.is_none()
                && pending
                    .iter()
                    .any(|(_, p, _)| self.near_duplicate(&write.data, &p.data))
            {
                self.flush_batch(&mut pending, &mut out, actor).await?;
                prepared = self.prepare(new, actor, None).await;
            }
            match prepared {
                Ok((write, suggestions)) => pending.push((i, write, suggestions)),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        self.flush_batch(&mut pending, &mut out, actor).await?;
        Ok(out
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(CaseError::Store(StoreError::Database(
                        "case not written".into(),
                    )))
                })
            })
            .collect())
    }

    /// Whether `new` would be flagged a likely duplicate of `open` by the
    /// dedupe rule (same matter, within the radius and the window before).
    fn near_duplicate(
        &self,
        new: &chengyun_store::CaseData,
        open: &chengyun_store::CaseData,
    ) -> bool {
        let d = self.settings().dedupe;
        let (Some(m), Some(lon), Some(lat)) = (&new.matter_code, new.lon, new.lat) else {
            return false;
        };
        let (Some(olon), Some(olat)) = (open.lon, open.lat) else {
            return false;
        };
        open.matter_code.as_ref() == Some(m)
            && !open.snapshot.state.is_final()
            && open.reported_at <= new.reported_at
            && open.reported_at >= new.reported_at - Duration::hours(i64::from(d.window_hours))
            && distance_m((lon, lat), (olon, olat)) <= d.radius_m
    }

    async fn flush_batch(
        &self,
        pending: &mut Vec<(usize, NewCaseWrite, Vec<MatterSuggestion>)>,
        out: &mut [Option<Result<CaseView, CaseError>>],
        actor: &CaseActor,
    ) -> Result<(), CaseError> {
        if pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(pending);
        let writes: Vec<(NewCaseWrite, AuditEvent)> = batch
            .iter()
            .map(|(_, w, _)| {
                (
                    w.clone(),
                    AuditEvent::new(&actor.audit, "case.create", "case", "").with(
                        serde_json::json!({ "source": w.data.source.as_str(), "batch": true }),
                    ),
                )
            })
            .collect();
        let results = self.store().create_cases(&writes).await?;
        for ((i, write, suggestions), result) in batch.into_iter().zip(results) {
            out[i] = Some(match result {
                Ok(written) => {
                    self.published_intake(&written.case);
                    self.view_written(written, write, actor, suggestions).await
                }
                Err(e) => Err(e.into()),
            });
        }
        Ok(())
    }

    fn published_intake(&self, case: &CaseRecord) {
        self.publish_change(case, "created");
        if case.data.snapshot.state != chengyun_domain::case::workflow::CaseState::Reported {
            self.publish_change(case, "dispatch");
        }
    }

    async fn replay(
        &self,
        key: &IdempotencyKey,
        actor: &CaseActor,
    ) -> Result<Option<CaseView>, CaseError> {
        let Some(found) = self.store().idempotency(key.user_id, &key.key).await? else {
            return Ok(None);
        };
        if found.request_hash != key.request_hash {
            return Err(CaseError::Conflict(format!(
                "idempotency key {:?} was used for a different request; use a new key for a new case",
                key.key
            )));
        }
        let id = found
            .response
            .get("case_id")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| {
                CaseError::Conflict(format!(
                    "idempotency key {:?} belongs to another kind of request",
                    key.key
                ))
            })?;
        self.view(id, actor).await.map(Some)
    }

    /// Validates and builds the whole write of a new case.
    pub(crate) async fn prepare(
        &self,
        new: NewCase,
        actor: &CaseActor,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<(NewCaseWrite, Vec<MatterSuggestion>), CaseError> {
        let now = self.now();
        let settings = self.settings();
        let dir = self.directory();
        let city = self.city();
        let mut problems = ValidationError::default();

        // Matter.
        let matter = match trimmed(&new.matter_code) {
            None => None,
            Some(m) => match ClassCode::parse(&m) {
                Err(e) => {
                    problems.push(Invalid::new("matter_code", e.message));
                    None
                }
                Ok(code) => match city.matter(&code) {
                    Some(class) => Some(class),
                    None => {
                        problems.push(Invalid::new(
                            "matter_code",
                            format!(
                                "matter class {m} is not in GB/T 47678.5-2026 nor in this city's local extensions"
                            ),
                        ));
                        None
                    }
                },
            },
        };
        // Location.
        let crs = match new.crs.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => Crs::Wgs84,
            Some(c) => Crs::parse(c).unwrap_or_else(|e| {
                problems.push(e);
                Crs::Wgs84
            }),
        };
        let point = match (new.lon, new.lat) {
            (Some(lon), Some(lat)) => match chengyun_domain::city::wgs84_point(lon, lat) {
                Err(e) => {
                    problems.push(e);
                    None
                }
                Ok(_) => Some(chengyun_geo::crs::to_wgs84(crs, lon, lat)),
            },
            (None, None) => None,
            _ => {
                problems.push(Invalid::new("lon", "give both lon and lat, or neither"));
                None
            }
        };
        let given_area = match trimmed(&new.area_code) {
            None => None,
            Some(a) => match DivisionCode::parse(&a) {
                Err(e) => {
                    problems.push(Invalid::new("area_code", e.message));
                    None
                }
                Ok(code) if city.area_name(&code).is_none() => {
                    problems.push(Invalid::new(
                        "area_code",
                        format!("area {code} is not an area of this city"),
                    ));
                    None
                }
                Ok(code) => Some(code),
            },
        };
        // Without a point or an area, the address names the place (地址 → 社区/街道/区).
        let given_area = match (&given_area, point, trimmed(&new.address)) {
            (None, None, Some(address)) => match city.area_in_address(&address) {
                Some(code) => Some(code),
                None => {
                    problems.push(Invalid::new(
                        "address",
                        format!(
                            "the address {address:?} names no district, street or community of this city; give lon/lat or area_code"
                        ),
                    ));
                    None
                }
            },
            _ => given_area,
        };
        if new
            .matter_code
            .as_deref()
            .is_none_or(|m| m.trim().is_empty())
            && new.lon.is_none()
            && new.lat.is_none()
            && given_area.is_none()
            && problems.is_empty()
        {
            problems.push(Invalid::new(
                "location",
                "a case needs a location (lon/lat, area_code or an address in the city) or a matter code; this one has neither",
            ));
        }
        if new.description.chars().count() > 5_000 {
            problems.push(Invalid::new("description", "at most 5000 characters"));
        }
        if new.title.chars().count() > 200 {
            problems.push(Invalid::new("title", "at most 200 characters"));
        }
        let (mut grid_code, mut area_code, mut district_code) = (None, None, None);
        if let Some((lon, lat)) = point {
            let loc = city.locate(lon, lat);
            grid_code = loc.grid.as_ref().map(|g| g.code.clone());
            area_code = [&loc.community, &loc.street, &loc.district, &loc.city]
                .into_iter()
                .flatten()
                .next()
                .map(|n| n.code.clone());
            district_code = loc.district.as_ref().map(|d| d.code.clone());
            if area_code.is_none() {
                problems.push(Invalid::new(
                    "location",
                    format!(
                        "the point ({lon:.6}, {lat:.6}) (WGS-84, given as {}) lies outside every area of this city",
                        crs.as_str()
                    ),
                ));
            }
        } else if let Some(a) = &given_area {
            area_code = Some(a.to_string());
            district_code = (a.as_str().len() >= 6).then(|| a.as_str()[..6].to_string());
        }
        problems.into_result()?;

        let reported_at = new
            .reported_at
            .map(super::chengyun_store_time)
            .unwrap_or(now);
        if reported_at > now + Duration::minutes(5) {
            return Err(CaseError::invalid(
                "reported_at",
                format!("{reported_at} lies in the future"),
            ));
        }
        let source = new.source.unwrap_or(Source::Public);
        let urgency = new.urgency.unwrap_or(Urgency::Normal);

        // Classify when no code was given.
        let text = format!("{} {}", new.title, new.description);
        let suggestions = match (&matter, self.classifier()) {
            (None, Some(c)) if !text.trim().is_empty() => c.suggest(&text, 5),
            _ => Vec::new(),
        };

        // Dedupe.
        let mut likely_duplicate_of = None;
        if let (Some(class), Some((lon, lat))) = (&matter, point) {
            let d = settings.dedupe;
            let dlat = d.radius_m / METRES_PER_DEGREE;
            let dlon = d.radius_m / (METRES_PER_DEGREE * lat.to_radians().cos().max(0.01));
            let since = reported_at - Duration::hours(i64::from(d.window_hours));
            let near = self
                .store()
                .open_cases_near(
                    class.code.as_str(),
                    [lon - dlon, lat - dlat, lon + dlon, lat + dlat],
                    since,
                )
                .await?;
            likely_duplicate_of = near
                .iter()
                .filter(|c| c.reported_at <= reported_at)
                .filter_map(|c| {
                    let dist = distance_m((lon, lat), (c.lon, c.lat));
                    (dist <= d.radius_m).then_some((dist, c.id))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, id)| id);
        }

        // Managing center and automatic dispatch.
        let area_div = area_code
            .as_deref()
            .and_then(|a| DivisionCode::parse(a).ok());
        let (center, center_reason) =
            super::dispatch::managing_center(&dir, area_div.as_ref(), new.cross_district)?;
        let mut snapshot =
            CaseSnapshot::reported(source, urgency, center.code.clone(), center.tier);
        snapshot.reporter_department = actor.context.department_code.clone();
        let mut decision = super::dispatch::resolve(
            &dir,
            matter.as_ref().map(|m| m.code.as_str()),
            area_code.as_deref(),
            &center.code,
        );
        // An automatic source's own mapping (alarm type → department) decides
        // before the matter rules, which cannot tell alarm types of one matter apart.
        if let Some(hint) = &new.dispatch_hint
            && source.is_automatic()
            && actor.context.system
            && dir.departments.contains_key(&hint.department_code)
        {
            decision = super::dispatch::DispatchDecision {
                department_code: hint.department_code.clone(),
                rule_id: None,
                auto_dispatch: hint.auto_dispatch,
                reason: hint.reason.clone(),
            };
        }
        let automatic = source.is_automatic() && decision.auto_dispatch;
        snapshot.auto_dispatch = automatic;

        let title = match new.title.trim() {
            "" => match &matter {
                Some(m) => m.name.clone(),
                None => new.description.chars().take(30).collect(),
            },
            t => t.to_string(),
        };
        let mut data = CaseData {
            title,
            description: new.description.trim().to_string(),
            matter_code: matter.as_ref().map(|m| m.code.to_string()),
            condition: trimmed(&new.condition),
            source,
            urgency,
            lon: point.map(|p| p.0),
            lat: point.map(|p| p.1),
            address: trimmed(&new.address),
            grid_code,
            area_code,
            district_code,
            component_id: trimmed(&new.component_id),
            device_id: trimmed(&new.device_id),
            external_id: trimmed(&new.external_id),
            reporter_user: actor.context.user_id,
            snapshot,
            duplicate_of: None,
            likely_duplicate_of,
            reported_at,
            registered_at: None,
            dispatched_at: None,
            disposed_at: None,
            closed_at: None,
            deadline_at: None,
        };
        let mut changes = CaseChanges {
            reporters: vec![Reporter {
                name: trimmed(&new.reporter_name).or_else(|| Some(actor.audit.name.clone())),
                phone: trimmed(&new.reporter_phone),
                user_id: actor.context.user_id,
                channel: trimmed(&new.channel).unwrap_or_else(|| source.as_str().to_string()),
                reported_at,
            }],
            flow: vec![NewFlowRecord {
                action: "report".into(),
                detail: serde_json::json!({
                    "source": source.as_str(),
                    "center": center.code,
                    "center_reason": center_reason,
                    "likely_duplicate_of": likely_duplicate_of,
                    "dispatch_suggestion": decision,
                }),
                from_state: None,
                to_state: data.snapshot.state,
                actor_user: actor.context.user_id,
                actor_department: actor.context.department_code.clone(),
                acted_as: None,
                at: reported_at,
                opinion: None,
                attachments: new.attachments.clone(),
            }],
            clocks: Vec::new(),
            stats: vec![stats::on_report(
                &data,
                actor.context.department_code.clone(),
            )],
            attachments: new.attachments.clone(),
        };

        if automatic {
            let system = self.system_actor();
            let draft = CaseRecord {
                id: 0,
                number: chengyun_domain::case::CaseNumber::new("XX", reported_at.date_naive(), 1)?,
                version: 0,
                created_at: now,
                updated_at: now,
                data: data.clone(),
            };
            let mut clocks = Vec::new();
            let mut draft = draft;
            for action in [
                CaseAction::Register,
                CaseAction::Dispatch {
                    department: decision.department_code.clone(),
                    user: None,
                },
            ] {
                let request = ActionRequest::new(action.clone());
                let t = settings
                    .rules
                    .transition(&draft.data.snapshot, &system.context, &request, now)
                    .map_err(CaseError::from)?;
                changes.stats.extend(stats::on_action(
                    &settings,
                    &draft.data,
                    &t.case,
                    &action,
                    &system.context,
                    None,
                    &clocks,
                    now,
                ));
                apply_effects(&settings, &draft, &mut clocks, &t.timers, now)?;
                let mut detail = serde_json::to_value(&t.record.detail).unwrap_or_default();
                if matches!(action, CaseAction::Dispatch { .. })
                    && let Some(obj) = detail.as_object_mut()
                {
                    obj.insert("rule_id".into(), serde_json::json!(decision.rule_id));
                    obj.insert("reason".into(), serde_json::json!(decision.reason));
                    obj.insert("automatic".into(), serde_json::json!(true));
                }
                changes.flow.push(NewFlowRecord {
                    action: t.record.action.as_str().to_string(),
                    detail,
                    from_state: Some(t.record.from),
                    to_state: t.record.to,
                    actor_user: None,
                    actor_department: None,
                    acted_as: None,
                    at: now,
                    opinion: None,
                    attachments: Vec::new(),
                });
                match action {
                    CaseAction::Register => draft.data.registered_at = Some(now),
                    _ => draft.data.dispatched_at = Some(now),
                }
                draft.data.snapshot = t.case;
            }
            draft.data.deadline_at = draft
                .data
                .snapshot
                .state
                .running_clock()
                .and_then(|rc| clocks.iter().find(|c| c.clock == rc))
                .and_then(|c| c.deadline_at);
            data = draft.data;
            changes.clocks = clocks;
        }

        let number_date = reported_at
            .with_timezone(&settings.calendar.time_zone())
            .date_naive();
        Ok((
            NewCaseWrite {
                data,
                number_prefix: self.config().number_prefix.clone(),
                number_date,
                changes,
                idempotency,
            },
            suggestions,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_metres() {
        let a = (117.03, 28.24);
        assert!(distance_m(a, a) < 1e-6);
        // 0.0004° of latitude ≈ 44.5 m
        let d = distance_m(a, (117.03, 28.2404));
        assert!((d - 44.5).abs() < 0.5, "{d}");
    }
}
