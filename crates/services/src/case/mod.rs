//! The case closed loop (事件闭环) as a service: intake (validate, locate,
//! classify, de-duplicate, choose the managing center, automatic dispatch),
//! workflow actions (via [`chengyun_domain::case::workflow`]), dispatch
//! rules, merging duplicates, persistent timers with warnings and automatic
//! supervision, evaluation from SQL sums, and attachments.
//!
//! [`CaseService`] is built once (cheap to clone) with the store, the bus, a
//! [`CityView`] (the in-memory locator and class catalogue the API keeps) and
//! a [`CaseConfig`]. The time is injectable ([`CaseService::with_clock`]) so
//! tests can drive timers. Settings the city edits (work calendar, limit
//! standard, workflow rules, evaluation config, dedupe distances) live in the
//! store's `settings` table under the keys of [`settings_keys`]; call
//! [`CaseService::reload`] after changing them, the dispatch rules or the
//! departments.
//!
//! Every change is one store transaction (case + flow records + clocks +
//! statistics rows + audit) followed by an [`Event::CaseChanged`] on the bus.

mod act;
mod attachments;
mod dispatch;
mod error;
mod evaluation;
mod group_commit;
mod history;
mod intake;
mod learning;
mod stats;
mod timers;

pub use attachments::{DiskObjectStore, ObjectStore, sniff_content_type};
pub use dispatch::DispatchDecision;
pub use error::CaseError;
pub use evaluation::{EvaluationGroup, EvaluationQuery, EvaluationReport, EvaluationRow};
pub use history::{HistoryImportOptions, HistoryImportReport};
pub use learning::LearnReport;
pub use timers::SweepReport;

use chengyun_bus::{DynBus, Event};
use chengyun_domain::audit::Actor;
use chengyun_domain::auth::User;
use chengyun_domain::case::Urgency;
use chengyun_domain::case::calendar::{
    Clock, LimitStandard, TimerColour, WorkCalendar, WorkCalendarConfig,
};
use chengyun_domain::case::evaluation::EvaluationConfig;
use chengyun_domain::case::workflow::{
    ActorContext, CaseActionKind, CaseState, Source, WorkflowRules,
};
use chengyun_domain::city::{Department, DepartmentKind, Location, Position};
use chengyun_domain::codes::{ClassCode, DivisionCode};
use chengyun_domain::standard::{Catalogue, ClassKind, StandardClass};
use chengyun_geo::Locator;
use chengyun_store::{
    AttachmentMeta, CaseClock, CaseRecord, DispatchRule, DynStore, FlowRecord, Reporter,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The in-memory city model the service reads: where a point lies and which
/// matter classes exist. The API implements it over its `City` snapshot;
/// [`StaticCity`] is a fixed one (CLI, tests, benchmarks).
pub trait CityView: Send + Sync + 'static {
    /// Locates a WGS-84 point (grid → community → street → district → city).
    fn locate(&self, lon: f64, lat: f64) -> Location;
    /// The matter class with this code (national or local), if any.
    fn matter(&self, code: &ClassCode) -> Option<StandardClass>;
    /// The name and existence of an area, by code.
    fn area_name(&self, code: &DivisionCode) -> Option<String>;
    /// The most detailed area (community, street, district) an address names.
    fn area_in_address(&self, _address: &str) -> Option<DivisionCode> {
        None
    }
}

/// A fixed city model: a locator and a catalogue.
pub struct StaticCity {
    pub locator: Locator,
    pub catalogue: Catalogue,
}

impl CityView for StaticCity {
    fn locate(&self, lon: f64, lat: f64) -> Location {
        self.locator.locate(lon, lat)
    }

    fn matter(&self, code: &ClassCode) -> Option<StandardClass> {
        self.catalogue.get(ClassKind::Matter, code).cloned()
    }

    fn area_name(&self, code: &DivisionCode) -> Option<String> {
        self.locator.area_by_code(code).map(|(n, _)| n.to_string())
    }

    fn area_in_address(&self, address: &str) -> Option<DivisionCode> {
        self.locator
            .area_in_address(address)
            .map(|(c, _)| c.clone())
    }
}

