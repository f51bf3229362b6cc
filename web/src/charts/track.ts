// A device track (GeoJSON LineString Feature from GET /devices/{id}/track) and
// device positions as series on a geo map.

import type { DeviceItem, TrackFeature } from '../api/iot';
import { THEME } from './theme';

function validPoint(c: unknown): c is [number, number] {
  return Array.isArray(c) && typeof c[0] === 'number' && typeof c[1] === 'number' && Number.isFinite(c[0]) && Number.isFinite(c[1]) && Math.abs(c[0]) <= 180 && Math.abs(c[1]) <= 90;
}

/** The track's coordinates, leaving out malformed positions. */
export function trackCoords(f: TrackFeature | null | undefined): [number, number][] {
  const cs = f?.geometry?.type === 'LineString' ? f.geometry.coordinates : [];
  return cs.filter(validPoint).map((c) => [c[0], c[1]]);
}

/**
 * The series drawing a track on geo 0: the line, the start (绿) and the end (红).
 * Empty when the track has no positions, so the map shows only the device.
 */
export function trackSeries(f: TrackFeature | null | undefined) {
  const cs = trackCoords(f);
  if (cs.length === 0) return [];
  const start = cs[0]!;
  const end = cs[cs.length - 1]!;
  return [
    {
      type: 'lines',
      name: '轨迹',
      coordinateSystem: 'geo',
      polyline: true,
      zlevel: 2,
      lineStyle: { color: THEME.accent, width: 3, opacity: 0.9 },
      data: [{ coords: cs }],
    },
    {
      type: 'scatter',
      name: '起终点',
      coordinateSystem: 'geo',
      zlevel: 3,
      symbolSize: 12,
      data: [
        { name: '起点', value: start, itemStyle: { color: THEME.ok } },
        { name: '终点', value: end, itemStyle: { color: THEME.danger } },
      ],
    },
  ];
}

export interface DevicePoint {
  id: string;
  name: string;
  lon: number;
  lat: number;
  online: boolean;
}

/** Where each device is: its latest fix, else its installation point; devices with neither are left out. */
export function devicePoints(items: readonly DeviceItem[]): DevicePoint[] {
  const out: DevicePoint[] = [];
  for (const d of items) {
    const p = d.latest?.location ?? d.device.location ?? null;
    if (!p || !validPoint([p.lon, p.lat])) continue;
    out.push({ id: d.device.id, name: d.device.name, lon: p.lon, lat: p.lat, online: d.online });
  }
  return out;
}

/** Device positions as two scatter series on geo 0 (在线 / 离线). */
export function deviceSeries(points: readonly DevicePoint[]) {
  return (['在线设备', '离线设备'] as const).map((name) => {
    const online = name === '在线设备';
    return {
      type: 'scatter',
      name,
      coordinateSystem: 'geo',
      zlevel: 2,
      symbol: 'diamond',
      symbolSize: 10,
      itemStyle: { color: online ? THEME.ok : '#7b8aa3', borderColor: '#ffffff', borderWidth: 1 },
      data: points.filter((p) => p.online === online).map((p) => ({ name: `${p.name}（${p.id}）`, value: [p.lon, p.lat], id: p.id })),
    };
  });
}
