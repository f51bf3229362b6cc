// Values per area for the map's shading and the rankings. Today the city has
// components (部件); when the case API lands, an "open-case load" metric with the
// same shape replaces the component count on the big screen (see screen/metric.ts).

import type { Component, ComponentStatus } from '../api/types';

/** Counts items by a key; items whose key is null are counted under `unplaced`. */
export function countBy<T>(items: readonly T[], key: (t: T) => string | null): { counts: Map<string, number>; unplaced: number } {
  const counts = new Map<string, number>();
  let unplaced = 0;
  for (const it of items) {
    const k = key(it);
    if (k === null) {
      unplaced += 1;
      continue;
    }
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return { counts, unplaced };
}

/**
 * The area of `codes` a component lies in, at the level of those codes: the
 * component's grid code when it has one (15 digits start with the division code),
 * else its id (whose first digits are the division where it was registered).
 */
export function componentAreaKey(c: Component, codes: readonly string[]): string | null {
  const source = c.grid_code ?? c.id;
  let best: string | null = null;
  for (const code of codes) {
    if (source.startsWith(code) && (!best || code.length > best.length)) best = code;
  }
  return best;
}

/** Components by status, every status present (zero when none). */
export function statusCounts(components: readonly Component[]): Record<ComponentStatus, number> {
  const out: Record<ComponentStatus, number> = { intact: 0, damaged: 0, lost: 0, occupied: 0, abandoned: 0, removed: 0 };
  for (const c of components) if (c.status in out) out[c.status] += 1;
  return out;
}

/**
 * The significant prefix of a division code: every code inside the area starts
 * with it (360600 → 3606, 360602 → 360602, 360602001 → 360602001).
 */
export function divisionPrefix(code: string): string {
  if (code.length !== 6) return code;
  if (code.endsWith('0000')) return code.slice(0, 2);
  if (code.endsWith('00')) return code.slice(0, 4);
  return code;
}
