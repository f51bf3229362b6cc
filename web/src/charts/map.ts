// The area map: regions from our own GeoJSON (registered with echarts.registerMap),
// shaded by one value per area, with an optional layer of points on top.

import type { FeatureCollection } from './geo';
import { THEME } from './theme';
import { FILL_ALPHA_OVER_TILES, type MapTiles, tiledGeo, withAlpha } from './tiles';

export interface MapPoint {
  name: string;
  lon: number;
  lat: number;
  /** Colour group, e.g. a component status; drawn with `pointColors[group]`. */
  group: string;
  /** The drawn area the point lies in, so a click on a point can open that area. */
  area?: string | null;
}

export interface AreaMapInput {
  /** The name the collection was registered under. */
  mapName: string;
  fc: FeatureCollection;
  /** Value per area code; areas without a value are drawn as 0. */
  values: ReadonlyMap<string, number>;
  /** What the shading shows, e.g. "部件数量"; printed on the legend. */
  metricLabel: string;
  unit: string;
  points?: readonly MapPoint[];
  pointColors?: Readonly<Record<string, string>>;
  /** Whether area labels are drawn (off for hundreds of small grids). */
  labels?: boolean;
  /** Whether the map pans and zooms. */
  roam?: boolean;
  /** Points drawn with a ripple for a moment (a new case, an alarm). */
  flashes?: readonly { name: string; lon: number; lat: number }[];
  /** The tile layer drawn under the map, if the server has one: Web Mercator, see-through fills. */
  tiles?: MapTiles | null;
}

/** The largest value, at least 1 so the legend always has a range. */
export function valueMax(values: ReadonlyMap<string, number>): number {
  let max = 0;
  for (const v of values.values()) if (Number.isFinite(v) && v > max) max = v;
  return Math.max(1, max);
}

/** The ECharts option for an area map. Pure: the same input gives the same option. */
export function areaMapOption(input: AreaMapInput) {
  const names = new Map(input.fc.features.map((f) => [f.properties.code, f.properties.name]));
  const data = input.fc.features.map((f) => ({
    name: f.properties.code,
    value: input.values.get(f.properties.code) ?? 0,
    areaName: f.properties.name,
  }));
  const labels = input.labels ?? true;
  const points = input.points ?? [];
  const groups = [...new Set(points.map((p) => p.group))];
  return {
    backgroundColor: 'transparent',
    tooltip: {
      trigger: 'item',
      formatter: (p: { seriesType?: string; name: string; value?: unknown; data?: { areaName?: string } }) => {
        if (p.seriesType === 'scatter' || p.seriesType === 'effectScatter') return p.name;
        const v = Array.isArray(p.value) ? p.value[2] : p.value;
        return `${names.get(p.name) ?? p.name}<br/>${input.metricLabel}：${Number.isFinite(v as number) ? v : 0} ${input.unit}`;
      },
    },
    visualMap: {
      type: 'continuous',
      seriesIndex: 0,
      min: 0,
      max: valueMax(input.values),
      left: 24,
      bottom: 24,
      itemHeight: 120,
      calculable: false,
      text: [`${input.metricLabel}（${input.unit}）高`, '低'],
      textStyle: { color: THEME.text, fontSize: 14 },
      inRange: { color: input.tiles ? THEME.ramp.map((c) => withAlpha(c, FILL_ALPHA_OVER_TILES)) : [...THEME.ramp] },
    },
    geo: tiledGeo({
      map: input.mapName,
      nameProperty: 'code',
      roam: input.roam ?? false,
      layoutCenter: ['50%', '52%'],
      layoutSize: '92%',
      selectedMode: false,
      label: {
        show: labels,
        color: '#ffffff',
        fontSize: 18,
        textBorderColor: '#031129',
        textBorderWidth: 3,
        formatter: (p: { name: string }) => names.get(p.name) ?? p.name,
      },
      itemStyle: { areaColor: THEME.areaFill, borderColor: THEME.areaBorder, borderWidth: labels ? 1.5 : 0.4 },
      emphasis: {
        label: { show: true, color: '#ffffff' },
        itemStyle: { areaColor: '#2a7de1', borderColor: '#bfe9ff', borderWidth: 2 },
      },
    }, input.tiles),
    series: [
      { type: 'map', name: input.metricLabel, geoIndex: 0, data },
      ...groups.map((g) => ({
        type: 'scatter',
        name: g,
        coordinateSystem: 'geo',
        symbolSize: 9,
        zlevel: 2,
        itemStyle: {
          color: input.pointColors?.[g] ?? THEME.warn,
          borderColor: '#ffffff',
          borderWidth: 1,
          shadowBlur: 8,
          shadowColor: input.pointColors?.[g] ?? THEME.warn,
        },
        data: points.filter((p) => p.group === g).map((p) => ({ name: p.name, value: [p.lon, p.lat], area: p.area ?? null })),
      })),
      ...((input.flashes ?? []).length
        ? [
            {
              type: 'effectScatter',
              name: '新案件',
              coordinateSystem: 'geo',
              zlevel: 3,
              symbolSize: 22,
              rippleEffect: { brushType: 'stroke', scale: 4, period: 2 },
              itemStyle: { color: THEME.danger, shadowBlur: 16, shadowColor: THEME.danger },
              data: (input.flashes ?? []).map((f) => ({ name: f.name, value: [f.lon, f.lat] })),
            },
          ]
        : []),
    ],
  };
}
