// Trend lines (cases per day) and the day windows they are counted over, in the
// city's time zone (Asia/Shanghai, UTC+8 all year: no daylight saving).

import { THEME } from './theme';

const TZ_OFFSET_MS = 8 * 3600_000;
const DAY_MS = 24 * 3600_000;

export interface DayWindow {
  /** "MM-DD" in the city's time zone. */
  label: string;
  /** Inclusive start, RFC 3339 UTC. */
  from: string;
  /** Exclusive end, RFC 3339 UTC. */
  to: string;
}

/** Start of the city's day holding `at`, as UTC milliseconds. */
export function cityDayStart(at: Date): number {
  const local = at.getTime() + TZ_OFFSET_MS;
  return local - (((local % DAY_MS) + DAY_MS) % DAY_MS) - TZ_OFFSET_MS;
}

/** The last `n` city days up to and including today, oldest first. */
export function dayWindows(now: Date, n: number): DayWindow[] {
  const today = cityDayStart(now);
  const out: DayWindow[] = [];
  for (let i = n - 1; i >= 0; i--) {
    const start = today - i * DAY_MS;
    const local = new Date(start + TZ_OFFSET_MS);
    const label = `${String(local.getUTCMonth() + 1).padStart(2, '0')}-${String(local.getUTCDate()).padStart(2, '0')}`;
    out.push({ label, from: new Date(start).toISOString(), to: new Date(start + DAY_MS).toISOString() });
  }
  return out;
}

export interface TrendSeries {
  name: string;
  values: readonly number[];
  color?: string;
}

/** A line chart over day labels, one line per series. */
export function trendOption(labels: readonly string[], series: readonly TrendSeries[]) {
  return {
    backgroundColor: 'transparent',
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    tooltip: { trigger: 'axis' },
    legend: { top: 0, right: 8, textStyle: { color: THEME.text, fontSize: 14 }, data: series.map((s) => s.name) },
    xAxis: {
      type: 'category',
      boundaryGap: false,
      data: [...labels],
      axisLabel: { color: THEME.muted, fontSize: 13 },
      axisLine: { lineStyle: { color: THEME.border } },
    },
    yAxis: {
      type: 'value',
      minInterval: 1,
      axisLabel: { color: THEME.muted, fontSize: 13 },
      splitLine: { lineStyle: { color: 'rgba(63,169,255,0.15)' } },
    },
    series: series.map((s, i) => {
      const color = s.color ?? (i === 0 ? THEME.accent : THEME.ok);
      return {
        type: 'line',
        name: s.name,
        smooth: true,
        symbolSize: 6,
        data: [...s.values],
        lineStyle: { color, width: 2 },
        itemStyle: { color },
        areaStyle: i === 0 ? { color: 'rgba(37,211,255,0.15)' } : undefined,
      };
    }),
  };
}