/// Suggests matter codes for free text (the `classify` service implements it).
pub trait MatterClassifier: Send + Sync + 'static {
    /// The most likely classes, best first, at most `limit`.
    fn suggest(&self, text: &str, limit: usize) -> Vec<MatterSuggestion>;
}

/// One suggested matter class for a case reported without a code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MatterSuggestion {
    pub code: String,
    pub name: String,
    /// 0..=1.
    pub score: f64,
    pub reason: String,
}

/// Settings fixed at start (the rest is editable in the store, see [`settings_keys`]).
#[derive(Debug, Clone)]
pub struct CaseConfig {
    /// Case number prefix, 2–4 capital letters (`YT` for 鹰潭).
    pub number_prefix: String,
    /// Where uploaded attachments are stored (content-addressed files).
    pub attachment_dir: PathBuf,
    /// The largest attachment accepted, in bytes.
    pub max_attachment_bytes: usize,
    /// Clocks handled per sweep batch.
    pub sweep_batch: u32,
}

impl CaseConfig {
    /// Defaults for a data directory: prefix `YT`, attachments in
    /// `<data_dir>/attachments`, 10 MiB per attachment.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            number_prefix: "YT".into(),
            attachment_dir: data_dir.into().join("attachments"),
            max_attachment_bytes: 10 * 1024 * 1024,
            sweep_batch: 500,
        }
    }
}

/// The keys of the editable settings in the store's `settings` table.
pub mod settings_keys {
    /// [`chengyun_domain::case::calendar::WorkCalendarConfig`]
    pub const CALENDAR: &str = "case.calendar";
    /// [`chengyun_domain::case::calendar::LimitStandard`]
    pub const LIMITS: &str = "case.limits";
    /// [`chengyun_domain::case::workflow::WorkflowRules`]
    pub const WORKFLOW: &str = "case.workflow";
    /// [`chengyun_domain::case::evaluation::EvaluationConfig`]
    pub const EVALUATION: &str = "case.evaluation";
    /// [`super::DedupeSettings`]
    pub const DEDUPE: &str = "case.dedupe";
    /// [`super::EscalationSettings`]
    pub const ESCALATION: &str = "case.escalation";
}

/// When a new case is flagged as a likely duplicate of an open one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DedupeSettings {
    /// Same matter code within this distance…
    pub radius_m: f64,
    /// …reported within this many hours before.
    pub window_hours: u32,
}

impl Default for DedupeSettings {
    fn default() -> Self {
        Self {
            radius_m: 50.0,
            window_hours: 24,
        }
    }
}

/// What the timer sweep does beyond supervising an overdue case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EscalationSettings {
    /// When a case first goes overdue, hand its management to the command
    /// center one tier up (street → district → city) whose area holds the
    /// case (the city center for cases without an area). The case keeps its
    /// holder unless its old center held it, in which case the new center
    /// holds it. Off by default.
    pub escalate_overdue: bool,
}

/// The editable settings in force.
#[derive(Debug, Clone)]
pub struct CaseSettings {
    pub calendar: WorkCalendar,
    pub limits: LimitStandard,
    pub rules: WorkflowRules,
    pub evaluation: EvaluationConfig,
    pub dedupe: DedupeSettings,
    pub escalation: EscalationSettings,
}

impl Default for CaseSettings {
    fn default() -> Self {
        Self {
            calendar: WorkCalendar::default(),
            limits: LimitStandard::defaults(),
            rules: WorkflowRules::default(),
            evaluation: EvaluationConfig::default(),
            dedupe: DedupeSettings::default(),
            escalation: EscalationSettings::default(),
        }
    }
}

/// Who acts: the workflow's view (positions, department, center tier) and
/// the audit view (name, address, request id).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseActor {
    pub context: ActorContext,
    pub audit: Actor,
}

