// Simplified Chinese labels of the case loop's enumerations, the same words
// as `label_zh()` in crates/domain/src/case/workflow.rs.

import type { CaseActionKind, CaseState, ClockKind, CloseKind, Source, TimerColour, Urgency } from '../api/cases';

export const STATE_ZH: Record<CaseState, string> = {
  reported: '待受理',
  awaiting_verification: '待核实',
  awaiting_registration: '待立案',
  cancelled: '已作废',
  registered: '待派遣',
  dispatched: '待签收',
  handling: '处置中',
  return_requested: '回退待审',
  feedback_given: '已反馈',
  awaiting_check: '待核查',
  check_passed: '待结案',
  closed: '已结案',
};

export const ACTION_ZH: Record<CaseActionKind, string> = {
  receive: '受理',
  request_verify: '派核实',
  verify: '核实',
  register: '立案',
  cancel: '作废',
  dispatch: '派遣',
  accept: '签收',
  return: '回退',
  approve_return: '同意回退',
  reject_return: '不同意回退',
  request_extension: '申请延期',
  approve_extension: '批准延期',
  reject_extension: '驳回延期',
  hang: '挂账',
  resume: '恢复',
  supervise: '督办',
  feedback: '处置反馈',
  request_check: '派核查',
  check_pass: '核查通过',
  check_fail: '返工',
  close: '结案',
  special_close: '特殊结案',
  appeal: '申诉',
  decide_appeal: '申诉裁定',
  self_handle: '自处理',
};

/** Flow records also name service steps that are not workflow actions. */
export const STEP_ZH: Record<string, string> = {
  report: '上报',
  created: '上报',
  merge: '合并重复案件',
  merged: '合并重复案件',
  merged_into: '并入其他案件',
  timer_warning: '时限预警（黄灯）',
  overdue: '超时（红灯）',
  timer_overdue: '超时（红灯）',
  auto_dispatch: '自动派遣',
};

export const SOURCE_ZH: Record<Source, string> = {
  inspector: '监督员上报',
  public: '公众举报',
  hotline: '12345热线',
  video_ai: '视频智能识别',
  iot_alarm: '物联感知告警',
  upper_level: '上级交办',
  self_found: '部门自查',
};

export const URGENCY_ZH: Record<Urgency, string> = { normal: '一般', urgent: '紧急' };

export const CLOCK_ZH: Record<ClockKind, string> = {
  verify: '核实时限',
  register_dispatch: '立案派遣时限',
  dispose: '处置时限',
  check: '核查时限',
};

export const COLOUR_ZH: Record<TimerColour, string> = { green: '绿灯', yellow: '黄灯', red: '红灯' };

export const CLOSE_KIND_ZH: Record<CloseKind, string> = {
  normal: '正常结案',
  overdue: '超期结案',
  erroneous: '错误结案',
  special: '特殊结案',
};

export const REFUSAL_ZH: Record<string, string> = {
  wrong_state: '当前状态不允许此操作',
  not_permitted: '您的岗位无权进行此操作',
  not_holder: '案件不在您所在部门办理',
  opinion_required: '此操作必须填写意见',
  bad_request: '操作内容有误',
};

/** A flow record's action in words: a workflow action, a service step, or as it is. */
export function stepZh(action: string): string {
  return (ACTION_ZH as Record<string, string>)[action] ?? STEP_ZH[action] ?? action;
}
