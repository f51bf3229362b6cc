//! The case workflow: fine states, actions, who may take them, and the pure
//! [`transition`] function.
//!
//! A case moves through the CJJ/T 106 stages 信息收集 → 案卷建立 (核实, 立案 or
//! 作废) → 任务派遣 → 任务处理 → 处理反馈 → 核查结案. Every action is checked
//! against the current state, the actor's positions (roles) and whether the
//! actor belongs to the party that holds the case now (the command center that
//! manages it, the department it was dispatched to, the inspector it was sent
//! to). An accepted action yields the next [`CaseSnapshot`], a flow record
//! draft for the store, and the timer effects for the timer service; a refused
//! one yields a [`Refusal`] with the reason and the actions the actor may take.
//!
//! Which positions may take which action, which actions need an opinion and
//! which the system may take by itself are data ([`WorkflowRules`]); the shape
//! of the loop (states and which party acts in each) is code.

use super::Urgency;
use super::calendar::{Clock, TimeLimit};
use crate::city::{Position, Tier};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The stages of the closed loop (CJJ/T 106).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 信息收集
    InformationCollection,
    /// 案卷建立 (核实, 立案 or 作废)
    CaseCreation,
    /// 任务派遣
    Dispatch,
    /// 任务处理
    Handling,
    /// 处理反馈
    Feedback,
    /// 核查结案
    CheckClose,
    /// 综合评价: not a state a case is in, but the stage statistics rows name.
    Evaluation,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::InformationCollection => "information_collection",
            Stage::CaseCreation => "case_creation",
            Stage::Dispatch => "dispatch",
            Stage::Handling => "handling",
            Stage::Feedback => "feedback",
            Stage::CheckClose => "check_close",
            Stage::Evaluation => "evaluation",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Stage::InformationCollection => "信息收集",
            Stage::CaseCreation => "案卷建立",
            Stage::Dispatch => "任务派遣",
            Stage::Handling => "任务处理",
            Stage::Feedback => "处理反馈",
            Stage::CheckClose => "核查结案",
            Stage::Evaluation => "综合评价",
        }
    }
}

/// The fine state of a case. Hold (挂账), a pending extension and a pending
/// appeal are flags of the [`CaseSnapshot`], not states, because the case
/// keeps its place in the loop while they last.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// 待受理: reported, waiting for an intake clerk.
    Reported,
    /// 待核实: an inspector was asked to confirm the problem on site.
    AwaitingVerification,
    /// 待立案: received (and verified if asked), waiting for the shift leader.
    AwaitingRegistration,
    /// 已作废: rejected as invalid. Final.
    Cancelled,
    /// 待派遣: registered (立案), waiting for the dispatcher.
    Registered,
    /// 待签收: dispatched to a department, not yet accepted. The handling clock runs.
    Dispatched,
    /// 处置中: accepted by the department.
    Handling,
    /// 回退待审: the department sent it back; the dispatcher decides.
    ReturnRequested,
    /// 已反馈: the department reports it done; a clerk sends an inspector to check.
    FeedbackGiven,
    /// 待核查: an inspector was sent to check the fix.
    AwaitingCheck,
    /// 待结案: the check passed.
    CheckPassed,
    /// 已结案. Final (an appeal may still be made and decided).
    Closed,
}

impl CaseState {
    pub const ALL: [CaseState; 12] = [
        CaseState::Reported,
        CaseState::AwaitingVerification,
        CaseState::AwaitingRegistration,
        CaseState::Cancelled,
        CaseState::Registered,
        CaseState::Dispatched,
        CaseState::Handling,
        CaseState::ReturnRequested,
        CaseState::FeedbackGiven,
        CaseState::AwaitingCheck,
        CaseState::CheckPassed,
        CaseState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Reported => "reported",
            CaseState::AwaitingVerification => "awaiting_verification",
            CaseState::AwaitingRegistration => "awaiting_registration",
            CaseState::Cancelled => "cancelled",
            CaseState::Registered => "registered",
            CaseState::Dispatched => "dispatched",
            CaseState::Handling => "handling",
            CaseState::ReturnRequested => "return_requested",
            CaseState::FeedbackGiven => "feedback_given",
            CaseState::AwaitingCheck => "awaiting_check",
            CaseState::CheckPassed => "check_passed",
            CaseState::Closed => "closed",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            CaseState::Reported => "待受理",
            CaseState::AwaitingVerification => "待核实",
            CaseState::AwaitingRegistration => "待立案",
            CaseState::Cancelled => "已作废",
            CaseState::Registered => "待派遣",
            CaseState::Dispatched => "待签收",
            CaseState::Handling => "处置中",
            CaseState::ReturnRequested => "回退待审",
            CaseState::FeedbackGiven => "已反馈",
            CaseState::AwaitingCheck => "待核查",
            CaseState::CheckPassed => "待结案",
            CaseState::Closed => "已结案",
        }
    }

    /// The CJJ/T 106 stage the state belongs to.
    pub fn stage(self) -> Stage {
        match self {
            CaseState::Reported => Stage::InformationCollection,
            CaseState::AwaitingVerification
            | CaseState::AwaitingRegistration
            | CaseState::Cancelled => Stage::CaseCreation,
            CaseState::Registered => Stage::Dispatch,
            CaseState::Dispatched | CaseState::Handling | CaseState::ReturnRequested => {
                Stage::Handling
            }
            CaseState::FeedbackGiven => Stage::Feedback,
            CaseState::AwaitingCheck | CaseState::CheckPassed | CaseState::Closed => {
                Stage::CheckClose
            }
        }
    }

    /// Closed and cancelled cases take no more steps of the loop.
    pub fn is_final(self) -> bool {
        matches!(self, CaseState::Closed | CaseState::Cancelled)
    }

    /// The clock that runs while a case is in this state, if any. Moving to
    /// a state with another clock stops the old one and starts the new one.
    pub fn running_clock(self) -> Option<Clock> {
        match self {
            CaseState::AwaitingVerification => Some(Clock::Verify),
            CaseState::AwaitingRegistration | CaseState::Registered => {
                Some(Clock::RegisterDispatch)
            }
            CaseState::Dispatched | CaseState::Handling | CaseState::ReturnRequested => {
                Some(Clock::Dispose)
            }
            CaseState::AwaitingCheck => Some(Clock::Check),
            CaseState::Reported
            | CaseState::Cancelled
            | CaseState::FeedbackGiven
            | CaseState::CheckPassed
            | CaseState::Closed => None,
        }
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.label_zh())
    }
}

/// Where a case came from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// 监督员上报
    Inspector,
    /// 公众举报
    Public,
    /// 12345 热线
    Hotline,
    /// 视频智能识别
    VideoAi,
    /// 物联感知告警
    IotAlarm,
    /// 上级交办
    UpperLevel,
    /// 部门自查 (自处理: handled and closed by the reporter's own unit)
    SelfFound,
}

impl Source {
    pub const ALL: [Source; 7] = [
        Source::Inspector,
        Source::Public,
        Source::Hotline,
        Source::VideoAi,
        Source::IotAlarm,
        Source::UpperLevel,
        Source::SelfFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Inspector => "inspector",
            Source::Public => "public",
            Source::Hotline => "hotline",
            Source::VideoAi => "video_ai",
            Source::IotAlarm => "iot_alarm",
            Source::UpperLevel => "upper_level",
            Source::SelfFound => "self_found",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Source::Inspector => "监督员上报",
            Source::Public => "公众举报",
            Source::Hotline => "12345热线",
            Source::VideoAi => "视频智能识别",
            Source::IotAlarm => "物联感知告警",
            Source::UpperLevel => "上级交办",
            Source::SelfFound => "部门自查",
        }
    }

    /// Machine sources, whose cases the system may register and dispatch by
    /// itself when a rule says so ([`CaseSnapshot::auto_dispatch`]).
    pub fn is_automatic(self) -> bool {
        matches!(self, Source::VideoAi | Source::IotAlarm)
    }

    /// Whether a report from this source should normally be verified on site
    /// before registration: an inspector's own report or a department's own
    /// finding needs no second look; the others usually do. Advice for the
    /// intake screen; the clerk decides.
    pub fn suggests_verification(self) -> bool {
        !matches!(self, Source::Inspector | Source::SelfFound)
    }
}

/// How a case was closed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CloseKind {
    /// 正常结案: closed after a passed check, within its limits.
    Normal,
    /// 超期结案: closed after a passed check, but a limit was exceeded.
    Overdue,
    /// 错误结案: closed because the case was raised in error.
    Erroneous,
    /// 特殊结案: closed without a fix for a reason outside the departments' power.
    Special,
}

impl CloseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseKind::Normal => "normal",
            CloseKind::Overdue => "overdue",
            CloseKind::Erroneous => "erroneous",
            CloseKind::Special => "special",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            CloseKind::Normal => "正常结案",
            CloseKind::Overdue => "超期结案",
            CloseKind::Erroneous => "错误结案",
            CloseKind::Special => "特殊结案",
        }
    }
}

/// The state of an appeal (申诉) against a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppealStatus {
    Pending,
    /// The timeout is forgiven: the case no longer counts as overdue.
    Upheld,
    Rejected,
}

/// Who holds a case now: a department and, when assigned, one user in it
/// (the inspector sent to verify or check, the handler who accepted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Holder {
    pub department: String,
    pub user: Option<i64>,
}

impl Holder {
    pub fn department(code: impl Into<String>) -> Self {
        Self {
            department: code.into(),
            user: None,
        }
    }
}

/// What the workflow needs to know about a case to judge an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseSnapshot {
    pub state: CaseState,
    pub source: Source,
    pub urgency: Urgency,
    /// The command center that manages the case (its clerks, shift leaders
    /// and dispatchers act on it).
    pub center_department: String,
    /// The tier of that center; leaders of higher tiers may supervise.
    pub center_tier: Tier,
    pub holder: Holder,
    /// The department the case was dispatched to, while it is.
    pub handling_department: Option<String>,
    /// The reporter's department, for 自处理 of self-found cases.
    pub reporter_department: Option<String>,
    /// The inspector's answer to 核实, once given.
    pub report_confirmed: Option<bool>,
    /// 挂账: the running clock is paused.
    pub on_hold: bool,
    /// The extra time a handler asked for, while the request is open.
    pub extension_pending: Option<TimeLimit>,
    pub extension_count: u32,
    /// Failed checks (返工) so far.
    pub rework_count: u32,
    /// Supervision notices (督办) so far.
    pub supervision_count: u32,
    /// Set by the timer service when a limit of this case was exceeded.
    pub overdue: bool,
    pub appeal: Option<AppealStatus>,
    /// Set by the intake service when a rule lets the system register and
    /// dispatch this case of an automatic source without a clerk.
    pub auto_dispatch: bool,
    pub close_kind: Option<CloseKind>,
}