/// A new case as a channel submits it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct NewCase {
    /// A short title; derived from the matter and description when blank.
    pub title: String,
    pub description: String,
    /// GB/T 47678.5 matter class (5 digits); suggested from the text when absent.
    pub matter_code: Option<String>,
    /// The 立案条件 (selects the time limit), e.g. `井盖缺失`.
    pub condition: Option<String>,
    #[schema(value_type = Option<String>)]
    pub source: Option<Source>,
    #[schema(value_type = Option<String>)]
    pub urgency: Option<Urgency>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// `wgs84` (default), `gcj02` or `bd09`.
    pub crs: Option<String>,
    pub address: Option<String>,
    /// An area the caller already knows (when there is no point).
    pub area_code: Option<String>,
    pub component_id: Option<String>,
    pub device_id: Option<String>,
    /// The id in the source system (IoT alarm id, Open311 token …).
    pub external_id: Option<String>,
    /// The problem spans districts: the city center manages it.
    pub cross_district: bool,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    /// `app`, `web`, `hotline`, `open311`, `iot` …; defaults to the source.
    pub channel: Option<String>,
    /// When the problem was reported; now when absent (imports pass the past).
    pub reported_at: Option<DateTime<Utc>>,
    /// Uploaded attachment ids to link.
    pub attachments: Vec<String>,
    /// Where the automatic source's own mapping sends the case (an IoT
    /// alarm's mapping names the department and whether the system dispatches
    /// it alone). Honoured only for automatic sources submitted by the system;
    /// never read from a request body.
    #[serde(skip)]
    pub dispatch_hint: Option<DispatchHint>,
}

/// A department chosen by an automatic source's mapping, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchHint {
    pub department_code: String,
    /// Register and dispatch without a clerk.
    pub auto_dispatch: bool,
    /// Why, for the dispatch's flow record (e.g. the alarm mapping).
    pub reason: String,
}

/// The running timer of a case as a display needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimerView {
    #[schema(value_type = String)]
    pub clock: Clock,
    pub started_at: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    /// Share of the limit used (1.0 = 100 %).
    pub fraction: f64,
    #[schema(value_type = String)]
    pub colour: TimerColour,
    pub paused: bool,
    pub overdue: bool,
}

/// A case with everything a detail page needs, for one viewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseView {
    #[schema(value_type = Object)]
    pub case: CaseRecord,
    #[schema(value_type = Vec<Object>)]
    pub reporters: Vec<Reporter>,
    #[schema(value_type = Vec<Object>)]
    pub flow: Vec<FlowRecord>,
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<AttachmentMeta>,
    /// The actions the viewer may take now (the buttons to show).
    #[schema(value_type = Vec<String>)]
    pub allowed: Vec<CaseActionKind>,
    pub timer: Option<TimerView>,
    /// Set at intake when no matter code was given.
    pub suggestions: Vec<MatterSuggestion>,
}

/// A case in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseSummary {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub matter_code: Option<String>,
    #[schema(value_type = String)]
    pub source: Source,
    #[schema(value_type = String)]
    pub urgency: Urgency,
    #[schema(value_type = String)]
    pub state: CaseState,
    pub state_label: String,
    pub area_code: Option<String>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub address: Option<String>,
    pub center_department: String,
    pub holder_department: String,
    pub overdue: bool,
    pub on_hold: bool,
    pub likely_duplicate_of: Option<i64>,
    pub reported_at: DateTime<Utc>,
    pub deadline_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>)]
    pub colour: Option<TimerColour>,
}

/// A responsibility grid (责任网格) whose staff member is an inspector with
/// a user account: the one a public report inside it was missed by.
#[derive(Debug, Clone)]
pub(crate) struct ResponsibleGrid {
    pub(crate) code: String,
    pub(crate) department_code: Option<String>,
    pub(crate) user_id: i64,
    pub(crate) boundary: geo::MultiPolygon<f64>,
}

/// Departments, dispatch rules and inspectors' responsibility grids in force.
#[derive(Debug, Clone, Default)]
pub(crate) struct Directory {
    pub(crate) departments: HashMap<String, Department>,
    pub(crate) rules: Vec<DispatchRule>,
    pub(crate) responsibility: Vec<ResponsibleGrid>,
}

impl Directory {
    /// The inspector's responsibility grid holding the point (the first by
    /// code when grids overlap).
    pub(crate) fn responsible_inspector(&self, lon: f64, lat: f64) -> Option<&ResponsibleGrid> {
        use geo::Contains;
        let p = geo::Point::new(lon, lat);
        self.responsibility.iter().find(|g| g.boundary.contains(&p))
    }

