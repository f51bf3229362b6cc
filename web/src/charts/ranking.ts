// Ranking bar chart: areas (or departments) ordered by a value.

import { THEME } from './theme';

export interface Ranked {
  name: string;
  value: number;
}

/** Sorts descending (ties by name) and keeps the first `top`. */
export function rank(items: readonly Ranked[], top = 10): Ranked[] {
  return [...items].sort((a, b) => b.value - a.value || a.name.localeCompare(b.name, 'zh-CN')).slice(0, top);
}

/** Horizontal bar option, the largest value on top. */
export function rankingBarOption(items: readonly Ranked[], opts: { unit: string; top?: number }) {
  const rows = rank(items, opts.top ?? 10).reverse();
  return {
    backgroundColor: 'transparent',
    grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v: number) => `${v} ${opts.unit}` },
    xAxis: { type: 'value', show: false, minInterval: 1 },
    yAxis: {
      type: 'category',
      data: rows.map((r) => r.name),
      axisLine: { show: false },
      axisTick: { show: false },
      axisLabel: { color: THEME.text, fontSize: 16 },
    },
    series: [
      {
        type: 'bar',
        data: rows.map((r) => r.value),
        barWidth: 14,
        itemStyle: {
          borderRadius: [0, 7, 7, 0],
          color: {
            type: 'linear',
            x: 0,
            y: 0,
            x2: 1,
            y2: 0,
            colorStops: [
              { offset: 0, color: '#1168c9' },
              { offset: 1, color: THEME.accent },
            ],
          },
        },
        label: { show: true, position: 'right', color: THEME.accent, fontSize: 16, formatter: '{c}' },
      },
    ],
  };
}