impl CaseSnapshot {
    /// A freshly reported case held by its command center.
    pub fn reported(
        source: Source,
        urgency: Urgency,
        center_department: impl Into<String>,
        center_tier: Tier,
    ) -> Self {
        let center = center_department.into();
        Self {
            state: CaseState::Reported,
            source,
            urgency,
            holder: Holder::department(center.clone()),
            center_department: center,
            center_tier,
            handling_department: None,
            reporter_department: None,
            report_confirmed: None,
            on_hold: false,
            extension_pending: None,
            extension_count: 0,
            rework_count: 0,
            supervision_count: 0,
            overdue: false,
            appeal: None,
            auto_dispatch: false,
            close_kind: None,
        }
    }
}

/// Who is acting: a user with positions in a department, or the system
/// itself (timer sweeps, automatic intake rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActorContext {
    /// The account id ([`crate::auth::User::id`]); `None` for the system.
    pub user_id: Option<i64>,
    pub roles: Vec<Position>,
    pub department_code: Option<String>,
    /// `Some(tier)` when the actor's department is a command center of that tier.
    pub command_center_tier: Option<Tier>,
    /// True for the system itself.
    pub system: bool,
}

impl ActorContext {
    pub fn user(
        user_id: i64,
        roles: Vec<Position>,
        department_code: impl Into<String>,
        command_center_tier: Option<Tier>,
    ) -> Self {
        Self {
            user_id: Some(user_id),
            roles,
            department_code: Some(department_code.into()),
            command_center_tier,
            system: false,
        }
    }

    pub fn system() -> Self {
        Self {
            user_id: None,
            roles: Vec::new(),
            department_code: None,
            command_center_tier: None,
            system: true,
        }
    }

    fn in_department(&self, code: &str) -> bool {
        self.department_code.as_deref() == Some(code)
    }
}

/// An action's name, without its details: what a button is, what a role
/// may do, what a flow record says happened.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CaseActionKind {
    Receive,
    RequestVerify,
    Verify,
    Register,
    Cancel,
    Dispatch,
    Accept,
    Return,
    ApproveReturn,
    RejectReturn,
    RequestExtension,
    ApproveExtension,
    RejectExtension,
    Hang,
    Resume,
    Supervise,
    Feedback,
    RequestCheck,
    CheckPass,
    CheckFail,
    Close,
    SpecialClose,
    Appeal,
    DecideAppeal,
    SelfHandle,
}

impl CaseActionKind {
    pub const ALL: [CaseActionKind; 25] = [
        CaseActionKind::Receive,
        CaseActionKind::RequestVerify,
        CaseActionKind::Verify,
        CaseActionKind::Register,
        CaseActionKind::Cancel,
        CaseActionKind::Dispatch,
        CaseActionKind::Accept,
        CaseActionKind::Return,
        CaseActionKind::ApproveReturn,
        CaseActionKind::RejectReturn,
        CaseActionKind::RequestExtension,
        CaseActionKind::ApproveExtension,
        CaseActionKind::RejectExtension,
        CaseActionKind::Hang,
        CaseActionKind::Resume,
        CaseActionKind::Supervise,
        CaseActionKind::Feedback,
        CaseActionKind::RequestCheck,
        CaseActionKind::CheckPass,
        CaseActionKind::CheckFail,
        CaseActionKind::Close,
        CaseActionKind::SpecialClose,
        CaseActionKind::Appeal,
        CaseActionKind::DecideAppeal,
        CaseActionKind::SelfHandle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseActionKind::Receive => "receive",
            CaseActionKind::RequestVerify => "request_verify",
            CaseActionKind::Verify => "verify",
            CaseActionKind::Register => "register",
            CaseActionKind::Cancel => "cancel",
            CaseActionKind::Dispatch => "dispatch",
            CaseActionKind::Accept => "accept",
            CaseActionKind::Return => "return",
            CaseActionKind::ApproveReturn => "approve_return",
            CaseActionKind::RejectReturn => "reject_return",
            CaseActionKind::RequestExtension => "request_extension",
            CaseActionKind::ApproveExtension => "approve_extension",
            CaseActionKind::RejectExtension => "reject_extension",
            CaseActionKind::Hang => "hang",
            CaseActionKind::Resume => "resume",
            CaseActionKind::Supervise => "supervise",
            CaseActionKind::Feedback => "feedback",
            CaseActionKind::RequestCheck => "request_check",
            CaseActionKind::CheckPass => "check_pass",
            CaseActionKind::CheckFail => "check_fail",
            CaseActionKind::Close => "close",
            CaseActionKind::SpecialClose => "special_close",
            CaseActionKind::Appeal => "appeal",
            CaseActionKind::DecideAppeal => "decide_appeal",
            CaseActionKind::SelfHandle => "self_handle",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            CaseActionKind::Receive => "受理",
            CaseActionKind::RequestVerify => "派核实",
            CaseActionKind::Verify => "核实",
            CaseActionKind::Register => "立案",
            CaseActionKind::Cancel => "作废",
            CaseActionKind::Dispatch => "派遣",
            CaseActionKind::Accept => "签收",
            CaseActionKind::Return => "回退",
            CaseActionKind::ApproveReturn => "同意回退",
            CaseActionKind::RejectReturn => "不同意回退",
            CaseActionKind::RequestExtension => "申请延期",
            CaseActionKind::ApproveExtension => "批准延期",
            CaseActionKind::RejectExtension => "驳回延期",
            CaseActionKind::Hang => "挂账",
            CaseActionKind::Resume => "恢复",
            CaseActionKind::Supervise => "督办",
            CaseActionKind::Feedback => "处置反馈",
            CaseActionKind::RequestCheck => "派核查",
            CaseActionKind::CheckPass => "核查通过",
            CaseActionKind::CheckFail => "返工",
            CaseActionKind::Close => "结案",
            CaseActionKind::SpecialClose => "特殊结案",
            CaseActionKind::Appeal => "申诉",
            CaseActionKind::DecideAppeal => "申诉裁定",
            CaseActionKind::SelfHandle => "自处理",
        }
    }
}

impl fmt::Display for CaseActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.label_zh())
    }
}

/// An action with its details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CaseAction {
    /// 受理: the clerk takes the report in without asking for verification.
    Receive,
    /// 派核实: the clerk sends an inspector (or any inspector, `None`) to verify.
    RequestVerify {
        inspector: Option<i64>,
    },
    /// 核实: the inspector answers whether the problem exists.
    Verify {
        confirmed: bool,
    },
    /// 立案
    Register,
    /// 作废
    Cancel,
    /// 派遣 to a department (and optionally one of its users).
    Dispatch {
        department: String,
        user: Option<i64>,
    },
    /// 签收
    Accept,
    /// 回退: one step back, with a mandatory opinion. From a department it
    /// goes to the dispatcher for approval.
    Return,
    ApproveReturn,
    RejectReturn,
    /// 申请延期 by `extra` more time.
    RequestExtension {
        extra: TimeLimit,
    },
    /// 批准延期, granting the requested time or `extra` instead.
    ApproveExtension {
        extra: Option<TimeLimit>,
    },
    RejectExtension,
    /// 挂账: pause the clock.
    Hang,
    /// 恢复
    Resume,
    /// 督办
    Supervise,
    /// 处置反馈: the department reports the problem fixed.
    Feedback,
    /// 派核查
    RequestCheck {
        inspector: Option<i64>,
    },
    CheckPass,
    /// 返工: the check failed; back to the department.
    CheckFail,
    /// 结案 after a passed check; normal or overdue is decided by the clock.
    Close,
    /// 错误结案 or 特殊结案 before the loop is complete (`kind` must be one of those).
    SpecialClose {
        kind: CloseKind,
    },
    /// 申诉 against a timeout.
    Appeal,
    DecideAppeal {
        upheld: bool,
    },
    /// 自处理: a department closes a problem it found and fixed itself.
    SelfHandle,
}

impl CaseAction {
    pub fn kind(&self) -> CaseActionKind {
        match self {
            CaseAction::Receive => CaseActionKind::Receive,
            CaseAction::RequestVerify { .. } => CaseActionKind::RequestVerify,
            CaseAction::Verify { .. } => CaseActionKind::Verify,
            CaseAction::Register => CaseActionKind::Register,
            CaseAction::Cancel => CaseActionKind::Cancel,
            CaseAction::Dispatch { .. } => CaseActionKind::Dispatch,
            CaseAction::Accept => CaseActionKind::Accept,
            CaseAction::Return => CaseActionKind::Return,
            CaseAction::ApproveReturn => CaseActionKind::ApproveReturn,
            CaseAction::RejectReturn => CaseActionKind::RejectReturn,
            CaseAction::RequestExtension { .. } => CaseActionKind::RequestExtension,
            CaseAction::ApproveExtension { .. } => CaseActionKind::ApproveExtension,
            CaseAction::RejectExtension => CaseActionKind::RejectExtension,
            CaseAction::Hang => CaseActionKind::Hang,
            CaseAction::Resume => CaseActionKind::Resume,
            CaseAction::Supervise => CaseActionKind::Supervise,
            CaseAction::Feedback => CaseActionKind::Feedback,
            CaseAction::RequestCheck { .. } => CaseActionKind::RequestCheck,
            CaseAction::CheckPass => CaseActionKind::CheckPass,
            CaseAction::CheckFail => CaseActionKind::CheckFail,
            CaseAction::Close => CaseActionKind::Close,
            CaseAction::SpecialClose { .. } => CaseActionKind::SpecialClose,
            CaseAction::Appeal => CaseActionKind::Appeal,
            CaseAction::DecideAppeal { .. } => CaseActionKind::DecideAppeal,
            CaseAction::SelfHandle => CaseActionKind::SelfHandle,
        }
    }
}

