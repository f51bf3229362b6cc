//! Historical cases from other systems (311 exports, older 数字城管 systems,
//! chengyun's own CSV), parsed into storage-independent [`HistoricalCase`]s
//! so a city can bring its past years over and have them evaluated.
//!
//! Nothing is dropped silently: every data row of the input ends up either
//! in [`ImportOutcome::cases`] or in [`ImportOutcome::rejected`] with its
//! line and the rule it broke, and `cases + rejected = total_rows`.
//!
//! - [`layout`]: column, date, time-zone, category and status mappings, and
//!   presets for LA 311 (2018 and 2020 headers), NYC 311 and chengyun.
//! - [`parse`]: CSV and JSON-lines readers producing an [`ImportOutcome`].
//! - [`stats`]: closure and on-time closure rates over the parsed cases.

pub mod layout;
pub mod parse;
pub mod stats;

pub use layout::{
    CategoryMapping, ColumnMapping, DateFormat, HistoricalStatus, Layout, StatusMapping,
};
pub use parse::{ImportOutcome, RejectKind, RejectedRow, import_csv, import_json_lines};
pub use stats::{DeadlinePolicy, HistoryStats, NaturalLimit};

use chengyun_domain::codes::ClassCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One past case as the source recorded it, times in UTC. Carries every
/// stage timestamp the source has, so the case service can build the flow
/// records and statistics rows of an imported case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoricalCase {
    /// Line of the input where the record starts (1 = CSV header).
    pub line: u64,
    /// The id in the source system; unique within `source_system`.
    pub external_id: String,
    pub source_system: String,
    /// The source's own category text (or the code itself for chengyun files).
    pub category: String,
    pub matter_code: ClassCode,
    /// True when `matter_code` is the layout's fallback, not a real mapping.
    pub matter_from_fallback: bool,
    /// The responsible agency or department code of the source.
    pub department: Option<String>,
    pub status: HistoricalStatus,
    /// The status text as the source wrote it.
    pub source_status: String,
    /// When the case was reported (上报).
    pub created_at: DateTime<Utc>,
    /// 立案
    pub registered_at: Option<DateTime<Utc>>,
    /// 派遣
    pub dispatched_at: Option<DateTime<Utc>>,
    /// 处置 finished
    pub disposed_at: Option<DateTime<Utc>>,
    /// 结案
    pub closed_at: Option<DateTime<Utc>>,
    /// The source's own deadline, when it kept one.
    pub due_at: Option<DateTime<Utc>>,
    /// WGS-84; both present or both absent.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub address: Option<String>,
    pub description: Option<String>,
}
