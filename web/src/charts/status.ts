// Ring chart of components by status.

import type { ComponentStatus } from '../api/types';
import { COMPONENT_STATUS_ZH } from '../labels';
import { THEME } from './theme';

export const STATUS_COLORS: Record<ComponentStatus, string> = {
  intact: THEME.ok,
  damaged: THEME.danger,
  lost: '#c77dff',
  occupied: THEME.warn,
  abandoned: '#8a9bb8',
  removed: '#4d5d7a',
};

/** Only statuses that occur are drawn; an empty city gives an empty ring. */
export function statusRingOption(counts: Readonly<Record<ComponentStatus, number>>) {
  const data = (Object.keys(COMPONENT_STATUS_ZH) as ComponentStatus[])
    .filter((s) => counts[s] > 0)
    .map((s) => ({ name: COMPONENT_STATUS_ZH[s], value: counts[s], itemStyle: { color: STATUS_COLORS[s] } }));
  return {
    backgroundColor: 'transparent',
    tooltip: { trigger: 'item', formatter: '{b}：{c} 个（{d}%）' },
    series: [
      {
        type: 'pie',
        radius: ['40%', '60%'],
        center: ['50%', '50%'],
        avoidLabelOverlap: true,
        itemStyle: { borderColor: THEME.background, borderWidth: 3 },
        label: { color: THEME.text, fontSize: 16, formatter: '{b} {c}', minMargin: 8, edgeDistance: 8, alignTo: 'edge', overflow: 'none' },
        labelLine: { lineStyle: { color: THEME.muted } },
        data,
      },
    ],
  };
}
