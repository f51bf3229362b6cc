// The big screen's figures from the evaluation aggregates. Pure, so each card's
// arithmetic is unit-tested against hand-made reports.

import type { EvaluationReport, EvaluationRow } from '../api/cases';
import type { Kpi } from '../charts/kpi';
import type { Ranked } from '../charts/ranking';

/** part / whole in %, null when the whole is zero (the card is then hidden, never faked). */
export function percentOf(part: number, whole: number): number | null {
  return whole > 0 ? (part / whole) * 100 : null;
}

/**
 * The case KPI cards: today's reported, registered and closed counts; the
 * completion and on-time closure rates of the period (14 days); the open
 * overdue cases counted from one bounded page (`more` when it was full).
 */
export function kpiCards(today: EvaluationReport, period: EvaluationReport, overdue: { count: number; more: boolean }): Kpi[] {
  const t = today.total;
  const p = period.total;
  return [
    { key: 'today', label: '今日上报', value: today.headline.reported, unit: '件' },
    { key: 'registered', label: '今日立案', value: t.registered, unit: '件' },
    { key: 'closed', label: '今日结案', value: t.closed, unit: '件' },
    { key: 'overdue', label: '当前超期', value: overdue.count, unit: '件', hint: overdue.more ? '超过一页，仅显示下限' : undefined },
    { key: 'completion_rate', label: '结案率（近14天）', value: period.headline.completion_rate, unit: '%', hint: '结案数 / 上报数' },
    { key: 'on_time_rate', label: '按期结案率（近14天）', value: percentOf(p.closed_in_time, p.needs_closing), unit: '%', hint: '按时结案数 / 应结案数' },
  ];
}

/** Departments by composite score (one decimal), those without a score left out. */
export function scoreRanking(rows: readonly EvaluationRow[]): Ranked[] {
  const out: Ranked[] = [];
  for (const r of rows) {
    const total = r.department?.score.total;
    if (total === null || total === undefined || !Number.isFinite(total)) continue;
    out.push({ name: r.name ?? r.key, value: Math.round(total * 10) / 10 });
  }
  return out;
}