/// An action as a user submits it: the action, an opinion (意见) and
/// references to attachments already uploaded (photos, documents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionRequest {
    #[serde(flatten)]
    pub action: CaseAction,
    #[serde(default)]
    pub opinion: Option<String>,
    #[serde(default)]
    pub attachments: Vec<String>,
    /// What closing achieved (theft solved, vehicle recovered): only with
    /// `close` or `special_close`; stored in the close record's detail so
    /// scenario KPIs (破案率, 找回率) count it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CaseOutcome>,
}

/// The outcome a closing opinion marks, as data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseOutcome {
    /// The case was solved (e.g. 破案: the theft was cleared up).
    #[serde(default)]
    pub solved: bool,
    /// The object was recovered (e.g. 找回: the vehicle was returned).
    #[serde(default)]
    pub recovered: bool,
}

impl ActionRequest {
    pub fn new(action: CaseAction) -> Self {
        Self {
            action,
            opinion: None,
            attachments: Vec::new(),
            outcome: None,
        }
    }

    pub fn with_outcome(mut self, outcome: CaseOutcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    pub fn with_opinion(mut self, opinion: impl Into<String>) -> Self {
        self.opinion = Some(opinion.into());
        self
    }
}

/// The most characters an opinion may have.
pub const MAX_OPINION_CHARS: usize = 2_000;
/// The most attachments one action may carry.
pub const MAX_ATTACHMENTS: usize = 20;

/// What a transition asks the timer service to do with a case's clocks.
/// `Start` begins a fresh clock whose limit the service looks up in the
/// [`super::calendar::LimitStandard`]; `Pause`/`Resume` bracket time on hold;
/// `Extend` adds granted time to the running clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TimerEffect {
    Start { clock: Clock },
    Stop { clock: Clock },
    Pause { clock: Clock },
    Resume { clock: Clock },
    Extend { clock: Clock, by: TimeLimit },
}

/// A flow record (流转记录) before the store gives it an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlowRecordDraft {
    pub action: CaseActionKind,
    /// The action with its details (department dispatched to, time granted …).
    pub detail: CaseAction,
    pub from: CaseState,
    pub to: CaseState,
    /// `None` for the system.
    pub actor_user: Option<i64>,
    pub actor_department: Option<String>,
    /// The position the actor acted in; `None` for the system.
    pub acted_as: Option<Position>,
    pub at: DateTime<Utc>,
    pub opinion: Option<String>,
    pub opinion_required: bool,
    pub attachments: Vec<String>,
}

/// An accepted action: the case after it, the record and the timer effects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transition {
    pub case: CaseSnapshot,
    pub record: FlowRecordDraft,
    pub timers: Vec<TimerEffect>,
}

impl Transition {
    pub fn new_state(&self) -> CaseState {
        self.case.state
    }

    pub fn new_holder(&self) -> &Holder {
        &self.case.holder
    }
}

/// Why an action was refused, for mapping to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The action does not apply to the case as it is now (state or flags).
    WrongState,
    /// None of the actor's positions may take this action.
    NotPermitted,
    /// The actor may take it in principle but does not hold the case.
    NotHolder,
    /// The action needs an opinion and none was given.
    OpinionRequired,
    /// A detail of the request is wrong (a blank department, a bad limit …).
    BadRequest,
}

/// A refused action: the case's state, what was wrong, and what the actor
/// may do instead.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, thiserror::Error,
)]
#[error("{action} refused for a case in state {state}: {message}")]
pub struct Refusal {
    pub action: CaseActionKind,
    pub state: CaseState,
    pub reason: RefusalReason,
    pub message: String,
    /// The actions this actor may take on the case now.
    pub allowed: Vec<CaseActionKind>,
}

/// The data part of the workflow: which positions may take each action,
/// which actions need an opinion, and which the system may take alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct WorkflowRules {
    pub permissions: BTreeMap<CaseActionKind, BTreeSet<Position>>,
    pub opinion_required: BTreeSet<CaseActionKind>,
    /// Actions the system itself may take: supervising overdue cases, and
    /// registering and dispatching cases marked for automatic dispatch.
    pub system_actions: BTreeSet<CaseActionKind>,
}

impl Default for WorkflowRules {
    /// - 受理员: receive, request verification and checks, cancel invalid reports;
    /// - 值班长: register, cancel, return to intake, hang/resume, close, special close, decide appeals;
    /// - 派遣员: dispatch, decide returns and extensions, return to the shift
    ///   leader, hang/resume, close;
    /// - 处置人员: accept, return, request extension, feed back, appeal, self-handle;
    /// - 监督员: verify and check;
    /// - 领导: supervise and decide appeals; 管理员: nothing in the workflow.
    ///
    /// Opinions are required for 回退, 作废, 返工, 驳回延期, 申诉 and also for
    /// 挂账/恢复, 申请延期, 不同意回退 and 特殊结案, whose reason must be on record.
    fn default() -> Self {
        use CaseActionKind as A;
        use Position as P;
        let table: [(A, &[P]); 25] = [
            (A::Receive, &[P::Clerk]),
            (A::RequestVerify, &[P::Clerk]),
            (A::Verify, &[P::Inspector]),
            (A::Register, &[P::ShiftLeader]),
            (A::Cancel, &[P::Clerk, P::ShiftLeader]),
            (A::Dispatch, &[P::Dispatcher]),
            (A::Accept, &[P::Handler]),
            (A::Return, &[P::Handler, P::Dispatcher, P::ShiftLeader]),
            (A::ApproveReturn, &[P::Dispatcher]),
            (A::RejectReturn, &[P::Dispatcher]),
            (A::RequestExtension, &[P::Handler]),
            (A::ApproveExtension, &[P::Dispatcher]),
            (A::RejectExtension, &[P::Dispatcher]),
            (A::Hang, &[P::Dispatcher, P::ShiftLeader]),
            (A::Resume, &[P::Dispatcher, P::ShiftLeader]),
            (A::Supervise, &[P::Leader]),
            (A::Feedback, &[P::Handler]),
            (A::RequestCheck, &[P::Clerk]),
            (A::CheckPass, &[P::Inspector]),
            (A::CheckFail, &[P::Inspector]),
            (A::Close, &[P::Dispatcher, P::ShiftLeader]),
            (A::SpecialClose, &[P::ShiftLeader]),
            (A::Appeal, &[P::Handler]),
            (A::DecideAppeal, &[P::Leader, P::ShiftLeader]),
            (A::SelfHandle, &[P::Handler]),
        ];
        Self {
            permissions: table
                .into_iter()
                .map(|(a, ps)| (a, ps.iter().copied().collect()))
                .collect(),
            opinion_required: [
                A::Return,
                A::Cancel,
                A::CheckFail,
                A::RejectExtension,
                A::Appeal,
                A::Hang,
                A::Resume,
                A::RequestExtension,
                A::RejectReturn,
                A::SpecialClose,
            ]
            .into_iter()
            .collect(),
            system_actions: [A::Supervise, A::Register, A::Dispatch]
                .into_iter()
                .collect(),
        }
    }
}

/// Who must act on a case for an action to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    /// Staff of the command center managing the case.
    Center,
    /// Staff of the department that holds the case now.
    HoldingDepartment,
    /// Staff of the department the case was dispatched to.
    HandlingDepartment,
    /// The inspector the task was sent to (or any inspector if none was named).
    AssignedInspector,
    /// Staff of the reporter's department.
    ReporterDepartment,
    /// The managing center, or a command center of a higher tier.
    Supervisor,
}

/// Positions that act for a command center, never for a handling department.
const CENTER_POSITIONS: [Position; 3] =
    [Position::Clerk, Position::ShiftLeader, Position::Dispatcher];

fn party(kind: CaseActionKind, state: CaseState) -> Party {
    use CaseActionKind as A;
    match kind {
        A::Return if matches!(state, CaseState::Dispatched | CaseState::Handling) => {
            Party::HoldingDepartment
        }
        A::Accept | A::RequestExtension | A::Feedback => Party::HoldingDepartment,
        A::Appeal => Party::HandlingDepartment,
        A::Verify | A::CheckPass | A::CheckFail => Party::AssignedInspector,
        A::SelfHandle => Party::ReporterDepartment,
        A::Supervise => Party::Supervisor,
        _ => Party::Center,
    }
}

fn party_admits(party: Party, position: Position) -> bool {
    match party {
        Party::Center => position != Position::Handler,
        Party::HoldingDepartment | Party::HandlingDepartment | Party::ReporterDepartment => {
            !CENTER_POSITIONS.contains(&position)
        }
        Party::AssignedInspector | Party::Supervisor => true,
    }
}

/// The states an action applies in (flags are checked separately).
fn from_states(kind: CaseActionKind) -> &'static [CaseState] {
    use CaseActionKind as A;
    use CaseState as S;
    const ACTIVE: &[CaseState] = &[
        S::Reported,
        S::AwaitingVerification,
        S::AwaitingRegistration,
        S::Registered,
        S::Dispatched,
        S::Handling,
        S::ReturnRequested,
        S::FeedbackGiven,
        S::AwaitingCheck,
        S::CheckPassed,
    ];
    match kind {
        A::Receive => &[S::Reported],
        A::RequestVerify => &[S::Reported, S::AwaitingRegistration],
        A::Verify => &[S::AwaitingVerification],
        A::Register => &[S::Reported, S::AwaitingRegistration],
        A::Cancel => &[
            S::Reported,
            S::AwaitingVerification,
            S::AwaitingRegistration,
        ],
        A::Dispatch => &[S::Registered],
        A::Accept => &[S::Dispatched],
        A::Return => &[
            S::AwaitingRegistration,
            S::Registered,
            S::Dispatched,
            S::Handling,
        ],
        A::ApproveReturn | A::RejectReturn => &[S::ReturnRequested],
        A::RequestExtension | A::ApproveExtension | A::RejectExtension => {
            &[S::Dispatched, S::Handling]
        }
        A::Hang | A::Resume | A::Supervise => ACTIVE,
        A::Feedback => &[S::Handling],
        A::RequestCheck => &[S::FeedbackGiven],
        A::CheckPass | A::CheckFail => &[S::AwaitingCheck],
        A::Close => &[S::CheckPassed],
        A::SpecialClose => &[
            S::Registered,
            S::Dispatched,
            S::Handling,
            S::ReturnRequested,
            S::FeedbackGiven,
            S::AwaitingCheck,
            S::CheckPassed,
        ],
        A::Appeal | A::DecideAppeal => &[
            S::AwaitingVerification,
            S::AwaitingRegistration,
            S::Registered,
            S::Dispatched,
            S::Handling,
            S::ReturnRequested,
            S::FeedbackGiven,
            S::AwaitingCheck,
            S::CheckPassed,
            S::Closed,
        ],
        A::SelfHandle => &[S::Reported],
    }
}

