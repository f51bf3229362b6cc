import { describe, expect, it } from 'vitest';
import type { Component, Geometry } from '../src/api/types';
import { bounds, featureCollection, labelPoint } from '../src/charts/geo';
import { formatCount, formatShare, visibleKpis } from '../src/charts/kpi';
import { areaMapOption, valueMax } from '../src/charts/map';
import { componentAreaKey, countBy, divisionPrefix, statusCounts } from '../src/charts/metrics';
import { rank, rankingBarOption } from '../src/charts/ranking';
import { statusRingOption } from '../src/charts/status';
import { clockText, fitScale } from '../src/charts/clock';

const square = (x: number, y: number, d = 1): Geometry => ({
  type: 'Polygon',
  coordinates: [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]],
});

const comp = (id: string, grid: string | null, status: Component['status'] = 'intact'): Component => ({
  id, grid_code: grid, status, class_code: '01001', name: '井盖', lon: 117, lat: 28,
});

describe('featureCollection', () => {
  it('keys features by code and lists shapes it cannot draw', () => {
    const { fc, missing } = featureCollection([
      { code: '360602', name: '月湖区', boundary: square(117, 28) },
      { code: '360602001', name: '江边街道', boundary: null },
      { code: '360602000000001', name: null, boundary: square(117, 28, 0.01) },
    ]);
    expect(fc.features.map((f) => f.properties)).toEqual([
      { code: '360602', name: '月湖区' },
      { code: '360602000000001', name: '360602000000001' },
    ]);
    expect(missing.map((m) => m.code)).toEqual(['360602001']);
  });

  it('computes bounds over polygons and multipolygons', () => {
    const { fc } = featureCollection([
      { code: 'a', name: 'a', boundary: square(1, 2) },
      { code: 'b', name: 'b', boundary: { type: 'MultiPolygon', coordinates: [[[[5, 5], [6, 5], [6, 7], [5, 5]]]] } },
    ]);
    expect(bounds(fc)).toEqual([1, 2, 6, 7]);
    expect(bounds({ type: 'FeatureCollection', features: [] })).toBeNull();
    expect(labelPoint(square(0, 0, 2))).toEqual([1, 1]);
  });
});

describe('areaMapOption', () => {
  const { fc } = featureCollection([
    { code: '360602', name: '月湖区', boundary: square(117, 28) },
    { code: '360603', name: '余江区', boundary: square(116.8, 28.2) },
  ]);

  it('shades areas by value, zero when missing, and labels by name', () => {
    const opt = areaMapOption({ mapName: 'm', fc, values: new Map([['360602', 7]]), metricLabel: '部件数量', unit: '个' });
    expect(opt.series[0]).toMatchObject({ type: 'map', geoIndex: 0 });
    expect(opt.series[0]!.data).toEqual([
      { name: '360602', value: 7, areaName: '月湖区' },
      { name: '360603', value: 0, areaName: '余江区' },
    ]);
    expect(opt.visualMap.max).toBe(7);
    expect(opt.visualMap.text[0]).toContain('部件数量');
    expect(opt.geo.nameProperty).toBe('code');
    expect(opt.geo.label.formatter({ name: '360603' })).toBe('余江区');
    expect(opt.tooltip.formatter({ seriesType: 'map', name: '360602', value: 7 })).toBe('月湖区<br/>部件数量：7 个');
  });

  it('draws one scatter series per point group with its colour', () => {
    const opt = areaMapOption({
      mapName: 'm', fc, values: new Map(), metricLabel: '部件数量', unit: '个',
      points: [
        { name: 'a', lon: 117.1, lat: 28.1, group: '完好' },
        { name: 'b', lon: 117.2, lat: 28.2, group: '破损' },
        { name: 'c', lon: 117.3, lat: 28.3, group: '完好' },
      ],
      pointColors: { 破损: '#f00' },
    });
    expect(opt.series).toHaveLength(3);
    const damaged = opt.series.find((s) => s.name === '破损') as { itemStyle: { color: string }; data: unknown[] };
    expect(damaged.itemStyle.color).toBe('#f00');
    expect(damaged.data).toEqual([{ name: 'b', value: [117.2, 28.2], area: null }]);
    expect(opt.visualMap.max).toBe(1);
  });

  it('valueMax ignores non-finite values and is at least 1', () => {
    expect(valueMax(new Map([['a', NaN], ['b', 0]]))).toBe(1);
    expect(valueMax(new Map([['a', 3], ['b', 12]]))).toBe(12);
  });
});

