// KPI cards: formatting and which cards to show.

/** Formats a count for a KPI card: thousands separators, 万 from 100,000 up. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 100_000) {
    const wan = n / 10_000;
    return `${wan.toFixed(wan >= 100 ? 0 : 1).replace(/\.0$/, '')}万`;
  }
  return Math.round(n).toLocaleString('en-US');
}

/** Formats a share as a percentage with one decimal, `—` when the whole is zero. */
export function formatShare(part: number, whole: number): string {
  if (!whole) return '—';
  return `${((part / whole) * 100).toFixed(1)}%`;
}

export interface Kpi {
  key: string;
  label: string;
  /** `null` when the figure is not available: such a card is not shown, never faked. */
  value: number | null;
  unit?: string;
  hint?: string;
}

/** The cards to draw: only figures that exist. */
export function visibleKpis(kpis: readonly Kpi[]): Kpi[] {
  return kpis.filter((k) => k.value !== null && Number.isFinite(k.value));
}
