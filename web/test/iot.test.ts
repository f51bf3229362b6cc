import { describe, expect, it } from 'vitest';
import type { DeviceItem, IotOverview, PropertyDef, TelemetryBucket } from '../src/api/iot';
import { telemetryOption, telemetrySeries } from '../src/charts/telemetry';
import { devicePoints, deviceSeries, trackCoords, trackSeries } from '../src/charts/track';
import { commandDone, commandFields, commandParams } from '../src/iot/command';
import { iotKpis } from '../src/iot/overview';
import { iotEvent, parseEnvelope } from '../src/live/sse';
import { bucketFor } from '../src/workbench/devices';

const props: PropertyDef[] = [
  { id: 'gross_mass_t', name: '车货总质量', data_type: 'float', unit: 't' },
  { id: 'axles', name: '轴数', data_type: 'int' },
];
const b = (start: string, property: string, avg: number, max = avg): TelemetryBucket => ({ start, property, count: 2, avg, min: avg, max, last: avg });

describe('telemetry chart', () => {
  it('groups buckets per property in thing-model order, sorted by time, with the unit in the label', () => {
    const s = telemetrySeries(
      [b('2026-03-01T01:00:00Z', 'axles', 6), b('2026-03-01T01:05:00Z', 'gross_mass_t', 55.5), b('2026-03-01T01:00:00Z', 'gross_mass_t', 40), b('2026-03-01T01:00:00Z', 'temp', 3)],
      props,
    );
    expect(s.map((x) => x.property)).toEqual(['gross_mass_t', 'axles', 'temp']);
    expect(s[0]!.label).toBe('车货总质量（t）');
    expect(s[0]!.points).toEqual([[Date.parse('2026-03-01T01:00:00Z'), 40], [Date.parse('2026-03-01T01:05:00Z'), 55.5]]);
    expect(s[2]!.label).toBe('temp');
  });
  it('uses the chosen statistic and drops broken buckets', () => {
    const s = telemetrySeries([b('2026-03-01T01:00:00Z', 'axles', 6, 9), b('not a date', 'axles', 1)], props, 'max');
    expect(s[0]!.points).toEqual([[Date.parse('2026-03-01T01:00:00Z'), 9]]);
  });
  it('builds one time-axis line per series', () => {
    const o = telemetryOption(telemetrySeries([b('2026-03-01T01:00:00Z', 'axles', 6)], props));
    expect(o.xAxis.type).toBe('time');
    expect(o.series).toHaveLength(1);
    expect(o.series[0]!.type).toBe('line');
    expect(o.legend.data).toEqual(['轴数']);
    expect(telemetryOption([]).series).toEqual([]);
  });
  it('picks a bucket of about 120 points, at least a minute', () => {
    expect(bucketFor('2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z')).toBe(720);
    expect(bucketFor('2026-03-01T00:00:00Z', '2026-03-01T00:10:00Z')).toBe(60);
  });
});

describe('track and device layer', () => {
  const track = { type: 'Feature' as const, properties: {}, geometry: { type: 'LineString' as const, coordinates: [[117.01, 28.2], [117.02, 28.21], [999, 1], [117.03, 28.22]] } };
  it('keeps valid positions only', () => {
    expect(trackCoords(track)).toEqual([[117.01, 28.2], [117.02, 28.21], [117.03, 28.22]]);
    expect(trackCoords(null)).toEqual([]);
  });
  it('draws the line with start and end markers, nothing for an empty track', () => {
    const s = trackSeries(track);
    expect(s[0]!.type).toBe('lines');
    expect((s[0]!.data[0] as { coords: number[][] }).coords).toHaveLength(3);
    expect((s[1]!.data as { name: string; value: number[] }[]).map((d) => [d.name, d.value])).toEqual([['起点', [117.01, 28.2]], ['终点', [117.03, 28.22]]]);
    expect(trackSeries({ type: 'Feature', geometry: { type: 'LineString', coordinates: [] } })).toEqual([]);
  });
  it('places devices at their latest fix, else their installation point, and splits online/offline', () => {
    const dev = (id: string, online: boolean, latest: [number, number] | null, fixed: [number, number] | null): DeviceItem => ({
      device: { id, name: id, product_key: 'p', owner_department: 'D', location: fixed ? { lon: fixed[0], lat: fixed[1] } : null },
      has_credential: true, may_command: false, online,
      latest: latest ? { device_id: id, values: {}, last_seen: '2026-03-01T00:00:00Z', online, location: { lon: latest[0], lat: latest[1] } } : null,
    });
    const pts = devicePoints([dev('a', true, [117.1, 28.3], [117, 28]), dev('b', false, null, [117.2, 28.4]), dev('c', true, null, null)]);
    expect(pts.map((p) => [p.id, p.lon, p.lat])).toEqual([['a', 117.1, 28.3], ['b', 117.2, 28.4]]);
    const [on, off] = deviceSeries(pts);
    expect(on!.data.map((d) => d.id)).toEqual(['a']);
    expect(off!.data.map((d) => d.id)).toEqual(['b']);
  });
});