describe('metrics', () => {
  it('attributes components to the most specific matching area', () => {
    expect(componentAreaKey(comp('3606020101000001', '360602000000012'), ['360602', '360603'])).toBe('360602');
    expect(componentAreaKey(comp('3606810101000001', null), ['360602', '360681'])).toBe('360681');
    expect(componentAreaKey(comp('3606020101000001', '360602000000012'), ['360602000000011', '360602000000012'])).toBe('360602000000012');
    expect(componentAreaKey(comp('9999990101000001', null), ['360602'])).toBeNull();
  });

  it('knows the significant prefix of a division code', () => {
    expect(divisionPrefix('360600')).toBe('3606');
    expect(divisionPrefix('360000')).toBe('36');
    expect(divisionPrefix('360602')).toBe('360602');
    expect(divisionPrefix('360602001')).toBe('360602001');
  });

  it('counts by key and keeps the unplaced apart', () => {
    const r = countBy(['a', 'b', 'a', 'x'], (s) => (s === 'x' ? null : s));
    expect([...r.counts]).toEqual([['a', 2], ['b', 1]]);
    expect(r.unplaced).toBe(1);
  });

  it('counts every status', () => {
    const s = statusCounts([comp('1', null, 'damaged'), comp('2', null, 'damaged'), comp('3', null)]);
    expect(s).toEqual({ intact: 1, damaged: 2, lost: 0, occupied: 0, abandoned: 0, removed: 0 });
    const ring = statusRingOption(s);
    expect(ring.series[0]!.data.map((d) => d.name)).toEqual(['完好', '破损']);
  });
});

describe('kpi', () => {
  it('formats counts', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(1234)).toBe('1,234');
    expect(formatCount(99_999)).toBe('99,999');
    expect(formatCount(123_456)).toBe('12.3万');
    expect(formatCount(2_000_000)).toBe('200万');
    expect(formatCount(NaN)).toBe('—');
    expect(formatShare(1, 3)).toBe('33.3%');
    expect(formatShare(1, 0)).toBe('—');
  });

  it('hides cards whose figure does not exist', () => {
    const shown = visibleKpis([
      { key: 'a', label: 'A', value: 3 },
      { key: 'b', label: 'B', value: null },
      { key: 'c', label: 'C', value: 0 },
    ]);
    expect(shown.map((k) => k.key)).toEqual(['a', 'c']);
  });
});

describe('ranking', () => {
  it('sorts descending, ties by name, and keeps the top', () => {
    const r = rank([{ name: '乙', value: 2 }, { name: '甲', value: 5 }, { name: '丙', value: 2 }, { name: '丁', value: 1 }], 3);
    expect(r.map((x) => x.value)).toEqual([5, 2, 2]);
  });

  it('puts the largest bar on top', () => {
    const opt = rankingBarOption([{ name: 'a', value: 1 }, { name: 'b', value: 9 }], { unit: '个' });
    expect(opt.yAxis.data).toEqual(['a', 'b']);
    expect(opt.series[0]!.data).toEqual([1, 9]);
  });
});

describe('clock and scale', () => {
  it('shows the time in Asia/Shanghai', () => {
    const t = clockText(new Date('2026-03-01T16:05:09Z'));
    expect(t.time).toBe('00:05:09');
    expect(t.date).toContain('2026');
    expect(t.date).toContain('03');
  });

  it('fits the 1920×1080 canvas', () => {
    expect(fitScale(1920, 1080)).toBe(1);
    expect(fitScale(960, 1080)).toBe(0.5);
    expect(fitScale(3840, 1200)).toBeCloseTo(1200 / 1080);
    expect(fitScale(0, 0)).toBe(1);
  });
});
