//! Scenario flows that span the IoT brain and the case loop, and the packs'
//! KPIs computed from stored data.
//!
//! E-bike anti-theft: an owner or the police report a theft
//! ([`IotService::report_theft`]): a case of matter 10901 linked to the
//! tracker, which is armed so any movement raises an alarm; the case's track
//! ([`IotService::case_track`]) is the tracker's fixes since the report; the
//! case closes with an outcome (solved and/or recovered, see
//! `ActionRequest::outcome`) and the tracker is disarmed
//! ([`IotService::on_case_finished`]).
//!
//! KPIs ([`IotService::pack_kpis`]): the pack's formulas over counters
//! gathered from cases, alarms and telemetry, grouped by the KPI's `per`
//! dimensions (`day` and `month` in China Standard Time, `station`).

use super::{IotError, IotService};
use crate::case::{CaseActor, CaseError, CaseView, NewCase};
use chengyun_domain::case::workflow::{CaseOutcome, CaseState, CloseKind, Source};
use chengyun_domain::iot::GeoPoint;
use chengyun_domain::iot::kpi::KpiDef;
use chengyun_domain::page::PageRequest;
use chengyun_domain::{Invalid, ValidationError};
use chengyun_store::{AlarmQuery, CaseQuery, CaseRecord};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The matter of a stolen e-bike (the ebike_antitheft pack's local class 电动自行车被盗).
pub const THEFT_MATTER: &str = "10901";
/// The matter of an overloaded truck (the weigh_in_motion pack's 货车超限超载).
pub const OVERLOAD_MATTER: &str = "10907";
/// The alarm type of an over-limit weighing.
pub const OVERLOAD_ALARM: &str = "wim.overload";
/// The product of weigh-in-motion stations.
pub const WIM_PRODUCT: &str = "wim_station";
/// Most fixes a case track returns.
pub const MAX_TRACK_POINTS: u32 = 10_000;

/// The track of a case's device since the report.
#[derive(Debug, Clone, Serialize)]
pub struct CaseTrack {
    pub case_id: i64,
    pub device_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Positioned fixes, oldest first.
    pub fixes: Vec<(DateTime<Utc>, GeoPoint)>,
}

/// One KPI value for one group.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiValue {
    pub kpi: String,
    pub name: String,
    pub unit: Option<String>,
    /// The group: dimension → value, e.g. `station` → `wim1`, `day` → `2026-11-27`.
    pub group: BTreeMap<String, String>,
    /// The counters of the group the formula read.
    pub counters: BTreeMap<String, f64>,
    /// `None` when the formula divides by zero (no data).
    pub value: Option<f64>,
}

/// One counted thing: when, where (a station), which counter.
struct Fact {
    at: DateTime<Utc>,
    station: Option<String>,
    counter: &'static str,
}

