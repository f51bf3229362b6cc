// The figure the big-screen map is shaded by. One interface, so the case loop's
// "open-case load" (在办案件) can replace the component count without touching
// the map or ranking code: implement `AreaMetric` over the case statistics API
// and put it first in `METRICS`.

import { api } from '../api/client';
import type { Component } from '../api/types';
import { componentAreaKey, countBy } from '../charts/metrics';

export interface AreaMetric {
  key: string;
  /** Printed on the legend and the ranking title, e.g. "部件数量". */
  label: string;
  unit: string;
  /** Values for the given area codes (all of one level). */
  values(codes: readonly string[]): Promise<Map<string, number>>;
}

/** Components per area, counted in the browser from the component list (all pages). */
export class ComponentCount implements AreaMetric {
  readonly key = 'components';
  readonly label = '部件数量';
  readonly unit = '个';
  private cache: Promise<Component[]> | null = null;

  /** The component list, fetched once per page load. */
  components(): Promise<Component[]> {
    this.cache ??= api.components();
    return this.cache;
  }

  async values(codes: readonly string[]): Promise<Map<string, number>> {
    const comps = await this.components();
    return countBy(comps, (c) => componentAreaKey(c, codes)).counts;
  }
}

export const componentCount = new ComponentCount();

/** The metric the map shows, first that exists. */
export const METRICS: AreaMetric[] = [componentCount];
