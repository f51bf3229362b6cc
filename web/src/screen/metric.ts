// The figures the big-screen map is shaded by. The case loop's open-case load
// (在办案件) comes first; the component count stays available for cities
// without cases yet.

import { api } from '../api/client';
import type { CaseSummary, StageCounters } from '../api/cases';
import type { Component } from '../api/types';
import { type FeatureCollection, featureAt } from '../charts/geo';
import { componentAreaKey, countBy } from '../charts/metrics';

export interface AreaMetric {
  key: string;
  /** Printed on the legend and the ranking title, e.g. "在办案件". */
  label: string;
  unit: string;
  /** Values for the given area codes (all of one level); `fc` holds their shapes. */
  values(codes: readonly string[], fc: FeatureCollection): Promise<Map<string, number>>;
}

/** Open cases from cumulative counters: every case is reported once and ends once, closed or cancelled. */
export function openCases(c: Pick<StageCounters, 'reported' | 'closed' | 'cancelled'>): number {
  return Math.max(0, c.reported - c.closed - c.cancelled);
}

/** The evaluation's area level for codes of one length (district 6, street 9, community 12), else null. */
export function levelOf(code: string): 'district' | 'street' | 'community' | null {
  return code.length === 6 ? 'district' : code.length === 9 ? 'street' : code.length === 12 ? 'community' : null;
}

/** The area all codes share (the drawn area's parent), for the evaluation's `area` filter. */
export function commonParent(codes: readonly string[]): string | undefined {
  const first = codes[0];
  if (!first) return undefined;
  const len = first.length === 6 ? 4 : first.length - 3;
  const prefix = first.slice(0, len);
  if (!codes.every((c) => c.startsWith(prefix))) return undefined;
  // A 4-digit prefix is the city (360600); longer prefixes are area codes themselves.
  return len === 4 ? undefined : prefix;
}

/** Counts cases per drawn shape by where their point lies (unit grids have no area code of their own). */
export function countByShape(cases: readonly Pick<CaseSummary, 'lon' | 'lat'>[], fc: FeatureCollection): Map<string, number> {
  return countBy(cases, (c) => (c.lon === null || c.lat === null ? null : featureAt(fc, c.lon, c.lat))).counts;
}

/**
 * 在办案件 per area. Districts, streets and communities come from the evaluation
 * aggregate (all time: reported − closed − cancelled), so the screen never lists
 * every case. Unit grids are not an evaluation level: they are counted from the
 * bounded page of open cases the map already shows as markers (`markers`).
 */
export class OpenCaseLoad implements AreaMetric {
  readonly key = 'open_cases';
  readonly label = '在办案件';
  readonly unit = '件';
  constructor(private readonly markers: () => Promise<CaseSummary[]>) {}

  async values(codes: readonly string[], fc: FeatureCollection): Promise<Map<string, number>> {
    const level = codes[0] ? levelOf(codes[0]) : null;
    if (!level) return countByShape(await this.markers(), fc);
    const report = await api.evaluation({ group: 'area', level, area: commonParent(codes) });
    const out = new Map<string, number>();
    for (const r of report.rows) out.set(r.key, openCases(r.counters));
    return out;
  }
}

/** Components per area, counted in the browser from the component list (all pages). */
export class ComponentCount implements AreaMetric {
  readonly key = 'components';
  readonly label = '部件数量';
  readonly unit = '个';
  private cache: Promise<Component[]> | null = null;

  components(): Promise<Component[]> {
    this.cache ??= api.components();
    return this.cache;
  }

  async values(codes: readonly string[]): Promise<Map<string, number>> {
    const comps = await this.components();
    return countBy(comps, (c) => componentAreaKey(c, codes)).counts;
  }
}
