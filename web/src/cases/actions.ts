// Which form each workflow action needs, and the request it sends. Pure: the
// detail page draws the form from `actionSpec(kind)` and posts `buildRequest(…)`.
// The server decides which actions exist for the viewer (CaseView.allowed) and
// refuses anything wrong anyway; this only asks for the right inputs up front.

import type { ActionRequest, CaseActionKind, CloseKind, Refusal, TimeLimit } from '../api/cases';
import { ApiError } from '../api/client';
import { ACTION_ZH, REFUSAL_ZH, STATE_ZH } from './labels';

export type Field = 'opinion' | 'attachments' | 'department' | 'extension' | 'extension_optional' | 'confirmed' | 'upheld' | 'close_kind';

export interface ActionSpec {
  kind: CaseActionKind;
  label: string;
  fields: Field[];
  /** The default workflow rules require an opinion (意见) for these. */
  opinionRequired: boolean;
  /** Drawn as a warning button (cancel, return, rework …). */
  tone: 'primary' | 'warn' | 'normal';
}

/** Opinion-required actions of the default workflow rules (WorkflowRules::default). */
export const OPINION_REQUIRED: ReadonlySet<CaseActionKind> = new Set<CaseActionKind>([
  'return', 'cancel', 'check_fail', 'reject_extension', 'appeal', 'hang', 'resume', 'request_extension', 'reject_return', 'special_close',
]);

const FIELDS: Partial<Record<CaseActionKind, Field[]>> = {
  verify: ['confirmed', 'opinion', 'attachments'],
  dispatch: ['department', 'opinion'],
  request_extension: ['extension', 'opinion'],
  approve_extension: ['extension_optional', 'opinion'],
  feedback: ['opinion', 'attachments'],
  check_pass: ['opinion', 'attachments'],
  check_fail: ['opinion', 'attachments'],
  return: ['opinion', 'attachments'],
  appeal: ['opinion', 'attachments'],
  decide_appeal: ['upheld', 'opinion'],
  special_close: ['close_kind', 'opinion'],
  self_handle: ['opinion', 'attachments'],
};

const WARN: ReadonlySet<CaseActionKind> = new Set<CaseActionKind>(['cancel', 'return', 'check_fail', 'reject_return', 'reject_extension', 'hang', 'special_close', 'supervise']);
const PRIMARY: ReadonlySet<CaseActionKind> = new Set<CaseActionKind>(['receive', 'register', 'dispatch', 'accept', 'feedback', 'check_pass', 'close', 'request_check']);

export function actionSpec(kind: CaseActionKind): ActionSpec {
  return {
    kind,
    label: ACTION_ZH[kind] ?? kind,
    fields: FIELDS[kind] ?? ['opinion'],
    opinionRequired: OPINION_REQUIRED.has(kind),
    tone: WARN.has(kind) ? 'warn' : PRIMARY.has(kind) ? 'primary' : 'normal',
  };
}

/** What a filled action form holds (strings straight from the inputs). */
export interface ActionForm {
  opinion?: string;
  attachments?: string[];
  department?: string;
  extensionValue?: string;
  extensionUnit?: string;
  confirmed?: string;
  upheld?: string;
  closeKind?: string;
}

export const LIMIT_UNITS: readonly [string, string][] = [
  ['work_hours', '工作时'],
  ['work_days', '工作日'],
  ['natural_days', '自然日'],
  ['urgent_hours', '紧急工作时'],
  ['work_minutes', '工作分钟'],
  ['urgent_minutes', '紧急分钟'],
];

function limit(value: string | undefined, unit: string | undefined): TimeLimit | null | string {
  const v = (value ?? '').trim();
  if (!v) return null;
  if (!/^\d+$/.test(v) || Number(v) <= 0) return '延期时长须为正整数';
  if (!unit || !LIMIT_UNITS.some(([u]) => u === unit)) return '请选择延期时长的单位';
  return { value: Number(v), unit };
}

/**
 * The request for an action, or the problems with the form in Chinese
 * (an empty list never comes back with a request).
 */
export function buildRequest(kind: CaseActionKind, f: ActionForm): { request: ActionRequest } | { errors: string[] } {
  const spec = actionSpec(kind);
  const errors: string[] = [];
  const opinion = (f.opinion ?? '').trim();
  if (spec.opinionRequired && !opinion) errors.push(`${spec.label}须填写意见`);
  if (opinion.length > 2000) errors.push('意见不能超过 2000 字');
  const req: ActionRequest = { action: kind, opinion: opinion || null, attachments: f.attachments ?? [] };
  if (req.attachments!.length > 20) errors.push('每次操作最多 20 个附件');
  switch (kind) {
    case 'dispatch':
      if (!f.department?.trim()) errors.push('请选择派遣部门');
      req.department = (f.department ?? '').trim();
      req.user = null;
      break;
    case 'request_verify':
    case 'request_check':
      req.inspector = null;
      break;
    case 'verify':
      if (f.confirmed !== 'true' && f.confirmed !== 'false') errors.push('请选择核实结果');
      req.confirmed = f.confirmed === 'true';
      break;
    case 'decide_appeal':
      if (f.upheld !== 'true' && f.upheld !== 'false') errors.push('请选择裁定结果');
      req.upheld = f.upheld === 'true';
      break;
    case 'request_extension': {
      const l = limit(f.extensionValue, f.extensionUnit);
      if (l === null) errors.push('请填写申请延期的时长');
      else if (typeof l === 'string') errors.push(l);
      else req.extra = l;
      break;
    }
    case 'approve_extension': {
      const l = limit(f.extensionValue, f.extensionUnit);
      if (typeof l === 'string') errors.push(l);
      else req.extra = l;
      break;
    }
    case 'special_close':
      if (f.closeKind !== 'erroneous' && f.closeKind !== 'special') errors.push('请选择结案类型（错误结案或特殊结案）');
      req.kind = (f.closeKind ?? 'special') as CloseKind;
      break;
    default:
      break;
  }
  return errors.length ? { errors } : { request: req };
}

function isRefusal(v: unknown): v is Refusal {
  return typeof v === 'object' && v !== null && 'reason' in v && 'state' in v && Array.isArray((v as Refusal).allowed);
}

/** A refused action (409 refused_action) or any failure, in words for the form. */
export function refusalText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'refused_action' && isRefusal(e.details)) {
      const r = e.details;
      const state = r.state_label ?? STATE_ZH[r.state] ?? r.state;
      const allowed = r.allowed.map((a) => ACTION_ZH[a] ?? a).join('、') || '无';
      return `操作被拒绝（${REFUSAL_ZH[r.reason] ?? r.reason}）：${r.message}。案件状态：${state}；您现在可以：${allowed}`;
    }
    return `操作失败（${e.status || '网络'}）：${e.message}`;
  }
  return `操作失败：${e instanceof Error ? e.message : String(e)}`;
}
