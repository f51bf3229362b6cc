// The telemetry line chart: buckets of GET /devices/{id}/telemetry?bucket=N
// (one row per property and bucket) become one line per property.

import type { PropertyDef, TelemetryBucket } from '../api/iot';
import { THEME } from './theme';

export type BucketStat = 'avg' | 'min' | 'max' | 'last';

export interface TelemetrySeries {
  property: string;
  label: string;
  /** [bucket start (ms), value] oldest first. */
  points: [number, number][];
}

/** Groups buckets by property (in the order of `props`, then any unknown ones), sorted by time. */
export function telemetrySeries(buckets: readonly TelemetryBucket[], props: readonly PropertyDef[], stat: BucketStat = 'avg'): TelemetrySeries[] {
  const by = new Map<string, [number, number][]>();
  for (const b of buckets) {
    const t = Date.parse(b.start);
    const v = b[stat];
    if (!Number.isFinite(t) || typeof v !== 'number' || !Number.isFinite(v)) continue;
    let pts = by.get(b.property);
    if (!pts) by.set(b.property, (pts = []));
    pts.push([t, v]);
  }
  const order = [...props.map((p) => p.id).filter((id) => by.has(id)), ...[...by.keys()].filter((k) => !props.some((p) => p.id === k))];
  return order.map((id) => {
    const p = props.find((x) => x.id === id);
    const label = p ? `${p.name}${p.unit ? `（${p.unit}）` : ''}` : id;
    return { property: id, label, points: by.get(id)!.sort((a, b) => a[0] - b[0]) };
  });
}

/** The ECharts option: a time axis, one line per property. */
export function telemetryOption(series: readonly TelemetrySeries[], opts: { stat?: BucketStat; dark?: boolean } = {}) {
  const statZh = { avg: '均值', min: '最小值', max: '最大值', last: '末值' }[opts.stat ?? 'avg'];
  const text = opts.dark ? THEME.text : '#33435c';
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0, textStyle: { color: text }, data: series.map((s) => s.label) },
    grid: { left: 56, right: 24, top: 36, bottom: 36 },
    xAxis: { type: 'time', axisLabel: { color: text } },
    yAxis: { type: 'value', scale: true, name: statZh, axisLabel: { color: text } },
    series: series.map((s) => ({
      type: 'line',
      name: s.label,
      showSymbol: s.points.length < 40,
      smooth: false,
      data: s.points,
    })),
  };
}