type Check = Result<Option<Position>, (RefusalReason, String)>;

impl WorkflowRules {
    /// The actions `actor` may take on `case` now, in [`CaseActionKind::ALL`]
    /// order: exactly the buttons to show.
    pub fn allowed_actions(
        &self,
        case: &CaseSnapshot,
        actor: &ActorContext,
    ) -> Vec<CaseActionKind> {
        CaseActionKind::ALL
            .into_iter()
            .filter(|k| self.check(case, actor, *k).is_ok())
            .collect()
    }

    /// Applies `request` to `case` on behalf of `actor` at `now`.
    pub fn transition(
        &self,
        case: &CaseSnapshot,
        actor: &ActorContext,
        request: &ActionRequest,
        now: DateTime<Utc>,
    ) -> Result<Transition, Refusal> {
        let kind = request.action.kind();
        let refuse = |(reason, message): (RefusalReason, String)| Refusal {
            action: kind,
            state: case.state,
            reason,
            message,
            allowed: self.allowed_actions(case, actor),
        };
        let acted_as = self.check(case, actor, kind).map_err(refuse)?;
        let opinion = request
            .opinion
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string);
        let opinion_required = self.opinion_required.contains(&kind);
        if opinion_required && opinion.is_none() {
            return Err(refuse((
                RefusalReason::OpinionRequired,
                format!("{kind} needs an opinion (意见) saying why"),
            )));
        }
        if opinion
            .as_ref()
            .is_some_and(|o| o.chars().count() > MAX_OPINION_CHARS)
        {
            return Err(refuse((
                RefusalReason::BadRequest,
                format!("the opinion is longer than {MAX_OPINION_CHARS} characters"),
            )));
        }
        if request.attachments.len() > MAX_ATTACHMENTS {
            return Err(refuse((
                RefusalReason::BadRequest,
                format!(
                    "{} attachments given; at most {MAX_ATTACHMENTS} per action",
                    request.attachments.len()
                ),
            )));
        }
        if let Some(i) = request
            .attachments
            .iter()
            .position(|a| a.trim().is_empty() || a.len() > 512)
        {
            return Err(refuse((
                RefusalReason::BadRequest,
                format!("attachments[{i}] must be a reference of 1-512 characters"),
            )));
        }
        let (next, mut timers) = apply(case, actor, &request.action).map_err(refuse)?;
        // Clocks follow the states: leaving a state stops its clock, entering
        // one starts the next (hold and extension effects come from `apply`).
        let (old_clock, new_clock) = (case.state.running_clock(), next.state.running_clock());
        if old_clock != new_clock {
            let mut moves = Vec::new();
            if let Some(clock) = old_clock {
                moves.push(TimerEffect::Stop { clock });
            }
            if let Some(clock) = new_clock {
                moves.push(TimerEffect::Start { clock });
            }
            moves.append(&mut timers);
            timers = moves;
        }
        Ok(Transition {
            record: FlowRecordDraft {
                action: kind,
                detail: request.action.clone(),
                from: case.state,
                to: next.state,
                actor_user: actor.user_id,
                actor_department: actor.department_code.clone(),
                acted_as,
                at: now,
                opinion,
                opinion_required,
                attachments: request.attachments.clone(),
            },
            case: next,
            timers,
        })
    }

    /// Whether `actor` may take `kind` on `case`, ignoring the request's
    /// details; the position the actor acts in (`None` for the system).
    fn check(&self, case: &CaseSnapshot, actor: &ActorContext, kind: CaseActionKind) -> Check {
        use CaseActionKind as A;
        let wrong = |m: String| Err((RefusalReason::WrongState, m));
        if !from_states(kind).contains(&case.state) {
            return wrong(if case.state.is_final() {
                format!("the case is {} and takes no {kind}", case.state)
            } else {
                format!("{kind} does not apply to a case that is {}", case.state)
            });
        }
        // Flags.
        let on_hold_ok = matches!(kind, A::Resume | A::Supervise | A::Appeal | A::DecideAppeal);
        if case.on_hold && !on_hold_ok {
            return wrong(format!(
                "the case is on hold (挂账); resume it before {kind}"
            ));
        }
        match kind {
            A::Hang if case.on_hold => return wrong("the case is already on hold".into()),
            A::Resume if !case.on_hold => return wrong("the case is not on hold".into()),
            A::RequestExtension if case.extension_pending.is_some() => {
                return wrong("an extension request is already waiting for the dispatcher".into());
            }
            A::ApproveExtension | A::RejectExtension if case.extension_pending.is_none() => {
                return wrong("no extension was requested".into());
            }
            A::Appeal if !case.overdue => {
                return wrong("only a case that ran over a time limit can be appealed".into());
            }
            A::Appeal if case.appeal.is_some() => {
                return wrong("the timeout of this case was already appealed".into());
            }
            A::DecideAppeal if case.appeal != Some(AppealStatus::Pending) => {
                return wrong("no appeal is waiting for a decision".into());
            }
            A::SelfHandle if case.source != Source::SelfFound => {
                return wrong(format!(
                    "only cases a department found itself can be self-handled; this one came from {}",
                    case.source.label_zh()
                ));
            }
            _ => {}
        }
        // The system.
        if actor.system {
            if !self.system_actions.contains(&kind) {
                return Err((
                    RefusalReason::NotPermitted,
                    format!("the system does not take {kind} by itself"),
                ));
            }
            return match kind {
                A::Supervise if !case.overdue => {
                    wrong("the system supervises overdue cases only".into())
                }
                A::Register | A::Dispatch
                    if !(case.auto_dispatch && case.source.is_automatic()) =>
                {
                    Err((
                        RefusalReason::NotPermitted,
                        format!(
                            "the system may {kind} only cases of automatic sources that a rule marks for automatic dispatch"
                        ),
                    ))
                }
                _ => Ok(None),
            };
        }
        if kind == A::Register && case.state == CaseState::Reported {
            return wrong("a report must be received (受理) before it is registered; only automatic dispatch registers it directly".into());
        }
        // Positions.
        let party = party(kind, case.state);
        let permitted = self.permissions.get(&kind);
        let Some(position) = actor
            .roles
            .iter()
            .copied()
            .find(|p| permitted.is_some_and(|set| set.contains(p)) && party_admits(party, *p))
        else {
            let needed: Vec<&str> = permitted
                .into_iter()
                .flatten()
                .filter(|p| party_admits(party, **p))
                .map(|p| p.label_zh())
                .collect();
            return Err((
                RefusalReason::NotPermitted,
                if needed.is_empty() {
                    format!("no position may take {kind} here")
                } else {
                    format!("{kind} needs the position {}", needed.join(" or "))
                },
            ));
        };
        // Holding.
        let not_holder = |m: String| Err((RefusalReason::NotHolder, m));
        match party {
            Party::Center if !actor.in_department(&case.center_department) => not_holder(format!(
                "the case is managed by {}; only its staff may take {kind}",
                case.center_department
            )),
            Party::HoldingDepartment if !actor.in_department(&case.holder.department) => {
                not_holder(format!(
                    "the case is held by {}; only its staff may take {kind}",
                    case.holder.department
                ))
            }
            Party::HandlingDepartment
                if !case
                    .handling_department
                    .as_deref()
                    .is_some_and(|d| actor.in_department(d)) =>
            {
                not_holder(format!(
                    "only the department the case was dispatched to ({}) may take {kind}",
                    case.handling_department.as_deref().unwrap_or("none")
                ))
            }
            Party::AssignedInspector
                if case.holder.user.is_some() && case.holder.user != actor.user_id =>
            {
                not_holder(format!(
                    "the task was sent to another inspector; only they may take {kind}"
                ))
            }
            Party::ReporterDepartment
                if !case
                    .reporter_department
                    .as_deref()
                    .is_some_and(|d| actor.in_department(d)) =>
            {
                not_holder(format!(
                    "only the reporting department ({}) may self-handle the case",
                    case.reporter_department.as_deref().unwrap_or("unknown")
                ))
            }
            Party::Supervisor
                if !(actor.in_department(&case.center_department)
                    || actor
                        .command_center_tier
                        .is_some_and(|t| t < case.center_tier)) =>
            {
                not_holder(format!(
                    "only leaders of {} or of a higher-tier command center may supervise",
                    case.center_department
                ))
            }
            _ => Ok(Some(position)),
        }
    }
}

