// Types of the case loop's HTTP API (crates/api case routes over
// crates/services/src/case and crates/domain/src/case/workflow.rs), hand-written
// from the serde shapes there. Keep them in step with the OpenAPI snapshot.

import type { Position } from './types';

export type CaseState =
  | 'reported'
  | 'awaiting_verification'
  | 'awaiting_registration'
  | 'cancelled'
  | 'registered'
  | 'dispatched'
  | 'handling'
  | 'return_requested'
  | 'feedback_given'
  | 'awaiting_check'
  | 'check_passed'
  | 'closed';

export type CaseActionKind =
  | 'receive'
  | 'request_verify'
  | 'verify'
  | 'register'
  | 'cancel'
  | 'dispatch'
  | 'accept'
  | 'return'
  | 'approve_return'
  | 'reject_return'
  | 'request_extension'
  | 'approve_extension'
  | 'reject_extension'
  | 'hang'
  | 'resume'
  | 'supervise'
  | 'feedback'
  | 'request_check'
  | 'check_pass'
  | 'check_fail'
  | 'close'
  | 'special_close'
  | 'appeal'
  | 'decide_appeal'
  | 'self_handle';

export type Source = 'inspector' | 'public' | 'hotline' | 'video_ai' | 'iot_alarm' | 'upper_level' | 'self_found';
export type Urgency = 'normal' | 'urgent';
export type TimerColour = 'green' | 'yellow' | 'red';
export type ClockKind = 'verify' | 'register_dispatch' | 'dispose' | 'check';
export type LimitUnit = string;
export type CloseKind = 'normal' | 'overdue' | 'erroneous' | 'special';

export interface TimeLimit {
  value: number;
  unit: LimitUnit;
}

export interface CaseSnapshot {
  state: CaseState;
  source: Source;
  urgency: Urgency;
  center_department: string;
  center_tier: string;
  holder: { department: string; user: number | null };
  handling_department: string | null;
  reporter_department: string | null;
  report_confirmed: boolean | null;
  on_hold: boolean;
  extension_pending: TimeLimit | null;
  extension_count: number;
  rework_count: number;
  supervision_count: number;
  overdue: boolean;
  appeal: 'pending' | 'upheld' | 'rejected' | null;
  auto_dispatch: boolean;
  close_kind: CloseKind | null;
}

/** CaseRecord: the id block with CaseData flattened into it. */
export interface CaseRecord {
  id: number;
  number: string;
  version: number;
  created_at: string;
  updated_at: string;
  title: string;
  description: string;
  matter_code: string | null;
  condition: string | null;
  source: Source;
  urgency: Urgency;
  lon: number | null;
  lat: number | null;
  address: string | null;
  grid_code: string | null;
  area_code: string | null;
  district_code: string | null;
  component_id: string | null;
  device_id: string | null;
  external_id: string | null;
  reporter_user: number | null;
  snapshot: CaseSnapshot;
  duplicate_of: number | null;
  likely_duplicate_of: number | null;
  reported_at: string;
  registered_at: string | null;
  dispatched_at: string | null;
  disposed_at: string | null;
  closed_at: string | null;
  deadline_at: string | null;
}

export interface Reporter {
  name: string | null;
  phone: string | null;
  user_id: number | null;
  channel: string;
  reported_at: string;
}

/** FlowRecord: id and case id with NewFlowRecord flattened. */
export interface FlowRecord {
  id: number;
  case_id: number;
  action: string;
  detail: unknown;
  from_state: CaseState | null;
  to_state: CaseState;
  actor_user: number | null;
  actor_department: string | null;
  acted_as: Position | string | null;
  at: string;
  opinion: string | null;
  attachments: string[];
}

export interface AttachmentMeta {
  id: string;
  case_id: number | null;
  file_name: string;
  content_type: string;
  size: number;
  sha256: string;
  storage_key: string;
  uploaded_by: number | null;
  created_at: string;
}

export interface TimerView {
  clock: ClockKind;
  started_at: string;
  deadline: string | null;
  /** Share of the limit used (1.0 = 100 %). */
  fraction: number;
  colour: TimerColour;
  paused: boolean;
  overdue: boolean;
}

export interface MatterSuggestion {
  code: string;
  name: string;
  score: number;
  reason: string;
}