    /// The command centers whose area holds `area` (all tiers), lowest tier first.
    pub(crate) fn centers_over(&self, area: &DivisionCode) -> Vec<&Department> {
        let mut v: Vec<&Department> = self
            .departments
            .values()
            .filter(|d| d.kind == DepartmentKind::CommandCenter)
            .filter(|d| d.area_code == *area || d.area_code.contains(area))
            .collect();
        v.sort_by(|a, b| b.tier.cmp(&a.tier).then(a.code.cmp(&b.code)));
        v
    }

    /// The command centers of the highest tier (the city center).
    pub(crate) fn top_center(&self) -> Option<&Department> {
        self.departments
            .values()
            .filter(|d| d.kind == DepartmentKind::CommandCenter)
            .min_by(|a, b| a.tier.cmp(&b.tier).then(a.code.cmp(&b.code)))
    }
}

pub(crate) type NowFn = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

struct Inner {
    store: DynStore,
    bus: DynBus,
    city: Arc<dyn CityView>,
    objects: Arc<dyn ObjectStore>,
    classifier: Option<Arc<dyn MatterClassifier>>,
    config: CaseConfig,
    now: NowFn,
    settings: RwLock<Arc<CaseSettings>>,
    directory: RwLock<Arc<Directory>>,
    writer: Option<group_commit::GroupCommit>,
}

/// The case loop service (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct CaseService {
    inner: Arc<Inner>,
}

impl CaseService {
    /// Builds the service and loads settings, departments and dispatch rules.
    /// Attachments go to a [`DiskObjectStore`] at `config.attachment_dir`.
    pub async fn new(
        store: DynStore,
        bus: DynBus,
        city: Arc<dyn CityView>,
        config: CaseConfig,
    ) -> Result<Self, CaseError> {
        chengyun_domain::case::CaseNumber::new(
            &config.number_prefix,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            1,
        )?;
        let objects: Arc<dyn ObjectStore> =
            Arc::new(DiskObjectStore::new(config.attachment_dir.clone()));
        let store_for_writer = store.clone();
        let service = Self {
            inner: Arc::new(Inner {
                store,
                bus,
                city,
                objects,
                classifier: None,
                config,
                now: Arc::new(Utc::now),
                settings: RwLock::new(Arc::new(CaseSettings::default())),
                directory: RwLock::new(Arc::new(Directory::default())),
                writer: group_commit::GroupCommit::start(store_for_writer),
            }),
        };
        service.reload().await?;
        Ok(service)
    }