/// The case after an action that passed [`WorkflowRules::check`], and the
/// hold and extension timer effects.
fn apply(
    case: &CaseSnapshot,
    actor: &ActorContext,
    action: &CaseAction,
) -> Result<(CaseSnapshot, Vec<TimerEffect>), (RefusalReason, String)> {
    use CaseState as S;
    let bad = |m: String| Err((RefusalReason::BadRequest, m));
    let mut next = case.clone();
    let mut timers = Vec::new();
    let center = Holder::department(case.center_department.clone());
    match action {
        CaseAction::Receive => {
            next.state = S::AwaitingRegistration;
            next.holder = center;
        }
        CaseAction::RequestVerify { inspector } => {
            next.state = S::AwaitingVerification;
            next.holder = Holder {
                department: case.center_department.clone(),
                user: *inspector,
            };
        }
        CaseAction::Verify { confirmed } => {
            next.state = S::AwaitingRegistration;
            next.holder = center;
            next.report_confirmed = Some(*confirmed);
        }
        CaseAction::Register => {
            next.state = S::Registered;
            next.holder = center;
        }
        CaseAction::Cancel => {
            next.state = S::Cancelled;
            next.holder = center;
        }
        CaseAction::Dispatch { department, user } => {
            let department = department.trim();
            if department.is_empty() || department.len() > 64 {
                return bad("dispatch needs the code of the department to send the case to".into());
            }
            next.state = S::Dispatched;
            next.holder = Holder {
                department: department.to_string(),
                user: *user,
            };
            next.handling_department = Some(department.to_string());
        }
        CaseAction::Accept => {
            next.state = S::Handling;
            next.holder.user = actor.user_id;
        }
        CaseAction::Return => match case.state {
            S::AwaitingRegistration => {
                next.state = S::Reported;
                next.holder = center;
            }
            S::Registered => {
                next.state = S::AwaitingRegistration;
                next.holder = center;
            }
            _ => {
                next.state = S::ReturnRequested;
                next.holder = center;
            }
        },
        CaseAction::ApproveReturn => {
            next.state = S::Registered;
            next.holder = center;
            next.handling_department = None;
            next.extension_pending = None;
        }
        CaseAction::RejectReturn => {
            next.state = S::Dispatched;
            next.holder = Holder::department(
                case.handling_department
                    .clone()
                    .unwrap_or_else(|| case.center_department.clone()),
            );
        }
        CaseAction::RequestExtension { extra } => {
            extra.validate().map_err(|e| {
                (
                    RefusalReason::BadRequest,
                    format!("extension {}", e.message),
                )
            })?;
            next.extension_pending = Some(*extra);
        }
        CaseAction::ApproveExtension { extra } => {
            let Some(granted) = extra.or(case.extension_pending) else {
                return bad("no extension time was requested or granted".into());
            };
            granted.validate().map_err(|e| {
                (
                    RefusalReason::BadRequest,
                    format!("extension {}", e.message),
                )
            })?;
            next.extension_pending = None;
            next.extension_count += 1;
            timers.push(TimerEffect::Extend {
                clock: Clock::Dispose,
                by: granted,
            });
        }
        CaseAction::RejectExtension => {
            next.extension_pending = None;
        }
        CaseAction::Hang => {
            next.on_hold = true;
            if let Some(clock) = case.state.running_clock() {
                timers.push(TimerEffect::Pause { clock });
            }
        }
        CaseAction::Resume => {
            next.on_hold = false;
            if let Some(clock) = case.state.running_clock() {
                timers.push(TimerEffect::Resume { clock });
            }
        }
        CaseAction::Supervise => {
            next.supervision_count += 1;
        }
        CaseAction::Feedback => {
            next.state = S::FeedbackGiven;
            next.holder = center;
            next.extension_pending = None;
        }
        CaseAction::RequestCheck { inspector } => {
            next.state = S::AwaitingCheck;
            next.holder = Holder {
                department: case.center_department.clone(),
                user: *inspector,
            };
        }
        CaseAction::CheckPass => {
            next.state = S::CheckPassed;
            next.holder = center;
        }
        CaseAction::CheckFail => {
            next.state = S::Handling;
            next.holder = Holder::department(
                case.handling_department
                    .clone()
                    .unwrap_or_else(|| case.center_department.clone()),
            );
            next.rework_count += 1;
        }
        CaseAction::Close => {
            next.state = S::Closed;
            next.holder = center;
            next.close_kind = Some(
                if case.overdue && case.appeal != Some(AppealStatus::Upheld) {
                    CloseKind::Overdue
                } else {
                    CloseKind::Normal
                },
            );
        }
        CaseAction::SpecialClose { kind } => {
            if !matches!(kind, CloseKind::Erroneous | CloseKind::Special) {
                return bad(format!(
                    "special close is for 错误结案 or 特殊结案; {} is decided by the clock when the case is closed after its check",
                    kind.label_zh()
                ));
            }
            next.state = S::Closed;
            next.holder = center;
            next.close_kind = Some(*kind);
            next.extension_pending = None;
        }
        CaseAction::Appeal => {
            next.appeal = Some(AppealStatus::Pending);
        }
        CaseAction::DecideAppeal { upheld } => {
            if *upheld {
                next.appeal = Some(AppealStatus::Upheld);
                next.overdue = false;
                if case.close_kind == Some(CloseKind::Overdue) {
                    next.close_kind = Some(CloseKind::Normal);
                }
            } else {
                next.appeal = Some(AppealStatus::Rejected);
            }
        }
        CaseAction::SelfHandle => {
            let department = case.reporter_department.clone().unwrap_or_default();
            next.state = S::Closed;
            next.holder = Holder::department(department.clone());
            next.handling_department = Some(department);
            next.close_kind = Some(CloseKind::Normal);
        }
    }
    Ok((next, timers))
}

/// [`WorkflowRules::allowed_actions`] with the default rules.
pub fn allowed_actions(case: &CaseSnapshot, actor: &ActorContext) -> Vec<CaseActionKind> {
    default_rules().allowed_actions(case, actor)
}

/// [`WorkflowRules::transition`] with the default rules.
pub fn transition(
    case: &CaseSnapshot,
    actor: &ActorContext,
    request: &ActionRequest,
    now: DateTime<Utc>,
) -> Result<Transition, Refusal> {
    default_rules().transition(case, actor, request, now)
}

