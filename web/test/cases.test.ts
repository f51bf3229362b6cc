import { describe, expect, it, vi } from 'vitest';
import type { EvaluationReport, EvaluationRow, StageCounters } from '../src/api/cases';
import { ApiError } from '../src/api/client';
import { actionSpec, buildRequest, refusalText } from '../src/cases/actions';
import { durationZh, remainingText, rowColour, usedPercent } from '../src/cases/timer';
import { featureAt, featureCollection, pointInGeometry } from '../src/charts/geo';
import { areaMapOption } from '../src/charts/map';
import { rankingBarOption } from '../src/charts/ranking';
import { cityDayStart, dayWindows, trendOption } from '../src/charts/trend';
import { Debounce, caseEvent, isResync, parseEnvelope } from '../src/live/sse';
import { kpiCards, percentOf, scoreRanking } from '../src/screen/figures';
import { commonParent, countByShape, levelOf, openCases } from '../src/screen/metric';
import { evaluationColumns } from '../src/workbench/cases';

const zero: StageCounters = {
  reported: 0, valid_reported: 0, missed: 0, needs_verify: 0, verified: 0, verified_in_time: 0, verify_dispatched: 0,
  verify_dispatched_in_time: 0, inspector_registered: 0, registered: 0, registered_in_time: 0, cancelled: 0, needs_dispatch: 0,
  dispatched: 0, dispatched_in_time: 0, needs_disposal: 0, disposed: 0, disposed_in_time: 0, rework: 0, needs_check: 0,
  checked: 0, checked_in_time: 0, check_dispatched: 0, check_dispatched_in_time: 0, needs_closing: 0, closed: 0, closed_in_time: 0,
};

describe('timer light and remaining time', () => {
  const now = new Date('2026-03-02T08:00:00Z');
  it('formats durations with the two largest units', () => {
    expect(durationZh(30_000)).toBe('不足1分钟');
    expect(durationZh(8 * 60_000)).toBe('8分钟');
    expect(durationZh(5 * 3600_000 + 12 * 60_000)).toBe('5小时12分钟');
    expect(durationZh(3 * 3600_000)).toBe('3小时');
    expect(durationZh(2 * 86_400_000 + 3 * 3600_000 + 59 * 60_000)).toBe('2天3小时');
    expect(durationZh(-86_400_000)).toBe('1天');
  });
  it('says what is left, what is over, and when the clock is paused', () => {
    expect(remainingText('2026-03-02T11:20:00Z', now)).toBe('剩余 3小时20分钟');
    expect(remainingText('2026-03-01T06:00:00Z', now)).toBe('已超时 1天2小时');
    expect(remainingText('2026-03-02T11:20:00Z', now, true)).toBe('已暂停（挂账）');
    expect(remainingText(null, now)).toBe('—');
    expect(remainingText('not a date', now)).toBe('—');
  });
  it('keeps the server colour but turns a passed deadline red', () => {
    expect(rowColour('yellow', '2026-03-02T09:00:00Z', now)).toBe('yellow');
    expect(rowColour('green', '2026-03-02T07:00:00Z', now)).toBe('red');
    expect(rowColour(null, null, now)).toBeNull();
    expect(usedPercent(0.834)).toBe(83);
    expect(usedPercent(1.7)).toBe(100);
    expect(usedPercent(Number.NaN)).toBe(0);
  });
});