    fn rebuild(&self, f: impl FnOnce(&mut Inner)) -> Self {
        let i = &self.inner;
        let mut inner = Inner {
            store: i.store.clone(),
            bus: i.bus.clone(),
            city: i.city.clone(),
            objects: i.objects.clone(),
            classifier: i.classifier.clone(),
            config: i.config.clone(),
            now: i.now.clone(),
            settings: RwLock::new(self.settings()),
            directory: RwLock::new(self.directory()),
            writer: i.writer.clone(),
        };
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The same service reading the time from `now` (tests drive timers this way).
    pub fn with_clock(&self, now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.rebuild(|i| i.now = Arc::new(now))
    }

    /// The same service suggesting matter codes with `classifier`.
    pub fn with_classifier(&self, classifier: Arc<dyn MatterClassifier>) -> Self {
        self.rebuild(|i| i.classifier = Some(classifier))
    }

    /// The same service storing attachment bytes in `objects`.
    pub fn with_object_store(&self, objects: Arc<dyn ObjectStore>) -> Self {
        self.rebuild(|i| i.objects = objects)
    }

    /// Reloads the editable settings, the departments and the dispatch rules.
    /// A stored setting that no longer parses is an error naming its key.
    pub async fn reload(&self) -> Result<(), CaseError> {
        let store = &self.inner.store;
        let mut s = CaseSettings::default();
        if let Some(v) = store.setting(settings_keys::CALENDAR).await? {
            let cfg: WorkCalendarConfig = parse_setting(settings_keys::CALENDAR, v)?;
            s.calendar = WorkCalendar::new(cfg)?;
        }
        if let Some(v) = store.setting(settings_keys::LIMITS).await? {
            let limits: LimitStandard = parse_setting(settings_keys::LIMITS, v)?;
            limits.validate()?;
            s.limits = limits;
        }
        if let Some(v) = store.setting(settings_keys::WORKFLOW).await? {
            s.rules = parse_setting(settings_keys::WORKFLOW, v)?;
        }
        if let Some(v) = store.setting(settings_keys::EVALUATION).await? {
            let e: EvaluationConfig = parse_setting(settings_keys::EVALUATION, v)?;
            e.validate()?;
            s.evaluation = e;
        }
        if let Some(v) = store.setting(settings_keys::DEDUPE).await? {
            let d: DedupeSettings = parse_setting(settings_keys::DEDUPE, v)?;
            if !(d.radius_m.is_finite() && d.radius_m >= 0.0) {
                return Err(CaseError::invalid(
                    "case.dedupe.radius_m",
                    "the dedupe radius must be a non-negative number of metres",
                ));
            }
            s.dedupe = d;
        }
        if let Some(v) = store.setting(settings_keys::ESCALATION).await? {
            s.escalation = parse_setting(settings_keys::ESCALATION, v)?;
        }
        let mut departments = HashMap::new();
        let mut page = chengyun_domain::page::PageRequest::first(500);
        loop {
            let got = store.list_departments(&Default::default(), &page).await?;
            for d in got.items {
                departments.insert(d.code.clone(), d);
            }
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let rules = store.dispatch_rules().await?;
        let mut responsibility = Vec::new();
        let mut page = chengyun_domain::page::PageRequest::first(500);
        loop {
            let got = store.list_responsibility_grids(&page).await?;
            for g in got.items {
                let Some(staff_code) = g.staff_code.as_deref() else {
                    continue;
                };
                let Some(staff) = store.staff(staff_code).await? else {
                    continue;
                };
                if staff.position != Position::Inspector {
                    continue;
                }
                let Some(username) = staff.username.as_deref() else {
                    continue;
                };
                if let Some((user, _)) = store.user_by_name(username).await? {
                    responsibility.push(ResponsibleGrid {
                        code: g.code,
                        department_code: g.department_code.or(Some(staff.department_code)),
                        user_id: user.id,
                        boundary: g.boundary,
                    });
                }
            }
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        responsibility.sort_by(|a, b| a.code.cmp(&b.code));
        set_lock(&self.inner.settings, Arc::new(s));
        set_lock(
            &self.inner.directory,
            Arc::new(Directory {
                departments,
                rules,
                responsibility,
            }),
        );
        Ok(())
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<CaseSettings> {
        read_lock(&self.inner.settings)
    }

    pub(crate) fn directory(&self) -> Arc<Directory> {
        read_lock(&self.inner.directory)
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        chengyun_store_time((self.inner.now)())
    }

    /// Stores one new case through the group-commit writer (or directly
    /// when there is none).
    pub(crate) async fn write_case(
        &self,
        write: chengyun_store::NewCaseWrite,
        audit: chengyun_domain::audit::AuditEvent,
    ) -> Result<Result<chengyun_store::case::CaseWritten, chengyun_store::StoreError>, CaseError>
    {
        let (write, audit) = match &self.inner.writer {
            Some(w) => match w.write(write, audit).await {
                Ok(result) => return Ok(result),
                Err(back) => back,
            },
            None => (write, audit),
        };
        self.store()
            .create_cases(&[(write, audit)])
            .await?
            .pop()
            .ok_or_else(|| {
                CaseError::Store(chengyun_store::StoreError::Database(
                    "the store answered no case for one write".into(),
                ))
            })
    }

    pub(crate) fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// The actor for a logged-in user: positions, department and, when the
    /// department is a command center, its tier.
    pub fn actor(&self, user: &User, audit: Actor) -> CaseActor {
        let dir = self.directory();
        let dept = user
            .department_code
            .as_deref()
            .and_then(|c| dir.departments.get(c));
        let context = ActorContext {
            user_id: Some(user.id),
            roles: user.roles.clone(),
            department_code: user.department_code.clone(),
            command_center_tier: dept
                .filter(|d| d.kind == DepartmentKind::CommandCenter)
                .map(|d| d.tier),
            system: false,
        };
        CaseActor { context, audit }
    }

    /// The system itself (timer sweeps, automatic dispatch).
    pub fn system_actor(&self) -> CaseActor {
        CaseActor {
            context: ActorContext::system(),
            audit: Actor::system("system"),
        }
    }

    /// A case with its reporters, flow, attachments, timer and the actions
    /// `viewer` may take.
    pub async fn view(&self, case_id: i64, viewer: &CaseActor) -> Result<CaseView, CaseError> {
        let case = self
            .store()
            .case(case_id)
            .await?
            .ok_or_else(|| CaseError::NotFound(format!("case {case_id}")))?;
        self.view_of(case, viewer, Vec::new()).await
    }

    /// [`CaseService::view`] by case number.
    pub async fn view_by_number(
        &self,
        number: &str,
        viewer: &CaseActor,
    ) -> Result<CaseView, CaseError> {
        let case = self
            .store()
            .case_by_number(number)
            .await?
            .ok_or_else(|| CaseError::NotFound(format!("case {number}")))?;
        self.view_of(case, viewer, Vec::new()).await
    }

    /// The view of a case just written, built from the write itself (no
    /// read back); only linked attachments, if any, are read for their metadata.
    pub(crate) async fn view_written(
        &self,
        written: chengyun_store::case::CaseWritten,
        write: chengyun_store::NewCaseWrite,
        viewer: &CaseActor,
        suggestions: Vec<MatterSuggestion>,
    ) -> Result<CaseView, CaseError> {
        let case = written.case;
        let attachments = if write.changes.attachments.is_empty() {
            Vec::new()
        } else {
            self.store().case_attachments(case.id).await?
        };
        let clocks: Vec<CaseClock> = write
            .changes
            .clocks
            .into_iter()
            .map(|c| CaseClock {
                case_id: case.id,
                ..c
            })
            .collect();
        let settings = self.settings();
        let allowed = settings
            .rules
            .allowed_actions(&case.data.snapshot, &viewer.context);
        let timer = timer_view(&settings, &case, &clocks, self.now());
        Ok(CaseView {
            case,
            reporters: write.changes.reporters,
            flow: written.flow,
            attachments,
            allowed,
            timer,
            suggestions,
        })
    }

    pub(crate) async fn view_of(
        &self,
        case: CaseRecord,
        viewer: &CaseActor,
        suggestions: Vec<MatterSuggestion>,
    ) -> Result<CaseView, CaseError> {
        let store = self.store();
        let reporters = store.case_reporters(case.id).await?;
        let flow = store.flow_records(case.id).await?;
        let attachments = store.case_attachments(case.id).await?;
        let clocks = store.case_clocks(case.id).await?;
        let settings = self.settings();
        let allowed = settings
            .rules
            .allowed_actions(&case.data.snapshot, &viewer.context);
        let timer = timer_view(&settings, &case, &clocks, self.now());
        Ok(CaseView {
            case,
            reporters,
            flow,
            attachments,
            allowed,
            timer,
            suggestions,
        })
    }

    /// One page of cases (newest first). Pass the viewer's scope as
    /// `q.within`; the service does not widen it.
    pub async fn list(
        &self,
        q: &chengyun_store::CaseQuery,
        page: &chengyun_domain::page::PageRequest,
    ) -> Result<chengyun_domain::page::Page<CaseSummary>, CaseError> {
        let got = self.store().list_cases(q, page).await?;
        let now = self.now();
        let settings = self.settings();
        let ids: Vec<i64> = got.items.iter().map(|c| c.id).collect();
        let mut clocks: HashMap<i64, Vec<CaseClock>> = HashMap::new();
        for c in self.store().running_clocks(&ids).await? {
            clocks.entry(c.case_id).or_default().push(c);
        }
        Ok(got.map(|c| {
            let own = clocks.get(&c.id).map(Vec::as_slice).unwrap_or(&[]);
            summary(&settings, &c, own, now)
        }))
    }

    pub(crate) fn publish_change(&self, case: &CaseRecord, change: &str) {
        self.inner.bus.publish(Event::CaseChanged {
            case_id: case.id,
            number: case.number.to_string(),
            change: change.to_string(),
            state: case.data.snapshot.state.as_str().to_string(),
            area_code: case.data.area_code.clone(),
            center_department: case.data.snapshot.center_department.clone(),
            holder_department: case.data.snapshot.holder.department.clone(),
            at: self.now().to_rfc3339(),
        });
    }

    pub(crate) fn bus(&self) -> &DynBus {
        &self.inner.bus
    }

    pub(crate) fn city(&self) -> &Arc<dyn CityView> {
        &self.inner.city
    }

    pub(crate) fn config(&self) -> &CaseConfig {
        &self.inner.config
    }

    pub(crate) fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.objects
    }

    pub(crate) fn classifier(&self) -> Option<&Arc<dyn MatterClassifier>> {
        self.inner.classifier.as_ref()
    }
}

/// Microsecond precision, as the store keeps time, so values compare equal
/// after a round trip.
fn chengyun_store_time(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn parse_setting<T: serde::de::DeserializeOwned>(
    key: &str,
    v: serde_json::Value,
) -> Result<T, CaseError> {
    serde_json::from_value(v)
        .map_err(|e| CaseError::invalid(key, format!("the stored setting does not parse: {e}")))
}

fn read_lock<T: Clone>(lock: &RwLock<T>) -> T {
    match lock.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

fn set_lock<T>(lock: &RwLock<T>, value: T) {
    match lock.write() {
        Ok(mut g) => *g = value,
        Err(p) => *p.into_inner() = value,
    }
}

/// The timer of the clock running in the case's state.
pub(crate) fn timer_view(
    settings: &CaseSettings,
    case: &CaseRecord,
    clocks: &[CaseClock],
    now: DateTime<Utc>,
) -> Option<TimerView> {
    let running = case.data.snapshot.state.running_clock()?;
    let c = clocks
        .iter()
        .find(|c| c.clock == running && c.stopped_at.is_none())?;
    let total = timers::total_seconds(&settings.calendar, c);
    let elapsed = settings
        .calendar
        .counted(c.started_at, now, c.limit.unit, &c.holds)
        .num_seconds();
    let fraction = elapsed as f64 / total.max(1) as f64;
    Some(TimerView {
        clock: c.clock,
        started_at: c.started_at,
        deadline: c.deadline_at,
        fraction,
        colour: TimerColour::from_fraction(fraction),
        paused: c.paused_at.is_some(),
        overdue: c.overdue_at.is_some() || fraction > 1.0,
    })
}

fn summary(
    settings: &CaseSettings,
    c: &CaseRecord,
    clocks: &[CaseClock],
    now: DateTime<Utc>,
) -> CaseSummary {
    let s = &c.data.snapshot;
    // The light of the running clock, from its clock row (green below 80 %
    // of the limit, yellow from 80 %, red past 100 %), as on the detail page.
    let colour = timer_view(settings, c, clocks, now).map(|t| t.colour);
    CaseSummary {
        id: c.id,
        number: c.number.to_string(),
        title: c.data.title.clone(),
        matter_code: c.data.matter_code.clone(),
        source: c.data.source,
        urgency: c.data.urgency,
        state: s.state,
        state_label: s.state.label_zh().to_string(),
        area_code: c.data.area_code.clone(),
        lon: c.data.lon,
        lat: c.data.lat,
        address: c.data.address.clone(),
        center_department: s.center_department.clone(),
        holder_department: s.holder.department.clone(),
        overdue: s.overdue,
        on_hold: s.on_hold,
        likely_duplicate_of: c.data.likely_duplicate_of,
        reported_at: c.data.reported_at,
        deadline_at: c.data.deadline_at,
        colour,
    }
}

/// The position an actor acted in, as stored in flow records.
pub(crate) fn position_name(p: Option<Position>) -> Option<String> {
    p.map(|p| p.as_str().to_string())
}