fn default_rules() -> &'static WorkflowRules {
    static RULES: std::sync::OnceLock<WorkflowRules> = std::sync::OnceLock::new();
    RULES.get_or_init(WorkflowRules::default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::calendar::LimitUnit;
    use CaseActionKind as K;
    use CaseState as S;
    use chrono::TimeZone;

    const CENTER: &str = "YH-CENTER";
    const CGJ: &str = "YH-CGJ";
    const SZJ: &str = "YH-SZJ";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
    }

    fn at_center(id: i64, p: Position) -> ActorContext {
        ActorContext::user(id, vec![p], CENTER, Some(Tier::District))
    }
    fn clerk() -> ActorContext {
        at_center(1, Position::Clerk)
    }
    fn shift_leader() -> ActorContext {
        at_center(2, Position::ShiftLeader)
    }
    fn dispatcher() -> ActorContext {
        at_center(3, Position::Dispatcher)
    }
    fn inspector() -> ActorContext {
        at_center(4, Position::Inspector)
    }
    fn other_inspector() -> ActorContext {
        at_center(14, Position::Inspector)
    }
    fn handler() -> ActorContext {
        ActorContext::user(5, vec![Position::Handler], CGJ, None)
    }
    fn other_handler() -> ActorContext {
        ActorContext::user(6, vec![Position::Handler], SZJ, None)
    }
    fn leader() -> ActorContext {
        at_center(7, Position::Leader)
    }
    fn city_leader() -> ActorContext {
        ActorContext::user(8, vec![Position::Leader], "YT-CENTER", Some(Tier::City))
    }
    fn street_leader() -> ActorContext {
        ActorContext::user(9, vec![Position::Leader], "YH-JD", Some(Tier::Street))
    }
    fn admin() -> ActorContext {
        at_center(10, Position::Admin)
    }

    fn reported() -> CaseSnapshot {
        CaseSnapshot::reported(Source::Public, Urgency::Normal, CENTER, Tier::District)
    }

    /// A case in `state` as the loop would leave it, dispatched to 城管局.
    fn case_in(state: CaseState) -> CaseSnapshot {
        let mut c = reported();
        c.state = state;
        match state {
            S::AwaitingVerification | S::AwaitingCheck => c.holder.user = Some(4),
            S::Dispatched | S::Handling => {
                c.holder = Holder::department(CGJ);
                c.handling_department = Some(CGJ.into());
            }
            S::ReturnRequested | S::FeedbackGiven | S::CheckPassed | S::Closed => {
                c.handling_department = Some(CGJ.into());
            }
            _ => {}
        }
        c
    }

    fn act(
        case: &CaseSnapshot,
        actor: &ActorContext,
        action: CaseAction,
    ) -> Result<Transition, Refusal> {
        transition(case, actor, &ActionRequest::new(action), now())
    }

    fn act_with(
        case: &CaseSnapshot,
        actor: &ActorContext,
        action: CaseAction,
    ) -> Result<Transition, Refusal> {
        transition(
            case,
            actor,
            &ActionRequest::new(action).with_opinion("理由"),
            now(),
        )
    }

    fn dispatch_to(dept: &str) -> CaseAction {
        CaseAction::Dispatch {
            department: dept.into(),
            user: None,
        }
    }

    #[test]
    fn the_whole_loop_with_an_extension_and_a_rework() {
        use TimerEffect::*;
        let mut c = reported();
        let steps: Vec<(ActorContext, CaseAction, CaseState, &str, Vec<TimerEffect>)> = vec![
            (
                clerk(),
                CaseAction::RequestVerify { inspector: Some(4) },
                S::AwaitingVerification,
                CENTER,
                vec![Start {
                    clock: Clock::Verify,
                }],
            ),
            (
                inspector(),
                CaseAction::Verify { confirmed: true },
                S::AwaitingRegistration,
                CENTER,
                vec![
                    Stop {
                        clock: Clock::Verify,
                    },
                    Start {
                        clock: Clock::RegisterDispatch,
                    },
                ],
            ),
            (
                shift_leader(),
                CaseAction::Register,
                S::Registered,
                CENTER,
                vec![],
            ),
            (
                dispatcher(),
                dispatch_to(CGJ),
                S::Dispatched,
                CGJ,
                vec![
                    Stop {
                        clock: Clock::RegisterDispatch,
                    },
                    Start {
                        clock: Clock::Dispose,
                    },
                ],
            ),
            (handler(), CaseAction::Accept, S::Handling, CGJ, vec![]),
            (
                handler(),
                CaseAction::RequestExtension {
                    extra: TimeLimit::new(1, LimitUnit::WorkDays),
                },
                S::Handling,
                CGJ,
                vec![],
            ),
            (
                dispatcher(),
                CaseAction::ApproveExtension { extra: None },
                S::Handling,
                CGJ,
                vec![Extend {
                    clock: Clock::Dispose,
                    by: TimeLimit::new(1, LimitUnit::WorkDays),
                }],
            ),
            (
                handler(),
                CaseAction::Feedback,
                S::FeedbackGiven,
                CENTER,
                vec![Stop {
                    clock: Clock::Dispose,
                }],
            ),
            (
                clerk(),
                CaseAction::RequestCheck { inspector: Some(4) },
                S::AwaitingCheck,
                CENTER,
                vec![Start {
                    clock: Clock::Check,
                }],
            ),
            (
                inspector(),
                CaseAction::CheckFail,
                S::Handling,
                CGJ,
                vec![
                    Stop {
                        clock: Clock::Check,
                    },
                    Start {
                        clock: Clock::Dispose,
                    },
                ],
            ),
            (
                handler(),
                CaseAction::Feedback,
                S::FeedbackGiven,
                CENTER,
                vec![Stop {
                    clock: Clock::Dispose,
                }],
            ),
            (
                clerk(),
                CaseAction::RequestCheck { inspector: None },
                S::AwaitingCheck,
                CENTER,
                vec![Start {
                    clock: Clock::Check,
                }],
            ),
            (
                other_inspector(),
                CaseAction::CheckPass,
                S::CheckPassed,
                CENTER,
                vec![Stop {
                    clock: Clock::Check,
                }],
            ),
            (dispatcher(), CaseAction::Close, S::Closed, CENTER, vec![]),
        ];
        for (actor, action, state, holder, timers) in steps {
            let kind = action.kind();
            assert!(
                allowed_actions(&c, &actor).contains(&kind),
                "{kind} should be offered in {}",
                c.state
            );
            let t = transition(
                &c,
                &actor,
                &ActionRequest::new(action).with_opinion("意见"),
                now(),
            )
            .unwrap_or_else(|r| panic!("{kind}: {r}"));
            assert_eq!(t.new_state(), state, "{kind}");
            assert_eq!(t.new_holder().department, holder, "{kind}");
            assert_eq!(t.timers, timers, "{kind}");
            assert_eq!(t.record.from, c.state);
            assert_eq!(t.record.to, state);
            assert_eq!(t.record.actor_user, actor.user_id);
            assert_eq!(t.record.acted_as, actor.roles.first().copied());
            assert_eq!(t.record.at, now());
            assert_eq!(t.record.opinion.as_deref(), Some("意见"));
            c = t.case;
        }
        assert_eq!(c.rework_count, 1);
        assert_eq!(c.extension_count, 1);
        assert_eq!(c.report_confirmed, Some(true));
        assert_eq!(c.close_kind, Some(CloseKind::Normal));
        assert!(allowed_actions(&c, &dispatcher()).is_empty());
    }

    #[test]
    fn the_buttons_each_role_sees() {
        let mut extension = case_in(S::Handling);
        extension.extension_pending = Some(TimeLimit::new(4, LimitUnit::WorkHours));
        let mut held = case_in(S::Handling);
        held.on_hold = true;
        let mut overdue_closed = case_in(S::Closed);
        overdue_closed.overdue = true;
        let cases: Vec<(&str, CaseSnapshot, ActorContext, Vec<K>)> = vec![
            (
                "clerk, new report",
                reported(),
                clerk(),
                vec![K::Receive, K::RequestVerify, K::Cancel],
            ),
            (
                "shift leader, new report",
                reported(),
                shift_leader(),
                vec![K::Cancel, K::Hang],
            ),
            (
                "dispatcher, new report",
                reported(),
                dispatcher(),
                vec![K::Hang],
            ),
            ("handler, new report", reported(), handler(), vec![]),
            ("admin, new report", reported(), admin(), vec![]),
            (
                "leader, new report",
                reported(),
                leader(),
                vec![K::Supervise],
            ),
            (
                "inspector, verify task",
                case_in(S::AwaitingVerification),
                inspector(),
                vec![K::Verify],
            ),
            (
                "other inspector, verify task",
                case_in(S::AwaitingVerification),
                other_inspector(),
                vec![],
            ),
            (
                "shift leader, to register",
                case_in(S::AwaitingRegistration),
                shift_leader(),
                vec![K::Register, K::Cancel, K::Return, K::Hang],
            ),
            (
                "clerk, to register",
                case_in(S::AwaitingRegistration),
                clerk(),
                vec![K::RequestVerify, K::Cancel],
            ),
            (
                "dispatcher, registered",
                case_in(S::Registered),
                dispatcher(),
                vec![K::Dispatch, K::Return, K::Hang],
            ),
            (
                "shift leader, registered",
                case_in(S::Registered),
                shift_leader(),
                vec![K::Return, K::Hang, K::SpecialClose],
            ),
            (
                "handler, dispatched",
                case_in(S::Dispatched),
                handler(),
                vec![K::Accept, K::Return, K::RequestExtension],
            ),
            (
                "wrong department, dispatched",
                case_in(S::Dispatched),
                other_handler(),
                vec![],
            ),
            (
                "handler, handling",
                case_in(S::Handling),
                handler(),
                vec![K::Return, K::RequestExtension, K::Feedback],
            ),
            (
                "dispatcher, handling",
                case_in(S::Handling),
                dispatcher(),
                vec![K::Hang],
            ),
            (
                "dispatcher, extension asked",
                extension.clone(),
                dispatcher(),
                vec![K::ApproveExtension, K::RejectExtension, K::Hang],
            ),
            (
                "handler, extension asked",
                extension,
                handler(),
                vec![K::Return, K::Feedback],
            ),
            (
                "dispatcher, on hold",
                held.clone(),
                dispatcher(),
                vec![K::Resume],
            ),
            ("handler, on hold", held, handler(), vec![]),
            (
                "dispatcher, return asked",
                case_in(S::ReturnRequested),
                dispatcher(),
                vec![K::ApproveReturn, K::RejectReturn, K::Hang],
            ),
            (
                "clerk, feedback given",
                case_in(S::FeedbackGiven),
                clerk(),
                vec![K::RequestCheck],
            ),
            (
                "inspector, check task",
                case_in(S::AwaitingCheck),
                inspector(),
                vec![K::CheckPass, K::CheckFail],
            ),
            (
                "dispatcher, check passed",
                case_in(S::CheckPassed),
                dispatcher(),
                vec![K::Hang, K::Close],
            ),
            (
                "shift leader, check passed",
                case_in(S::CheckPassed),
                shift_leader(),
                vec![K::Hang, K::Close, K::SpecialClose],
            ),
            (
                "handler, closed overdue",
                overdue_closed.clone(),
                handler(),
                vec![K::Appeal],
            ),
            (
                "other handler, closed overdue",
                overdue_closed,
                other_handler(),
                vec![],
            ),
            (
                "shift leader, cancelled",
                case_in(S::Cancelled),
                shift_leader(),
                vec![],
            ),
            (
                "system, new report",
                reported(),
                ActorContext::system(),
                vec![],
            ),
        ];
        for (what, case, actor, want) in cases {
            assert_eq!(allowed_actions(&case, &actor), want, "{what}");
        }
    }

    #[test]
    fn refusals_say_why_and_what_is_allowed() {
        let refusals: Vec<(&str, CaseSnapshot, ActorContext, CaseAction, RefusalReason)> = vec![
            (
                "dispatch before registration",
                case_in(S::AwaitingRegistration),
                dispatcher(),
                dispatch_to(CGJ),
                RefusalReason::WrongState,
            ),
            (
                "clerk dispatches",
                case_in(S::Registered),
                clerk(),
                dispatch_to(CGJ),
                RefusalReason::NotPermitted,
            ),
            (
                "admin registers",
                case_in(S::AwaitingRegistration),
                admin(),
                CaseAction::Register,
                RefusalReason::NotPermitted,
            ),
            (
                "leader closes",
                case_in(S::CheckPassed),
                leader(),
                CaseAction::Close,
                RefusalReason::NotPermitted,
            ),
            (
                "dispatcher of another center",
                case_in(S::Registered),
                ActorContext::user(
                    30,
                    vec![Position::Dispatcher],
                    "YJ-CENTER",
                    Some(Tier::District),
                ),
                dispatch_to(CGJ),
                RefusalReason::NotHolder,
            ),
            (
                "handler of another department accepts",
                case_in(S::Dispatched),
                other_handler(),
                CaseAction::Accept,
                RefusalReason::NotHolder,
            ),
            (
                "other inspector verifies",
                case_in(S::AwaitingVerification),
                other_inspector(),
                CaseAction::Verify { confirmed: true },
                RefusalReason::NotHolder,
            ),
            (
                "street leader supervises a district case",
                case_in(S::Handling),
                street_leader(),
                CaseAction::Supervise,
                RefusalReason::NotHolder,
            ),
            (
                "handler feeds back before accepting",
                case_in(S::Dispatched),
                handler(),
                CaseAction::Feedback,
                RefusalReason::WrongState,
            ),
            (
                "register a report not yet received",
                reported(),
                shift_leader(),
                CaseAction::Register,
                RefusalReason::WrongState,
            ),
            (
                "close a cancelled case",
                case_in(S::Cancelled),
                dispatcher(),
                CaseAction::Close,
                RefusalReason::WrongState,
            ),
            (
                "appeal without a timeout",
                case_in(S::Handling),
                handler(),
                CaseAction::Appeal,
                RefusalReason::WrongState,
            ),
            (
                "self-handle a public report",
                reported(),
                handler(),
                CaseAction::SelfHandle,
                RefusalReason::WrongState,
            ),
            (
                "approve an extension never asked",
                case_in(S::Handling),
                dispatcher(),
                CaseAction::ApproveExtension { extra: None },
                RefusalReason::WrongState,
            ),
            (
                "dispatch to nobody",
                case_in(S::Registered),
                dispatcher(),
                dispatch_to("  "),
                RefusalReason::BadRequest,
            ),
            (
                "special close as normal",
                case_in(S::Handling),
                shift_leader(),
                CaseAction::SpecialClose {
                    kind: CloseKind::Normal,
                },
                RefusalReason::BadRequest,
            ),
            (
                "extension of zero",
                case_in(S::Handling),
                handler(),
                CaseAction::RequestExtension {
                    extra: TimeLimit::new(0, LimitUnit::WorkDays),
                },
                RefusalReason::BadRequest,
            ),
            (
                "system registers a public report",
                case_in(S::AwaitingRegistration),
                ActorContext::system(),
                CaseAction::Register,
                RefusalReason::NotPermitted,
            ),
            (
                "system closes",
                case_in(S::CheckPassed),
                ActorContext::system(),
                CaseAction::Close,
                RefusalReason::NotPermitted,
            ),
            (
                "system supervises a case in time",
                case_in(S::Handling),
                ActorContext::system(),
                CaseAction::Supervise,
                RefusalReason::WrongState,
            ),
        ];
        for (what, case, actor, action, reason) in refusals {
            let kind = action.kind();
            let r = act_with(&case, &actor, action).expect_err(what);
            assert_eq!(r.reason, reason, "{what}: {}", r.message);
            assert_eq!(r.action, kind);
            assert_eq!(r.state, case.state);
            assert_eq!(r.allowed, allowed_actions(&case, &actor), "{what}");
            assert!(
                !r.allowed.contains(&kind) || reason == RefusalReason::BadRequest,
                "{what}"
            );
            assert!(r.to_string().contains(kind.as_str()), "{what}: {r}");
        }
        let r = act(&case_in(S::Registered), &clerk(), dispatch_to(CGJ)).unwrap_err();
        assert!(r.message.contains("派遣员"), "{}", r.message);
        let r = act(
            &case_in(S::Dispatched),
            &other_handler(),
            CaseAction::Accept,
        )
        .unwrap_err();
        assert!(r.message.contains(CGJ), "{}", r.message);
    }

    #[test]
    fn opinions_are_mandatory_where_the_rules_say() {
        let cases: Vec<(CaseSnapshot, ActorContext, CaseAction)> = vec![
            (case_in(S::Handling), handler(), CaseAction::Return),
            (reported(), clerk(), CaseAction::Cancel),
            (
                case_in(S::AwaitingCheck),
                inspector(),
                CaseAction::CheckFail,
            ),
            (
                {
                    let mut c = case_in(S::Handling);
                    c.extension_pending = Some(TimeLimit::new(1, LimitUnit::WorkDays));
                    c
                },
                dispatcher(),
                CaseAction::RejectExtension,
            ),
            (
                {
                    let mut c = case_in(S::Handling);
                    c.overdue = true;
                    c
                },
                handler(),
                CaseAction::Appeal,
            ),
            (case_in(S::Handling), dispatcher(), CaseAction::Hang),
            (
                {
                    let mut c = case_in(S::Handling);
                    c.on_hold = true;
                    c
                },
                shift_leader(),
                CaseAction::Resume,
            ),
            (
                case_in(S::Handling),
                handler(),
                CaseAction::RequestExtension {
                    extra: TimeLimit::new(1, LimitUnit::WorkDays),
                },
            ),
            (
                case_in(S::ReturnRequested),
                dispatcher(),
                CaseAction::RejectReturn,
            ),
            (
                case_in(S::Handling),
                shift_leader(),
                CaseAction::SpecialClose {
                    kind: CloseKind::Special,
                },
            ),
        ];
        for (case, actor, action) in cases {
            let kind = action.kind();
            for blank in [None, Some("   ")] {
                let mut req = ActionRequest::new(action.clone());
                req.opinion = blank.map(str::to_string);
                let r = transition(&case, &actor, &req, now()).expect_err(kind.as_str());
                assert_eq!(r.reason, RefusalReason::OpinionRequired, "{kind}");
            }
            let t = act_with(&case, &actor, action).unwrap_or_else(|r| panic!("{kind}: {r}"));
            assert!(t.record.opinion_required);
            assert_eq!(t.record.opinion.as_deref(), Some("理由"));
        }
        // Actions without that rule go through without one.
        let t = act(&case_in(S::Registered), &dispatcher(), dispatch_to(CGJ)).unwrap();
        assert!(!t.record.opinion_required);
        assert_eq!(t.record.opinion, None);
    }

    #[test]
    fn opinions_and_attachments_are_bounded() {
        let mut req =
            ActionRequest::new(CaseAction::Cancel).with_opinion("长".repeat(MAX_OPINION_CHARS + 1));
        let r = transition(&reported(), &clerk(), &req, now()).unwrap_err();
        assert_eq!(r.reason, RefusalReason::BadRequest);
        req.opinion = Some("重复上报".into());
        req.attachments = vec!["photo/1.jpg".into(), "".into()];
        let r = transition(&reported(), &clerk(), &req, now()).unwrap_err();
        assert!(r.message.contains("attachments[1]"), "{}", r.message);
        req.attachments = vec!["a".into(); MAX_ATTACHMENTS + 1];
        assert!(transition(&reported(), &clerk(), &req, now()).is_err());
        req.attachments = vec!["photo/1.jpg".into()];
        let t = transition(&reported(), &clerk(), &req, now()).unwrap();
        assert_eq!(t.record.attachments, vec!["photo/1.jpg".to_string()]);
        assert_eq!(t.new_state(), S::Cancelled);
    }

    #[test]
    fn returns_go_one_step_back() {
        // A department's return waits for the dispatcher.
        let t = act_with(&case_in(S::Handling), &handler(), CaseAction::Return).unwrap();
        assert_eq!(t.new_state(), S::ReturnRequested);
        assert_eq!(t.new_holder().department, CENTER);
        assert!(
            t.timers.is_empty(),
            "the handling clock runs until the return is approved"
        );
        let approved = act(&t.case, &dispatcher(), CaseAction::ApproveReturn).unwrap();
        assert_eq!(approved.new_state(), S::Registered);
        assert_eq!(approved.case.handling_department, None);
        assert_eq!(
            approved.timers,
            vec![
                TimerEffect::Stop {
                    clock: Clock::Dispose
                },
                TimerEffect::Start {
                    clock: Clock::RegisterDispatch
                }
            ]
        );
        let rejected = act_with(&t.case, &dispatcher(), CaseAction::RejectReturn).unwrap();
        assert_eq!(rejected.new_state(), S::Dispatched);
        assert_eq!(rejected.new_holder().department, CGJ);
        assert!(rejected.timers.is_empty());
        // The dispatcher returns a registered case to the shift leader, who
        // returns it to intake.
        let t = act_with(&case_in(S::Registered), &dispatcher(), CaseAction::Return).unwrap();
        assert_eq!(t.new_state(), S::AwaitingRegistration);
        let t = act_with(&t.case, &shift_leader(), CaseAction::Return).unwrap();
        assert_eq!(t.new_state(), S::Reported);
        assert_eq!(
            t.timers,
            vec![TimerEffect::Stop {
                clock: Clock::RegisterDispatch
            }]
        );
        // A handler cannot return a case it does not hold, a dispatcher cannot
        // return a case a department holds.
        assert_eq!(
            act_with(&case_in(S::Handling), &other_handler(), CaseAction::Return)
                .unwrap_err()
                .reason,
            RefusalReason::NotHolder
        );
        assert_eq!(
            act_with(&case_in(S::Handling), &dispatcher(), CaseAction::Return)
                .unwrap_err()
                .reason,
            RefusalReason::NotPermitted
        );
    }

    #[test]
    fn hold_pauses_the_running_clock_and_blocks_the_loop() {
        let t = act_with(&case_in(S::Handling), &dispatcher(), CaseAction::Hang).unwrap();
        assert!(t.case.on_hold);
        assert_eq!(t.new_state(), S::Handling);
        assert_eq!(
            t.timers,
            vec![TimerEffect::Pause {
                clock: Clock::Dispose
            }]
        );
        let held = t.case;
        for (actor, action) in [
            (handler(), CaseAction::Feedback),
            (
                handler(),
                CaseAction::RequestExtension {
                    extra: TimeLimit::new(1, LimitUnit::WorkDays),
                },
            ),
            (dispatcher(), CaseAction::Hang),
        ] {
            let r = act_with(&held, &actor, action).unwrap_err();
            assert_eq!(r.reason, RefusalReason::WrongState);
            assert!(
                r.message.contains("hold") || r.message.contains("挂账"),
                "{}",
                r.message
            );
        }
        assert!(act(&held, &leader(), CaseAction::Supervise).is_ok());
        let t = act_with(&held, &shift_leader(), CaseAction::Resume).unwrap();
        assert!(!t.case.on_hold);
        assert_eq!(
            t.timers,
            vec![TimerEffect::Resume {
                clock: Clock::Dispose
            }]
        );
        assert_eq!(
            act_with(&t.case, &dispatcher(), CaseAction::Resume)
                .unwrap_err()
                .reason,
            RefusalReason::WrongState
        );
        // Hanging a case whose clock is stopped changes no timer.
        let t = act_with(&case_in(S::FeedbackGiven), &dispatcher(), CaseAction::Hang).unwrap();
        assert!(t.timers.is_empty());
    }

    #[test]
    fn extensions_are_granted_as_asked_or_as_decided() {
        let asked = act_with(
            &case_in(S::Handling),
            &handler(),
            CaseAction::RequestExtension {
                extra: TimeLimit::new(2, LimitUnit::WorkDays),
            },
        )
        .unwrap()
        .case;
        assert_eq!(
            asked.extension_pending,
            Some(TimeLimit::new(2, LimitUnit::WorkDays))
        );
        assert_eq!(
            act_with(
                &asked,
                &handler(),
                CaseAction::RequestExtension {
                    extra: TimeLimit::new(1, LimitUnit::WorkDays)
                }
            )
            .unwrap_err()
            .reason,
            RefusalReason::WrongState
        );
        let granted = act(
            &asked,
            &dispatcher(),
            CaseAction::ApproveExtension {
                extra: Some(TimeLimit::new(1, LimitUnit::WorkDays)),
            },
        )
        .unwrap();
        assert_eq!(
            granted.timers,
            vec![TimerEffect::Extend {
                clock: Clock::Dispose,
                by: TimeLimit::new(1, LimitUnit::WorkDays)
            }]
        );
        assert_eq!(granted.case.extension_pending, None);
        assert_eq!(granted.case.extension_count, 1);
        let rejected = act_with(&asked, &dispatcher(), CaseAction::RejectExtension).unwrap();
        assert!(rejected.timers.is_empty());
        assert_eq!(rejected.case.extension_pending, None);
        assert_eq!(rejected.case.extension_count, 0);
        assert_eq!(
            act(
                &asked,
                &handler(),
                CaseAction::ApproveExtension { extra: None }
            )
            .unwrap_err()
            .reason,
            RefusalReason::NotPermitted
        );
    }

    #[test]
    fn supervision_by_leaders_and_by_the_system() {
        for actor in [leader(), city_leader()] {
            let t = act(&case_in(S::Handling), &actor, CaseAction::Supervise).unwrap();
            assert_eq!(t.case.supervision_count, 1);
            assert_eq!(t.new_state(), S::Handling);
        }
        let mut overdue = case_in(S::Handling);
        overdue.overdue = true;
        let t = act(&overdue, &ActorContext::system(), CaseAction::Supervise).unwrap();
        assert_eq!(t.record.acted_as, None);
        assert_eq!(t.record.actor_user, None);
        let t = act(&t.case, &ActorContext::system(), CaseAction::Supervise).unwrap();
        assert_eq!(t.case.supervision_count, 2);
        assert_eq!(
            act(&case_in(S::Closed), &leader(), CaseAction::Supervise)
                .unwrap_err()
                .reason,
            RefusalReason::WrongState
        );
    }

    #[test]
    fn trusted_automatic_cases_are_registered_and_dispatched_by_the_system() {
        let mut c =
            CaseSnapshot::reported(Source::IotAlarm, Urgency::Urgent, CENTER, Tier::District);
        let system = ActorContext::system();
        assert_eq!(
            act(&c, &system, CaseAction::Register).unwrap_err().reason,
            RefusalReason::NotPermitted
        );
        c.auto_dispatch = true;
        assert_eq!(allowed_actions(&c, &system), vec![K::Register]);
        let t = act(&c, &system, CaseAction::Register).unwrap();
        assert_eq!(t.new_state(), S::Registered);
        assert_eq!(
            t.timers,
            vec![TimerEffect::Start {
                clock: Clock::RegisterDispatch
            }]
        );
        let t = act(&t.case, &system, dispatch_to(CGJ)).unwrap();
        assert_eq!(t.new_state(), S::Dispatched);
        assert_eq!(t.case.handling_department.as_deref(), Some(CGJ));
        // The flag alone is not enough for a human source.
        let mut public = reported();
        public.auto_dispatch = true;
        assert!(act(&public, &system, CaseAction::Register).is_err());
    }

    #[test]
    fn closing_kinds_and_appeals() {
        let mut c = case_in(S::CheckPassed);
        assert_eq!(
            act(&c, &dispatcher(), CaseAction::Close)
                .unwrap()
                .case
                .close_kind,
            Some(CloseKind::Normal)
        );
        c.overdue = true;
        let closed = act(&c, &shift_leader(), CaseAction::Close).unwrap().case;
        assert_eq!(closed.close_kind, Some(CloseKind::Overdue));
        // The department appeals the timeout after closing; the leader upholds it.
        let appealed = act_with(&closed, &handler(), CaseAction::Appeal)
            .unwrap()
            .case;
        assert_eq!(appealed.appeal, Some(AppealStatus::Pending));
        assert_eq!(
            act_with(&appealed, &handler(), CaseAction::Appeal)
                .unwrap_err()
                .reason,
            RefusalReason::WrongState
        );
        assert_eq!(
            act(
                &appealed,
                &handler(),
                CaseAction::DecideAppeal { upheld: true }
            )
            .unwrap_err()
            .reason,
            RefusalReason::NotPermitted
        );
        let upheld = act(
            &appealed,
            &leader(),
            CaseAction::DecideAppeal { upheld: true },
        )
        .unwrap()
        .case;
        assert_eq!(upheld.appeal, Some(AppealStatus::Upheld));
        assert!(!upheld.overdue);
        assert_eq!(upheld.close_kind, Some(CloseKind::Normal));
        let rejected = act(
            &appealed,
            &shift_leader(),
            CaseAction::DecideAppeal { upheld: false },
        )
        .unwrap()
        .case;
        assert_eq!(rejected.appeal, Some(AppealStatus::Rejected));
        assert_eq!(rejected.close_kind, Some(CloseKind::Overdue));
        // An appeal upheld before closing makes the close normal.
        let mut open = case_in(S::CheckPassed);
        open.overdue = true;
        open.appeal = Some(AppealStatus::Upheld);
        assert_eq!(
            act(&open, &dispatcher(), CaseAction::Close)
                .unwrap()
                .case
                .close_kind,
            Some(CloseKind::Normal)
        );
        // Special and erroneous closes stop the running clock.
        for kind in [CloseKind::Special, CloseKind::Erroneous] {
            let t = act_with(
                &case_in(S::Handling),
                &shift_leader(),
                CaseAction::SpecialClose { kind },
            )
            .unwrap();
            assert_eq!(t.case.close_kind, Some(kind));
            assert_eq!(
                t.timers,
                vec![TimerEffect::Stop {
                    clock: Clock::Dispose
                }]
            );
        }
    }

    #[test]
    fn self_found_cases_are_closed_by_their_own_department() {
        let mut c =
            CaseSnapshot::reported(Source::SelfFound, Urgency::Normal, CENTER, Tier::District);
        c.reporter_department = Some(CGJ.into());
        assert_eq!(
            act(&c, &other_handler(), CaseAction::SelfHandle)
                .unwrap_err()
                .reason,
            RefusalReason::NotHolder
        );
        let t = act(&c, &handler(), CaseAction::SelfHandle).unwrap();
        assert_eq!(t.new_state(), S::Closed);
        assert_eq!(t.case.close_kind, Some(CloseKind::Normal));
        assert_eq!(t.case.handling_department.as_deref(), Some(CGJ));
        assert!(t.timers.is_empty());
    }

    #[test]
    fn cancel_and_verification_outcomes() {
        let t = act(
            &reported(),
            &clerk(),
            CaseAction::RequestVerify { inspector: None },
        )
        .unwrap();
        assert_eq!(t.new_holder().user, None);
        // Any inspector may answer an unassigned task.
        let v = act(
            &t.case,
            &other_inspector(),
            CaseAction::Verify { confirmed: false },
        )
        .unwrap();
        assert_eq!(v.case.report_confirmed, Some(false));
        let c = act_with(&v.case, &shift_leader(), CaseAction::Cancel).unwrap();
        assert_eq!(c.new_state(), S::Cancelled);
        assert_eq!(
            c.timers,
            vec![TimerEffect::Stop {
                clock: Clock::RegisterDispatch
            }]
        );
        let c = act_with(&t.case, &clerk(), CaseAction::Cancel).unwrap();
        assert_eq!(
            c.timers,
            vec![TimerEffect::Stop {
                clock: Clock::Verify
            }]
        );
        let r = act(&reported(), &clerk(), CaseAction::Receive).unwrap();
        assert_eq!(r.new_state(), S::AwaitingRegistration);
        assert_eq!(
            r.timers,
            vec![TimerEffect::Start {
                clock: Clock::RegisterDispatch
            }]
        );
    }

    #[test]
    fn rules_are_data() {
        let rules = WorkflowRules::default();
        for kind in CaseActionKind::ALL {
            assert!(
                rules.permissions.contains_key(&kind),
                "{kind} has no permission row"
            );
        }
        let json = serde_json::to_value(&rules).unwrap();
        assert_eq!(
            json["permissions"]["dispatch"],
            serde_json::json!(["dispatcher"])
        );
        let back: WorkflowRules = serde_json::from_value(json).unwrap();
        assert_eq!(back, rules);
        // A city that lets clerks register too.
        let mut city = rules.clone();
        city.permissions
            .entry(K::Register)
            .or_default()
            .insert(Position::Clerk);
        assert!(
            city.allowed_actions(&case_in(S::AwaitingRegistration), &clerk())
                .contains(&K::Register)
        );
        assert!(
            !rules
                .allowed_actions(&case_in(S::AwaitingRegistration), &clerk())
                .contains(&K::Register)
        );
        // A city that needs no opinion on hold.
        city.opinion_required.remove(&K::Hang);
        assert!(
            city.transition(
                &case_in(S::Handling),
                &dispatcher(),
                &ActionRequest::new(CaseAction::Hang),
                now()
            )
            .is_ok()
        );
    }

    #[test]
    fn requests_and_records_serialise_flat() {
        let req: ActionRequest = serde_json::from_value(serde_json::json!({
            "action": "dispatch", "department": "YH-CGJ", "user": null, "opinion": "请尽快处置", "attachments": ["a/1.jpg"]
        }))
        .unwrap();
        assert_eq!(req.action, dispatch_to(CGJ));
        let req: ActionRequest =
            serde_json::from_value(serde_json::json!({"action": "close"})).unwrap();
        assert_eq!(req.action, CaseAction::Close);
        assert!(
            serde_json::from_value::<ActionRequest>(serde_json::json!({"action": "explode"}))
                .is_err()
        );
        let t = act(&case_in(S::Registered), &dispatcher(), dispatch_to(CGJ)).unwrap();
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["record"]["action"], "dispatch");
        assert_eq!(json["record"]["detail"]["department"], CGJ);
        assert_eq!(
            json["timers"][1],
            serde_json::json!({"op": "start", "clock": "dispose"})
        );
        let back: Transition = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn states_have_labels_stages_and_clocks() {
        let stages: Vec<Stage> = CaseState::ALL.iter().map(|s| s.stage()).collect();
        assert_eq!(stages[0], Stage::InformationCollection);
        assert_eq!(S::Registered.stage(), Stage::Dispatch);
        assert_eq!(S::FeedbackGiven.stage(), Stage::Feedback);
        assert_eq!(S::Closed.stage().label_zh(), "核查结案");
        let labels: BTreeSet<&str> = CaseState::ALL.iter().map(|s| s.label_zh()).collect();
        assert_eq!(labels.len(), CaseState::ALL.len(), "labels are distinct");
        let names: BTreeSet<&str> = CaseActionKind::ALL.iter().map(|s| s.label_zh()).collect();
        assert_eq!(names.len(), CaseActionKind::ALL.len());
        assert_eq!(K::CheckFail.label_zh(), "返工");
        assert_eq!(S::Handling.running_clock(), Some(Clock::Dispose));
        assert_eq!(S::Closed.running_clock(), None);
        assert!(Source::VideoAi.is_automatic() && !Source::Hotline.is_automatic());
        assert!(
            !Source::Inspector.suggests_verification() && Source::Public.suggests_verification()
        );
        assert_eq!(Source::Hotline.label_zh(), "12345热线");
        assert_eq!(CloseKind::Overdue.label_zh(), "超期结案");
    }
}