export interface CaseView {
  case: CaseRecord;
  reporters: Reporter[];
  flow: FlowRecord[];
  attachments: AttachmentMeta[];
  /** The actions the viewer may take now: exactly the buttons to show. */
  allowed: CaseActionKind[];
  timer: TimerView | null;
  suggestions: MatterSuggestion[];
}

export interface CaseSummary {
  id: number;
  number: string;
  title: string;
  matter_code: string | null;
  source: Source;
  urgency: Urgency;
  state: CaseState;
  state_label: string;
  area_code: string | null;
  lon: number | null;
  lat: number | null;
  address: string | null;
  center_department: string;
  holder_department: string;
  overdue: boolean;
  on_hold: boolean;
  likely_duplicate_of: number | null;
  reported_at: string;
  deadline_at: string | null;
  colour: TimerColour | null;
}

/** POST /api/v1/cases body (NewCase). */
export interface NewCase {
  title?: string;
  description?: string;
  matter_code?: string | null;
  source?: Source | null;
  urgency?: Urgency | null;
  lon?: number | null;
  lat?: number | null;
  crs?: 'wgs84' | 'gcj02' | 'bd09';
  address?: string | null;
  area_code?: string | null;
  reporter_name?: string | null;
  reporter_phone?: string | null;
  channel?: string | null;
  attachments?: string[];
}

/** POST /api/v1/cases/{id}/actions body: the action tag with its details flattened. */
export interface ActionRequest {
  action: CaseActionKind;
  opinion?: string | null;
  attachments?: string[];
  department?: string;
  user?: number | null;
  inspector?: number | null;
  confirmed?: boolean;
  upheld?: boolean;
  extra?: TimeLimit | null;
  kind?: CloseKind;
}

export interface DispatchDecision {
  department_code: string;
  rule_id: number | null;
  auto_dispatch: boolean;
  reason: string;
}

/** The details of a 409 `refused_action`. */
export interface Refusal {
  action: CaseActionKind;
  state: CaseState;
  state_label?: string;
  reason: 'wrong_state' | 'not_permitted' | 'not_holder' | 'opinion_required' | 'bad_request';
  message: string;
  allowed: CaseActionKind[];
}

// --- evaluation

export interface StageCounters {
  reported: number;
  valid_reported: number;
  missed: number;
  needs_verify: number;
  verified: number;
  verified_in_time: number;
  verify_dispatched: number;
  verify_dispatched_in_time: number;
  inspector_registered: number;
  registered: number;
  registered_in_time: number;
  cancelled: number;
  needs_dispatch: number;
  dispatched: number;
  dispatched_in_time: number;
  needs_disposal: number;
  disposed: number;
  disposed_in_time: number;
  rework: number;
  needs_check: number;
  checked: number;
  checked_in_time: number;
  check_dispatched: number;
  check_dispatched_in_time: number;
  needs_closing: number;
  closed: number;
  closed_in_time: number;
}

export interface Headline {
  reported: number;
  handled: number;
  /** handled / reported, % (null when nothing was reported). */
  completion_rate: number | null;
}

export type Grade = 'A' | 'B' | 'C' | 'D' | 'E';

export interface ScoreComponent {
  key: string;
  label_zh: string;
  points: number | null;
  weight: number;
}

export interface Score {
  components: ScoreComponent[];
  total: number | null;
  grade: Grade | null;
}

export interface AreaScore {
  supervision_report_rate: number | null;
  close_rate: number | null;
  close_in_time_rate: number | null;
}

export interface DepartmentScore {
  volume: number;
  disposal_rate: number | null;
  disposal_in_time_rate: number | null;
  rework_rate: number | null;
  score: Score;
}

export interface PositionScore {
  position: Position;
  score: Score;
}

export interface EvaluationRow {
  key: string;
  name: string | null;
  counters: StageCounters;
  headline: Headline;
  area: AreaScore;
  department: DepartmentScore | null;
  positions: PositionScore[];
}

export interface EvaluationReport {
  query: unknown;
  headline: Headline;
  total: StageCounters;
  rows: EvaluationRow[];
}

export type EvaluationGroupBy = 'total' | 'area' | 'department' | 'position';