describe('action forms', () => {
  it('maps each action to its inputs', () => {
    expect(actionSpec('dispatch')).toMatchObject({ label: '派遣', fields: ['department', 'opinion'], opinionRequired: false, tone: 'primary' });
    expect(actionSpec('return')).toMatchObject({ label: '回退', opinionRequired: true, tone: 'warn' });
    expect(actionSpec('request_extension').fields).toContain('extension');
    expect(actionSpec('feedback').fields).toEqual(['opinion', 'attachments']);
    expect(actionSpec('check_fail')).toMatchObject({ label: '返工', opinionRequired: true });
    expect(actionSpec('register').fields).toEqual(['opinion']);
    expect(actionSpec('hang').opinionRequired).toBe(true);
  });
  it('builds requests in the server shape', () => {
    expect(buildRequest('dispatch', { department: ' YH-SZ ', opinion: '请处理' })).toEqual({
      request: { action: 'dispatch', department: 'YH-SZ', user: null, opinion: '请处理', attachments: [] },
    });
    expect(buildRequest('feedback', { opinion: '', attachments: ['a1'] })).toEqual({ request: { action: 'feedback', opinion: null, attachments: ['a1'] } });
    expect(buildRequest('request_extension', { opinion: '材料未到', extensionValue: '2', extensionUnit: 'work_days' })).toEqual({
      request: { action: 'request_extension', opinion: '材料未到', attachments: [], extra: { value: 2, unit: 'work_days' } },
    });
    expect(buildRequest('approve_extension', {})).toEqual({ request: { action: 'approve_extension', opinion: null, attachments: [], extra: null } });
    expect(buildRequest('verify', { confirmed: 'false' })).toMatchObject({ request: { confirmed: false } });
    expect(buildRequest('special_close', { opinion: '重复', closeKind: 'erroneous' })).toMatchObject({ request: { kind: 'erroneous' } });
    expect(buildRequest('request_check', {})).toMatchObject({ request: { action: 'request_check', inspector: null } });
  });
  it('names what is missing instead of sending', () => {
    expect(buildRequest('return', { opinion: '  ' })).toEqual({ errors: ['回退须填写意见'] });
    expect(buildRequest('dispatch', {})).toEqual({ errors: ['请选择派遣部门'] });
    expect(buildRequest('request_extension', { opinion: 'x', extensionValue: '0', extensionUnit: 'work_days' })).toEqual({ errors: ['延期时长须为正整数'] });
    expect(buildRequest('request_extension', { opinion: 'x' })).toEqual({ errors: ['请填写申请延期的时长'] });
    expect(buildRequest('verify', {})).toEqual({ errors: ['请选择核实结果'] });
    expect(buildRequest('feedback', { attachments: Array.from({ length: 21 }, (_, i) => `a${i}`) })).toEqual({ errors: ['每次操作最多 20 个附件'] });
  });
  it('shows a refusal with the server message, the state and what is allowed', () => {
    const e = new ApiError(409, 'refused_action', 'dispatch refused', {
      action: 'dispatch', state: 'awaiting_registration', state_label: '待立案', reason: 'not_permitted',
      message: 'dispatch needs the position 派遣员', allowed: ['cancel'],
    });
    expect(refusalText(e)).toBe('操作被拒绝（您的岗位无权进行此操作）：dispatch needs the position 派遣员。案件状态：待立案；您现在可以：作废');
    expect(refusalText(new ApiError(403, 'forbidden', '无权限'))).toBe('操作失败（403）：无权限');
    expect(refusalText(new Error('boom'))).toBe('操作失败：boom');
  });
});

describe('live feed envelopes', () => {
  it('parses envelopes and rejects anything else', () => {
    expect(parseEnvelope('{"type":"case.changed","id":7,"at":"2026-03-02T08:00:00Z","data":{"case_id":3}}')).toEqual({
      type: 'case.changed', id: 7, at: '2026-03-02T08:00:00Z', data: { case_id: 3 },
    });
    expect(parseEnvelope('not json')).toBeNull();
    expect(parseEnvelope('[1,2]')).toBeNull();
    expect(parseEnvelope('{"id":1}')).toBeNull();
    expect(parseEnvelope('{"type":"resync","id":2,"at":"x","data":[1]}')).toEqual({ type: 'resync', id: 2, at: 'x', data: {} });
    expect(isResync(parseEnvelope('{"type":"resync"}')!)).toBe(true);
  });
  it('reads case changes and timers', () => {
    const changed = parseEnvelope(JSON.stringify({
      type: 'case.changed', id: 1, at: '2026-03-02T08:00:00Z',
      data: { case_id: 12, number: 'YT20260302000012', change: 'created', state: 'reported', area_code: '360602001', at: '2026-03-02T08:00:01Z' },
    }))!;
    expect(caseEvent(changed)).toEqual({
      kind: 'changed', caseId: 12, number: 'YT20260302000012', change: 'created', state: 'reported', areaCode: '360602001',
      at: '2026-03-02T08:00:01Z', lon: null, lat: null,
    });
    const timer = parseEnvelope(JSON.stringify({ type: 'case.timer', id: 2, at: 'a', data: { case_id: 12, number: 'N', clock: 'dispose', level: 'overdue' } }))!;
    expect(caseEvent(timer)).toMatchObject({ kind: 'timer', change: 'overdue', state: null, at: 'a' });
    expect(caseEvent(parseEnvelope('{"type":"city.changed","data":{"what":"areas"}}')!)).toBeNull();
    expect(caseEvent(parseEnvelope('{"type":"case.changed","data":{"number":"N"}}')!)).toBeNull();
  });
  it('batches bursts into one refresh', () => {
    vi.useFakeTimers();
    let t = 0;
    let calls = 0;
    const d = new Debounce(() => calls++, 500, 2000, () => t);
    d.poke();
    t = 300; vi.advanceTimersByTime(300); d.poke();
    expect(calls).toBe(0);
    t = 800; vi.advanceTimersByTime(500);
    expect(calls).toBe(1);
    // A steady stream still refreshes within maxMs.
    for (let i = 0; i < 10; i++) { t += 400; vi.advanceTimersByTime(400); d.poke(); }
    expect(calls).toBeGreaterThanOrEqual(2);
    vi.useRealTimers();
  });
});

