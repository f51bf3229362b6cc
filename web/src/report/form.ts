// The report form's state, kept apart from the DOM so the rules are unit-tested.
// Submitting needs the case intake API (not there yet): `canSubmit` is false until
// `intakeAvailable` is set by the engineer who wires POST /api/v1/cases.

import type { Location, StandardClass } from '../api/types';

export interface ReportDraft {
  location: Location | null;
  matter: StandardClass | null;
  description: string;
}

/** Whether case intake exists on the server; flip when the intake API lands. */
export const intakeAvailable = false;

export function missing(d: ReportDraft): string[] {
  const out: string[] = [];
  if (!d.location) out.push('位置');
  else if (!d.location.grid && !d.location.district) out.push('城市范围内的位置');
  if (!d.matter) out.push('问题类别');
  return out;
}

export function canSubmit(d: ReportDraft, intake = intakeAvailable): boolean {
  return intake && missing(d).length === 0;
}

/** One line describing where a point lies, most specific first. */
export function locationText(l: Location): string {
  const parts = [l.district?.name, l.street?.name, l.community?.name].filter(Boolean) as string[];
  if (parts.length === 0) return '该位置不在本市管辖范围内';
  const grid = l.grid ? `单元网格 ${l.grid.code}` : '未落入单元网格';
  return `${parts.join(' · ')}（${grid}）`;
}