describe('command form', () => {
  const def = {
    id: 'broadcast', name: '广播',
    params: [
      { id: 'text', name: '内容', data_type: 'string' as const },
      { id: 'repeat', name: '次数', data_type: 'int' as const, min: 1, max: 5 },
      { id: 'on', name: '开关', data_type: 'bool' as const },
      { id: 'mode', name: '模式', data_type: 'enum' as const, enum_values: ['a', 'b'] },
      { id: 'at', name: '位置', data_type: 'geo_point' as const },
    ],
  };
  it('makes one field per param with its kind and bounds', () => {
    const f = commandFields(def);
    expect(f.map((x) => x.kind)).toEqual(['text', 'number', 'checkbox', 'select', 'point']);
    expect(f[1]).toMatchObject({ integer: true, min: 1, max: 5, hint: '整数，1～5' });
    expect(f[3]!.options).toEqual(['a', 'b']);
    expect(commandFields({ id: 'locate', name: '定位' })).toEqual([]);
  });
  it('types the entered values', () => {
    const r = commandParams(commandFields(def), { text: ' 请离开 ', repeat: '3', on: 'true', mode: 'b', at: '117.03, 28.24' });
    expect(r).toEqual({ ok: true, params: { text: '请离开', repeat: 3, on: true, mode: 'b', at: { lon: 117.03, lat: 28.24 } } });
  });
  it('names the field and the rule broken', () => {
    const r = commandParams(commandFields(def), { text: '', repeat: '9', on: 'false', mode: 'x', at: '1' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual(['内容：必填', '次数：不得大于 5', '模式：须为 a、b 之一', '位置：须为“经度,纬度”']);
    const r2 = commandParams(commandFields(def), { text: 'x', repeat: '1.5', mode: 'a', at: '1,2' });
    expect(r2.ok ? [] : r2.errors).toEqual(['次数：须为整数']);
  });
  it('knows the final statuses', () => {
    expect(['queued', 'sent', 'acknowledged', 'failed', 'timed_out'].map(commandDone)).toEqual([false, false, true, true, true]);
  });
});

describe('IoT overview cards', () => {
  const o: IotOverview = {
    devices_total: 8, devices_online: 6, online_rate: 0.75, by_product: [], alarms_open: 2, alarms_open_by_type: [],
    components_total: 200, components_connected: 5, components_share: 0.025, matter_classes_total: 0, matter_classes_connected: 0, matter_classes_share: 0,
  };
  it('turns shares into percents and hides rates over an empty whole', () => {
    const k = iotKpis(o);
    expect(k.find((x) => x.key === 'devices_online')!.value).toBe(6);
    expect(k.find((x) => x.key === 'online_rate')!.value).toBe(75);
    expect(k.find((x) => x.key === 'components_rate')!.value).toBeCloseTo(2.5);
    expect(k.find((x) => x.key === 'matters_rate')!.value).toBeNull();
    expect(iotKpis({ ...o, devices_total: 0, devices_online: 0 }).find((x) => x.key === 'online_rate')!.value).toBeNull();
  });
});

describe('IoT live events', () => {
  it('parses alarm, device and command envelopes', () => {
    const a = iotEvent(parseEnvelope(JSON.stringify({ type: 'alarm.changed', id: 3, at: 'T', data: { alarm_id: 'al1', device_id: 'd1', rule_id: 'r', alarm_type: 'wim.overload', change: 'raised', state: 'active', level: 'major', count: 1, owner_department: 'X', lon: 117, lat: 28, at: 'T2' } }))!);
    expect(a).toMatchObject({ kind: 'alarm', alarmId: 'al1', deviceId: 'd1', change: 'raised', lon: 117, at: 'T2' });
    expect(iotEvent(parseEnvelope('{"type":"device.state","data":{"device_id":"d1","online":false}}')!)).toMatchObject({ kind: 'device', online: false });
    expect(iotEvent(parseEnvelope('{"type":"command.changed","data":{"command_id":7,"device_id":"d1","command":"dim","status":"sent"}}')!)).toMatchObject({ kind: 'command', commandId: 7, status: 'sent' });
    expect(iotEvent(parseEnvelope('{"type":"alarm.changed","data":{"device_id":"d1"}}')!)).toBeNull();
    expect(iotEvent(parseEnvelope('{"type":"case.changed","data":{"device_id":"d1"}}')!)).toBeNull();
  });
});