describe('trend and day windows', () => {
  it('cuts days at midnight in Asia/Shanghai', () => {
    // 2026-03-02 01:30 in 鹰潭 is 2026-03-01 17:30 UTC.
    expect(new Date(cityDayStart(new Date('2026-03-01T17:30:00Z'))).toISOString()).toBe('2026-03-01T16:00:00.000Z');
    const w = dayWindows(new Date('2026-03-01T17:30:00Z'), 3);
    expect(w).toEqual([
      { label: '02-28', from: '2026-02-27T16:00:00.000Z', to: '2026-02-28T16:00:00.000Z' },
      { label: '03-01', from: '2026-02-28T16:00:00.000Z', to: '2026-03-01T16:00:00.000Z' },
      { label: '03-02', from: '2026-03-01T16:00:00.000Z', to: '2026-03-02T16:00:00.000Z' },
    ]);
  });
  it('draws one line per series over the day labels', () => {
    const o = trendOption(['03-01', '03-02'], [{ name: '上报', values: [3, 5] }, { name: '结案', values: [1, 4], color: '#0f0' }]);
    expect(o.xAxis.data).toEqual(['03-01', '03-02']);
    expect(o.series.map((s) => [s.type, s.name, s.data])).toEqual([['line', '上报', [3, 5]], ['line', '结案', [1, 4]]]);
    expect(o.series[1]!.lineStyle.color).toBe('#0f0');
    expect(o.legend.data).toEqual(['上报', '结案']);
  });
});

const row = (key: string, name: string, c: Partial<StageCounters>, score: number | null): EvaluationRow => ({
  key, name, counters: { ...zero, ...c }, headline: { reported: 0, handled: 0, completion_rate: null },
  area: { supervision_report_rate: null, close_rate: null, close_in_time_rate: null },
  department: { volume: 3, disposal_rate: 66.7, disposal_in_time_rate: 33.3, rework_rate: 0, score: { components: [], total: score, grade: score === null ? null : 'B' } },
  positions: [],
});