fn cst() -> FixedOffset {
    // Fixed +08:00: China has no daylight saving time.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

fn case_err(e: CaseError) -> IotError {
    match e {
        CaseError::NotFound(m) => IotError::NotFound(m),
        CaseError::Invalid(v) => IotError::Invalid(v),
        other => IotError::Case(other.to_string()),
    }
}

/// Groups facts by the KPI's dimensions and evaluates its formula per group.
fn aggregate(def: &KpiDef, facts: &[Fact]) -> Result<Vec<KpiValue>, IotError> {
    let mut groups: BTreeMap<BTreeMap<String, String>, BTreeMap<String, f64>> = BTreeMap::new();
    for f in facts {
        let mut key = BTreeMap::new();
        for dim in &def.per {
            let local = f.at.with_timezone(&cst());
            let v = match dim.as_str() {
                "day" => local.format("%Y-%m-%d").to_string(),
                "month" => local.format("%Y-%m").to_string(),
                "station" => match &f.station {
                    Some(s) => s.clone(),
                    None => continue,
                },
                other => {
                    return Err(ValidationError::from(Invalid::new(
                        "per",
                        format!(
                            "KPI {} groups by {other:?}; supported: day, month, station",
                            def.id
                        ),
                    ))
                    .into());
                }
            };
            key.insert(dim.clone(), v);
        }
        *groups
            .entry(key)
            .or_default()
            .entry(f.counter.to_string())
            .or_insert(0.0) += 1.0;
    }
    let mut out = Vec::new();
    for (group, counters) in groups {
        let value = def
            .evaluate(&counters)
            .map_err(|e| IotError::from(e.at("formula")))?;
        out.push(KpiValue {
            kpi: def.id.clone(),
            name: def.name.clone(),
            unit: def.unit.clone(),
            group,
            counters,
            value,
        });
    }
    Ok(out)
}

impl IotService {
    fn case_service(&self) -> Result<&crate::case::CaseService, IotError> {
        self.inner
            .cases
            .as_ref()
            .ok_or_else(|| IotError::Unavailable("the case loop is not connected".into()))
    }

    /// An owner's or the police's report of a stolen e-bike: a case of
    /// matter [`THEFT_MATTER`] linked to `new.device_id` (required; source
    /// public by default, or hotline), and the tracker is armed (设防) at its
    /// last known position so that movement raises an alarm.
    pub async fn report_theft(
        &self,
        mut new: NewCase,
        actor: &CaseActor,
    ) -> Result<CaseView, IotError> {
        let mut errors = ValidationError::default();
        let device = match new.device_id.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(Invalid::new(
                    "device_id",
                    "a theft report names the stolen e-bike's tracker",
                ));
                None
            }
            Some(id) => match self.device(id) {
                Some(d) => Some(d),
                None => return Err(IotError::NotFound(format!("device {id}"))),
            },
        };
        match new.matter_code.as_deref() {
            None | Some(THEFT_MATTER) => {}
            Some(other) => errors.push(Invalid::new(
                "matter_code",
                format!("a theft report is matter {THEFT_MATTER}, not {other}"),
            )),
        }
        let source = new.source.unwrap_or(Source::Public);
        if !matches!(source, Source::Public | Source::Hotline) {
            errors.push(Invalid::new(
                "source",
                format!(
                    "a theft report comes from the public or the hotline, not {}",
                    source.as_str()
                ),
            ));
        }
        errors.into_result()?;
        let Some(device) = device else {
            return Err(IotError::NotFound("device".into()));
        };
        new.device_id = Some(device.id.clone());
        new.matter_code = Some(THEFT_MATTER.into());
        new.source = Some(source);
        let last = self.latest(&device.id).and_then(|l| l.location);
        if new.lon.is_none()
            && new.lat.is_none()
            && let Some(p) = last.or(device.location)
        {
            new.lon = Some(p.lon);
            new.lat = Some(p.lat);
            new.crs = Some("wgs84".into());
        }
        let view = self
            .case_service()?
            .intake(new, actor, None)
            .await
            .map_err(case_err)?;
        let mut armed = (*device).clone();
        armed.armed = true;
        armed.armed_position = last;
        self.put_device(armed, &actor.audit).await?;
        tracing::info!(device = %device.id, case = %view.case.number, "theft reported; tracker armed");
        Ok(view)
    }

    /// After a theft case finished: disarms its tracker (the bike is back
    /// with its owner, or the search ended). Answers whether it disarmed.
    pub(super) async fn disarm_after_theft(&self, case: &CaseRecord) -> Result<bool, IotError> {
        if case.data.matter_code.as_deref() != Some(THEFT_MATTER) {
            return Ok(false);
        }
        let Some(device) = case
            .data
            .device_id
            .as_deref()
            .and_then(|id| self.device(id))
        else {
            return Ok(false);
        };
        if !device.armed {
            return Ok(false);
        }
        let mut d = (*device).clone();
        d.armed = false;
        d.armed_position = None;
        self.put_device(d, &chengyun_domain::audit::Actor::system("iot-theft"))
            .await?;
        tracing::info!(device = %device.id, case = %case.number, "theft case finished; tracker disarmed");
        Ok(true)
    }

    /// The track of a case's device from the report to the close (or now),
    /// for a viewer who may see the case.
    pub async fn case_track(
        &self,
        case_id: i64,
        viewer: &CaseActor,
    ) -> Result<CaseTrack, IotError> {
        let view = self
            .case_service()?
            .view(case_id, viewer)
            .await
            .map_err(case_err)?;
        let data = &view.case.data;
        let Some(device_id) = data.device_id.clone() else {
            return Err(IotError::NotFound(format!(
                "case {case_id} is linked to no device"
            )));
        };
        let from = data.reported_at;
        let to = data.closed_at.unwrap_or_else(|| self.now());
        let rows = self
            .inner
            .store
            // `to` itself included: a fix at the instant of the read or the close counts.
            .telemetry(
                &device_id,
                from,
                to + chrono::Duration::milliseconds(1),
                MAX_TRACK_POINTS,
            )
            .await?;
        let fixes = rows
            .iter()
            .filter_map(|t| t.location.map(|l| (t.at, l)))
            .collect();
        Ok(CaseTrack {
            case_id,
            device_id,
            from,
            to,
            fixes,
        })
    }

    /// Every case of `matter` closed within `from <= closed_at < to`.
    async fn closed_cases(
        &self,
        matter: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CaseRecord>, IotError> {
        let q = CaseQuery {
            matter: Some(matter.into()),
            states: vec![CaseState::Closed],
            ..Default::default()
        };
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        let mut out = Vec::new();
        loop {
            let p = self.inner.store.list_cases(&q, &page).await?;
            out.extend(
                p.items
                    .into_iter()
                    .filter(|c| c.data.closed_at.is_some_and(|t| from <= t && t < to)),
            );
            match p.next {
                Some(n) => page.after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// The outcome marked when the case was closed (none: neither).
    async fn outcome_of(&self, case_id: i64) -> Result<CaseOutcome, IotError> {
        let flow = self.inner.store.flow_records(case_id).await?;
        Ok(flow
            .iter()
            .rev()
            .find(|r| r.record.action == "close" || r.record.action == "special_close")
            .and_then(|r| r.record.detail.get("outcome"))
            .and_then(|o| serde_json::from_value::<CaseOutcome>(o.clone()).ok())
            .unwrap_or_default())
    }

    /// A pack's KPIs over `from <= t < to`, one value per group of the KPI's
    /// dimensions. The pack must be enabled; computed for `ebike_antitheft`
    /// (over theft cases closed in the period, false reports closed as
    /// erroneous excluded) and `weigh_in_motion` (weighings from telemetry
    /// history, over-limit vehicles from overload alarms, closed overload cases).
    pub async fn pack_kpis(
        &self,
        pack: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<KpiValue>, IotError> {
        if from >= to {
            return Err(
                ValidationError::from(Invalid::new("from", "from must be before to")).into(),
            );
        }
        let Some(def) = self
            .inner
            .store
            .enabled_packs()
            .await?
            .into_iter()
            .find(|p| p.key == pack)
        else {
            return Err(IotError::NotFound(format!("enabled pack {pack}")));
        };
        let facts = match pack {
            "ebike_antitheft" => self.theft_facts(from, to).await?,
            "weigh_in_motion" => self.wim_facts(from, to).await?,
            other => {
                return Err(ValidationError::from(Invalid::new(
                    "pack",
                    format!(
                        "KPIs are computed for ebike_antitheft and weigh_in_motion; {other} has none yet"
                    ),
                ))
                .into());
            }
        };
        let mut out = Vec::new();
        for k in &def.kpis {
            out.extend(aggregate(k, &facts)?);
        }
        Ok(out)
    }

    async fn theft_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Fact>, IotError> {
        let mut facts = Vec::new();
        for c in self.closed_cases(THEFT_MATTER, from, to).await? {
            if c.data.snapshot.close_kind == Some(CloseKind::Erroneous) {
                continue;
            }
            let Some(at) = c.data.closed_at else { continue };
            let outcome = self.outcome_of(c.id).await?;
            let mut push = |counter| {
                facts.push(Fact {
                    at,
                    station: None,
                    counter,
                })
            };
            push("theft_reported");
            if outcome.solved {
                push("theft_solved");
            }
            if outcome.recovered {
                push("bikes_recovered");
            }
        }
        Ok(facts)
    }

    async fn wim_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Fact>, IotError> {
        let stations: Vec<String> = self
            .registry()
            .devices
            .values()
            .filter(|d| d.product_key == WIM_PRODUCT)
            .map(|d| d.id.clone())
            .collect();
        let mut facts = Vec::new();
        for s in &stations {
            // Page through the history: rows at the same instant as the last
            // row of a full page are read again and skipped by count.
            let mut start = from;
            let mut skip_at_start = 0usize;
            loop {
                let rows = self
                    .inner
                    .store
                    .telemetry(s, start, to, MAX_TRACK_POINTS)
                    .await?;
                let full = rows.len() as u32 == MAX_TRACK_POINTS;
                let last = rows.last().map(|r| r.at);
                for r in rows.iter().skip(skip_at_start) {
                    facts.push(Fact {
                        at: r.at,
                        station: Some(s.clone()),
                        counter: "vehicles_weighed",
                    });
                }
                match (full, last) {
                    (true, Some(l)) if l > start => {
                        skip_at_start = rows.iter().filter(|r| r.at == l).count();
                        start = l;
                    }
                    _ => break,
                }
            }
        }
        let q = AlarmQuery {
            alarm_type: Some(OVERLOAD_ALARM.into()),
            since: Some(from),
            ..Default::default()
        };
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let p = self.inner.store.list_alarms(&q, &page).await?;
            for a in &p.items {
                let t = a.alarm.first_at;
                if from <= t && t < to && stations.contains(&a.alarm.key.device_id) {
                    facts.push(Fact {
                        at: t,
                        station: Some(a.alarm.key.device_id.clone()),
                        counter: "vehicles_over_limit",
                    });
                }
            }
            match p.next {
                Some(n) => page.after = Some(n),
                None => break,
            }
        }
        for c in self.closed_cases(OVERLOAD_MATTER, from, to).await? {
            if let (Some(at), Some(d)) = (c.data.closed_at, c.data.device_id.clone()) {
                facts.push(Fact {
                    at,
                    station: Some(d),
                    counter: "cases_closed",
                });
            }
        }
        Ok(facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fact(h: i64, station: &str, counter: &'static str) -> Fact {
        Fact {
            at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(h),
            station: Some(station.into()),
            counter,
        }
    }

    #[test]
    fn groups_by_station_and_china_day() {
        let def = KpiDef {
            id: "r".into(),
            name: "r".into(),
            formula: "100 * over / weighed".into(),
            unit: None,
            per: vec!["station".into(), "day".into()],
        };
        // 15:00 UTC is 23:00 CST (Nov 1); 17:00 UTC is 01:00 CST (Nov 2).
        let facts = [
            fact(15, "a", "weighed"),
            fact(15, "a", "over"),
            fact(15, "a", "weighed"),
            fact(17, "a", "weighed"),
            fact(17, "b", "over"),
        ];
        let v = aggregate(&def, &facts).unwrap();
        let by: BTreeMap<(String, String), Option<f64>> = v
            .iter()
            .map(|k| {
                (
                    (k.group["station"].clone(), k.group["day"].clone()),
                    k.value,
                )
            })
            .collect();
        assert_eq!(by[&("a".into(), "2026-11-01".into())], Some(50.0));
        assert_eq!(by[&("a".into(), "2026-11-02".into())], Some(0.0));
        assert_eq!(by[&("b".into(), "2026-11-02".into())], None, "no weighing");
    }

    #[test]
    fn unknown_dimension_is_refused() {
        let def = KpiDef {
            id: "r".into(),
            name: "r".into(),
            formula: "x".into(),
            unit: None,
            per: vec!["lane".into()],
        };
        let e = aggregate(&def, &[fact(0, "a", "x")]).unwrap_err();
        assert!(e.to_string().contains("lane"), "{e}");
    }
}