describe('big-screen figures', () => {
  const report = (c: Partial<StageCounters>, completion: number | null, reported: number): EvaluationReport => ({
    query: {}, headline: { reported, handled: c.closed ?? 0, completion_rate: completion }, total: { ...zero, ...c }, rows: [],
  });
  it('makes the KPI cards from today and the period', () => {
    const cards = kpiCards(report({ registered: 2, closed: 1 }, 50, 4), report({ closed_in_time: 3, needs_closing: 4 }, 75, 8), { count: 2, more: false });
    expect(cards.map((k) => [k.key, k.value])).toEqual([
      ['today', 4], ['registered', 2], ['closed', 1], ['overdue', 2], ['completion_rate', 75], ['on_time_rate', 75],
    ]);
    const empty = kpiCards(report({}, null, 0), report({}, null, 0), { count: 0, more: false });
    expect(empty.find((k) => k.key === 'on_time_rate')!.value).toBeNull();
    expect(percentOf(1, 3)).toBeCloseTo(33.333, 2);
    expect(percentOf(1, 0)).toBeNull();
  });
  it('ranks departments by score, leaving out the unscored', () => {
    const ranked = scoreRanking([row('YH-SZ', '市政局', {}, 87.25), row('YH-CG', '城管局', {}, null), row('YH-HB', '环保局', {}, 91)]);
    expect(ranked).toEqual([{ name: '市政局', value: 87.3 }, { name: '环保局', value: 91 }]);
    const opt = rankingBarOption(ranked, { unit: '分' });
    expect(opt.yAxis.data).toEqual(['市政局', '环保局']);
    expect(opt.series[0]!.data).toEqual([87.3, 91]);
  });
  it('computes open cases per area and the evaluation level', () => {
    expect(openCases({ reported: 10, closed: 4, cancelled: 1 })).toBe(5);
    expect(openCases({ reported: 1, closed: 1, cancelled: 1 })).toBe(0);
    expect(levelOf('360602')).toBe('district');
    expect(levelOf('360602001')).toBe('street');
    expect(levelOf('360602001001')).toBe('community');
    expect(levelOf('360602001001001')).toBeNull();
    expect(commonParent(['360602', '360603', '360681'])).toBeUndefined();
    expect(commonParent(['360602001', '360602002'])).toBe('360602');
    expect(commonParent(['360602001', '360603001'])).toBeUndefined();
  });
  it('counts cases by the shape their point lies in, and flashes new ones', () => {
    const sq = (x: number, y: number) => ({ type: 'Polygon' as const, coordinates: [[[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]] });
    const { fc } = featureCollection([{ code: 'g1', name: 'g1', boundary: sq(0, 0) }, { code: 'g2', name: 'g2', boundary: sq(1, 0) }]);
    expect(pointInGeometry(0.5, 0.5, sq(0, 0))).toBe(true);
    expect(pointInGeometry(1.5, 0.5, sq(0, 0))).toBe(false);
    const holed = { type: 'Polygon' as const, coordinates: [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]] };
    expect(pointInGeometry(1.5, 1.5, holed)).toBe(false);
    expect(pointInGeometry(3, 3, holed)).toBe(true);
    expect(featureAt(fc, 1.2, 0.2)).toBe('g2');
    const counts = countByShape([{ lon: 0.5, lat: 0.5 }, { lon: 1.5, lat: 0.5 }, { lon: 1.6, lat: 0.4 }, { lon: null, lat: null }, { lon: 9, lat: 9 }], fc);
    expect([...counts]).toEqual([['g1', 1], ['g2', 2]]);
    const opt = areaMapOption({ mapName: 'm', fc, values: counts, metricLabel: '在办案件', unit: '件', flashes: [{ name: 'YT1', lon: 0.5, lat: 0.5 }] });
    const flash = opt.series.find((s) => s.type === 'effectScatter') as { data: unknown[] } | undefined;
    expect(flash?.data).toEqual([{ name: 'YT1', value: [0.5, 0.5] }]);
    expect(areaMapOption({ mapName: 'm', fc, values: counts, metricLabel: '在办案件', unit: '件' }).series.some((s) => s.type === 'effectScatter')).toBe(false);
  });
});

describe('evaluation tables', () => {
  it('shows the indicators and grades of each grouping', () => {
    const r = row('YH-SZ', '市政局', { reported: 5, registered: 4, closed: 3 }, 87.25);
    expect(evaluationColumns('department').map((c) => [c.title, c.cell(r)])).toEqual([
      ['部门', '市政局'], ['上报', '5'], ['立案', '4'], ['结案', '3'], ['应处置', '3'], ['处置率', '66.7%'], ['按期处置率', '33.3%'],
      ['返工率', '0.0%'], ['综合得分', '87.3'], ['等级', 'B'],
    ]);
    expect(evaluationColumns('area').map((c) => c.title)).toEqual(['区域', '上报', '立案', '结案', '监督举报率', '结案率', '按期结案率']);
    const p = { ...r, positions: [{ position: 'inspector' as const, score: { components: [], total: 92.04, grade: 'A' as const } }] };
    expect(evaluationColumns('position').at(-1)!.cell(p)).toBe('监督员 92.0（A）');
  });
});
