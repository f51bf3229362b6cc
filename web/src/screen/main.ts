// The big screen (大屏): a 1920×1080 design canvas scaled to the window; the city
// map shaded by open-case load (在办案件) with live case markers, drill-down from
// city to districts to grids; case KPIs, a 14-day trend and the department ranking
// from the evaluation aggregates; a live feed over SSE. Nothing here lists every
// case: figures come from aggregate endpoints, markers from one bounded page.

import '../styles/screen.css';
import { ApiError, api } from '../api/client';
import type { CaseSummary, TimerColour } from '../api/cases';
import type { Area, Me, UnitGrid } from '../api/types';
import { ACTION_ZH, COLOUR_ZH, STATE_ZH, stepZh } from '../cases/labels';
import { clockText, fitScale } from '../charts/clock';
import { echarts } from '../charts/echarts';
import { type FeatureCollection, featureCollection } from '../charts/geo';
import { type Kpi, formatCount, visibleKpis } from '../charts/kpi';
import { type MapPoint, areaMapOption } from '../charts/map';
import { TileLayer } from '../charts/tilelayer';
import type { MapTiles } from '../charts/tiles';
import { mapTiles } from '../api/map';
import { rankingBarOption } from '../charts/ranking';
import { THEME } from '../charts/theme';
import { dayWindows, trendOption } from '../charts/trend';
import { byId, el, errorText, goLogin } from '../dom';
import { LEVEL_ZH, zh } from '../labels';
import { type CaseEvent, Debounce, type IotEvent, caseEvent, iotEvent, isResync, subscribe } from '../live/sse';
import { iot } from '../api/iot';
import { type DevicePoint, devicePoints, deviceSeries } from '../charts/track';
import { ALARM_CHANGE_ZH, ALARM_LEVEL_ZH, iotKpis } from '../iot/overview';
import { ComponentCount, OpenCaseLoad } from './metric';
import { kpiCards, scoreRanking } from './figures';

/** At most this many open cases are drawn as markers (one page; never the whole list). */
const MARKER_LIMIT = 300;
/** At most this many devices are drawn (one page of the device list with latest locations). */
const DEVICE_LIMIT = 500;
/** Seconds a new case flashes on the map. */
const FLASH_MS = 6000;

function scaleCanvas(): void {
  const s = fitScale(window.innerWidth, window.innerHeight);
  const canvas = byId('canvas');
  canvas.style.transform = `scale(${s})`;
  canvas.style.left = `${Math.max(0, (window.innerWidth - 1920 * s) / 2)}px`;
  canvas.style.top = `${Math.max(0, (window.innerHeight - 1080 * s) / 2)}px`;
}

function startClock(): void {
  const tick = () => {
    const t = clockText(new Date());
    byId('clock-date').textContent = t.date;
    byId('clock-time').textContent = t.time;
  };
  tick();
  window.setInterval(tick, 1000);
}

function overlay(text: string | null): void {
  const o = byId('overlay');
  o.hidden = text === null;
  o.textContent = text ?? '';
}

const COLOUR_POINT: Record<string, string> = {
  [COLOUR_ZH.green]: THEME.ok,
  [COLOUR_ZH.yellow]: THEME.warn,
  [COLOUR_ZH.red]: THEME.danger,
  无计时: THEME.accent,
};

function pointGroup(c: TimerColour | null): string {
  return c ? COLOUR_ZH[c] : '无计时';
}

/** Open cases as markers: the newest page in the viewed area. */
class Markers {
  private cache = new Map<string, Promise<CaseSummary[]>>();
  get(area: string | undefined): Promise<CaseSummary[]> {
    const key = area ?? '';
    let p = this.cache.get(key);
    if (!p) {
      p = api.cases({ open: true, area }, null, MARKER_LIMIT).then((page) => page.items);
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
    }
    return p;
  }
  invalidate(): void {
    this.cache.clear();
  }
}

interface View {
  area: Area;
  kind: 'children' | 'grids' | 'self';
  fc: FeatureCollection;
  codes: string[];
  clickable: Set<string>;
  mapName: string;
}

class MapScreen {
  readonly chart = echarts.init(byId('map'));
  readonly markers = new Markers();
  private readonly metric: OpenCaseLoad;
  private readonly stack: Area[] = [];
  private view: View | null = null;
  private seq = 0;
  private flashes: { name: string; lon: number; lat: number; until: number }[] = [];
  private root: Area | null = null;
  /** Device positions: one bounded page, re-read when devices report. */
  devices: DevicePoint[] = [];

  /** `tiles`: the server's tile layer, drawn under the map; null draws the map alone. */
  constructor(private readonly tiles: MapTiles | null) {
    if (tiles) {
      new TileLayer(this.chart, byId('map'), tiles, { displayScale: () => fitScale(window.innerWidth, window.innerHeight), creditSize: 14 });
    }
    this.metric = new OpenCaseLoad(() => this.markers.get(this.scopeArea()));
    this.chart.on('click', (p) => {
      const area = p.seriesType === 'scatter' ? (p.data as { area?: string | null } | undefined)?.area : p.name;
      const code = area ?? '';
      if (this.view?.clickable.has(code)) void this.open(code);
    });
    byId('back').addEventListener('click', () => void this.back());
    window.addEventListener('resize', () => this.chart.resize());
  }

  private scopeArea(): string | undefined {
    const a = this.view?.area ?? this.stack[this.stack.length - 1];
    return a && a.level !== 'city' ? a.code : undefined;
  }

  pixelOf(lon: number, lat: number): [number, number] | null {
    const p = this.chart.convertToPixel({ geoIndex: 0 }, [lon, lat]) as number[] | undefined;
    if (!p) return null;
    const r = byId('map').getBoundingClientRect();
    const s = fitScale(window.innerWidth, window.innerHeight);
    return [r.left + p[0]! * s, r.top + p[1]! * s];
  }

  path(): string[] {
    return this.stack.map((a) => a.code);
  }

  async back(): Promise<void> {
    if (this.stack.length < 2) return;
    this.stack.pop();
    const top = this.stack.pop()!;
    await this.show(top);
  }

  async open(code: string): Promise<void> {
    overlay('加载中…');
    try {
      await this.show(await api.area(code));
      overlay(null);
    } catch (e) {
      overlay(`无法打开区域 ${code}：${errorText(e)}`);
    }
  }

  async show(area: Area): Promise<void> {
    const seq = ++this.seq;
    this.root ??= area;
    const children = await api.children(area.code, true);
    let kind: View['kind'];
    let fc: FeatureCollection;
    let grids: UnitGrid[] = [];
    const drawnChildren = featureCollection(children);
    if (drawnChildren.fc.features.length > 0) {
      kind = 'children';
      fc = drawnChildren.fc;
    } else {
      grids = await api.grids(area.code);
      const g = featureCollection(grids);
      if (g.fc.features.length > 0) {
        kind = 'grids';
        fc = g.fc;
      } else {
        kind = 'self';
        fc = featureCollection([area]).fc;
      }
    }
    if (seq !== this.seq) return;
    const mapName = `area-${area.code}-${kind}`;
    echarts.registerMap(mapName, fc as unknown as Parameters<typeof echarts.registerMap>[1]);
    const codes = fc.features.map((f) => f.properties.code);
    this.view = { area, kind, fc, codes, clickable: new Set(kind === 'children' ? codes : []), mapName };
    this.stack.push(area);
    byId('map').dataset.area = area.code;
    byId('map').dataset.kind = kind;
    byId('back').hidden = this.stack.length < 2;
    byId('crumbs').textContent = this.stack.map((a) => a.name).join(' › ');
    const what = kind === 'children' ? `各${zh(LEVEL_ZH, children[0]?.level)}` : kind === 'grids' ? '各单元网格' : area.name;
    byId('map-note').textContent =
      `着色：${what}${this.metric.label}` +
      (kind === 'grids' ? `（按最新 ${MARKER_LIMIT} 件在办案件落点统计）` : '') +
      ' · 圆点：在办案件（按计时亮灯着色）' +
      (kind === 'children' ? ' · 点击区域下钻' : '');
    await this.redraw();
  }

  /** Re-reads the shading and the markers of the current view and draws them. */
  async redraw(): Promise<void> {
    const v = this.view;
    if (!v) return;
    const seq = this.seq;
    const [values, cases] = await Promise.all([this.metric.values(v.codes, v.fc), this.markers.get(this.scopeArea())]);
    if (seq !== this.seq) return;
    const now = Date.now();
    this.flashes = this.flashes.filter((f) => f.until > now);
    const points: MapPoint[] = cases
      .filter((c) => c.lon !== null && c.lat !== null)
      .map((c) => ({
        name: `${c.number} ${c.title}（${STATE_ZH[c.state] ?? c.state_label}）`,
        lon: c.lon!,
        lat: c.lat!,
        group: pointGroup(c.colour),
        area: v.codes.find((code) => (c.area_code ?? '').startsWith(code)) ?? null,
      }));
    const option = areaMapOption({
        mapName: v.mapName,
        fc: v.fc,
        values,
        metricLabel: this.metric.label,
        unit: this.metric.unit,
        labels: v.kind !== 'grids',
        roam: v.kind === 'grids',
        points,
        pointColors: COLOUR_POINT,
        flashes: this.flashes,
        tiles: this.tiles,
      });
    option.series.push(...(deviceSeries(this.devices) as unknown as (typeof option.series)[number][]));
    this.chart.setOption(option, true);
    let total = 0;
    for (const code of v.codes) total += values.get(code) ?? 0;
    const m = byId('map');
    m.dataset.openTotal = String(total);
    m.dataset.markers = String(points.length);
    m.dataset.flashes = String(this.flashes.length);
    m.dataset.devices = String(this.devices.length);
  }

  flash(name: string, lon: number, lat: number): void {
    this.flashes.push({ name, lon, lat, until: Date.now() + FLASH_MS });
    window.setTimeout(() => void this.redraw(), FLASH_MS + 50);
  }
}

async function drawKpis(scopeArea: string | undefined): Promise<void> {
  const now = new Date();
  const days = dayWindows(now, 14);
  const today = days[days.length - 1]!;
  const first = days[0]!;
  const [todayReport, periodReport, overdue] = await Promise.all([
    api.evaluation({ from: today.from, to: today.to, area: scopeArea }),
    api.evaluation({ from: first.from, to: today.to, area: scopeArea }),
    api.cases({ open: true, overdue: true, area: scopeArea }, null, 500),
  ]);
  const cards: Kpi[] = kpiCards(todayReport, periodReport, { count: overdue.items.length, more: overdue.next_cursor !== null });
  const box = byId('kpis');
  box.replaceChildren(
    ...visibleKpis(cards).map((k) =>
      el(
        'div',
        { class: `kpi ${k.key.endsWith('rate') ? 'rate' : ''} ${k.key === 'overdue' ? 'alert' : ''}`, 'data-kpi': k.key, title: k.hint },
        el('div', { class: 'kpi-label' }, k.label),
        el('div', { class: 'kpi-value' }, k.unit === '%' ? (k.value ?? 0).toFixed(1) : formatCount(k.value ?? 0), k.key === 'overdue' && overdue.next_cursor ? '+' : '', el('small', {}, k.unit ?? '')),
      ),
    ),
  );
}

/** The IoT cards from /api/v1/iot/overview and the device layer from one page of devices. */
async function drawIot(screen: MapScreen): Promise<void> {
  const [o, page] = await Promise.all([iot.overview(), iot.devices({}, null, DEVICE_LIMIT)]);
  screen.devices = devicePoints(page.items);
  byId('iot-kpis').replaceChildren(
    ...visibleKpis(iotKpis(o)).map((k) =>
      el('div', { class: `kpi ${k.unit === '%' ? 'rate' : ''} ${k.key === 'alarms_open' && (k.value ?? 0) > 0 ? 'alert' : ''}`, 'data-kpi': k.key, title: k.hint },
        el('div', { class: 'kpi-label' }, k.label),
        el('div', { class: 'kpi-value' }, k.unit === '%' ? (k.value ?? 0).toFixed(1) : formatCount(k.value ?? 0), el('small', {}, k.unit ?? '')),
      ),
    ),
  );
}

function onIotEvent(e: IotEvent, screen: MapScreen): void {
  if (e.kind !== 'alarm') return;
  const feed = byId('feed');
  feed.querySelector('li.muted')?.remove();
  const what = `${ALARM_CHANGE_ZH[e.change] ?? e.change}：${e.alarmType}（${ALARM_LEVEL_ZH[e.level] ?? e.level}）`;
  const li = feedItem({ at: e.at, number: e.deviceId, what, state: null }, true);
  li.classList.add('alarm');
  li.dataset.alarm = e.alarmId;
  feed.prepend(li);
  while (feed.children.length > 14) feed.lastElementChild?.remove();
  if ((e.change === 'raised' || e.change === 'updated') && e.lon !== null && e.lat !== null) screen.flash(`告警 ${e.deviceId} ${e.alarmType}`, e.lon, e.lat);
  void screen.redraw();
}

async function drawTrend(chart: echarts.ECharts, scopeArea: string | undefined): Promise<void> {
  const days = dayWindows(new Date(), 14);
  // One headline aggregate per day (the evaluation has no per-day grouping yet).
  const heads = await Promise.all(days.map((d) => api.headline({ from: d.from, to: d.to, area: scopeArea })));
  chart.setOption(
    trendOption(
      days.map((d) => d.label),
      [
        { name: '上报', values: heads.map((h) => h.reported) },
        { name: '结案', values: heads.map((h) => h.handled), color: THEME.ok },
      ],
    ),
    true,
  );
  byId('trend').dataset.total = String(heads.reduce((s, h) => s + h.reported, 0));
}

async function drawRanking(chart: echarts.ECharts, scopeArea: string | undefined): Promise<void> {
  const days = dayWindows(new Date(), 14);
  const report = await api.evaluation({ group: 'department', from: days[0]!.from, to: days[days.length - 1]!.to, area: scopeArea });
  const ranked = scoreRanking(report.rows);
  byId('ranking-title').textContent = '部门综合评价排名（近14天）';
  chart.setOption(rankingBarOption(ranked, { unit: '分', top: 10 }), true);
  const box = byId('ranking');
  box.dataset.rows = String(ranked.length);
  box.parentElement?.querySelector('.empty')?.remove();
  if (ranked.length === 0) box.parentElement?.append(el('div', { class: 'empty' }, '近14天尚无派遣到部门的案件，暂无评价得分'));
}

async function drawBase(root: Area): Promise<void> {
  const comps = new ComponentCount();
  const [streets, grids, components] = await Promise.all([
    api.areas({ level: 'street' }),
    api.grids(root.level === 'city' ? undefined : root.code),
    comps.components(),
  ]);
  byId('base').replaceChildren(
    el('span', {}, '街道（乡镇）', el('b', {}, formatCount(streets.length)), '个'),
    el('span', {}, '单元网格', el('b', {}, formatCount(grids.length)), '个'),
    el('span', { 'data-base': 'components' }, '城市部件', el('b', {}, formatCount(components.length)), '个'),
  );
}

function feedItem(e: { at: string | null; number: string; what: string; state: string | null }, fresh: boolean): HTMLElement {
  const t = e.at ? new Date(e.at).toLocaleTimeString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false, hour: '2-digit', minute: '2-digit' }) : '—';
  return el(
    'li',
    { class: fresh ? 'fresh' : undefined, 'data-number': e.number },
    el('span', { class: 't' }, t),
    el('span', { class: 'what' }, `${e.number} ${e.what}`),
    el('span', { class: 'st' }, e.state ? ((STATE_ZH as Record<string, string>)[e.state] ?? e.state) : ''),
  );
}

async function initialFeed(scopeArea: string | undefined): Promise<void> {
  const page = await api.cases({ area: scopeArea }, null, 12);
  const feed = byId('feed');
  feed.replaceChildren(
    ...(page.items.length
      ? page.items.map((c) => feedItem({ at: c.reported_at, number: c.number, what: c.title, state: c.state }, false))
      : [el('li', { class: 'muted' }, '暂无案件，新上报的案件将实时出现在这里')]),
  );
}

async function onCaseEvent(e: CaseEvent, screen: MapScreen): Promise<void> {
  const feed = byId('feed');
  feed.querySelector('li.muted')?.remove();
  let what = e.change === 'created' ? '新上报' : e.kind === 'timer' ? `计时${e.change === 'overdue' ? '超时' : '预警'}` : (ACTION_ZH as Record<string, string>)[e.change] ?? stepZh(e.change);
  if (e.change === 'created') {
    try {
      const v = await api.caseView(e.caseId);
      what = `新上报：${v.case.title}`;
      if (v.case.lon !== null && v.case.lat !== null) screen.flash(`${v.case.number} ${v.case.title}`, v.case.lon, v.case.lat);
    } catch {
      // Out of scope or gone: the feed line still names the number.
    }
  }
  feed.prepend(feedItem({ at: e.at, number: e.number, what, state: e.state }, true));
  while (feed.children.length > 14) feed.lastElementChild?.remove();
}

async function rootArea(me: Me): Promise<Area> {
  if (me.scope.kind === 'area') return api.area(me.scope.area);
  const cities = await api.areas({ level: 'city' });
  const city = cities[0];
  if (!city) throw new ApiError(404, 'not_found', '尚未导入城市边界：请先执行 chengyun import areas');
  return city;
}

async function main(): Promise<void> {
  // Asked alongside the session, so the map's first frame waits for nothing more.
  const tiles = mapTiles();
  scaleCanvas();
  window.addEventListener('resize', scaleCanvas);
  startClock();
  let me: Me;
  try {
    me = await api.me();
  } catch (e) {
    if (e instanceof ApiError && e.unauthenticated) return goLogin('/screen');
    return overlay(`无法连接服务器：${errorText(e)}`);
  }
  try {
    const root = await rootArea(me);
    const scopeArea = root.level === 'city' ? undefined : root.code;
    byId('city-name').textContent = root.name;
    document.title = `${root.name} · 城市运行大屏`;
    const screen = new MapScreen(await tiles);
    const trend = echarts.init(byId('trend'));
    const ranking = echarts.init(byId('ranking'));
    // Panels change size as their neighbours fill in (KPI cards, the feed): follow them.
    const observer = new ResizeObserver(() => {
      trend.resize();
      ranking.resize();
      screen.chart.resize();
    });
    for (const id of ['trend', 'ranking', 'map']) observer.observe(byId(id));
    (window as unknown as { __chengyunScreen: unknown }).__chengyunScreen = {
      pixelOf: (lon: number, lat: number) => screen.pixelOf(lon, lat),
      path: () => screen.path(),
    };
    let refreshes = 0;
    const refresh = new Debounce(() => {
      screen.markers.invalidate();
      void Promise.all([drawIot(screen).then(() => screen.redraw()), drawKpis(scopeArea), drawTrend(trend, scopeArea), drawRanking(ranking, scopeArea)])
        .then(() => (document.body.dataset.refreshes = String(++refreshes)))
        .catch((e) => overlay(`刷新失败：${errorText(e)}`));
    }, 400, 2000);
    subscribe(
      (env) => {
        if (isResync(env)) return refresh.poke();
        const ie = iotEvent(env);
        if (ie) {
          if (ie.kind === 'alarm') onIotEvent(ie, screen);
          if (ie.kind !== 'command') refresh.poke();
          return;
        }
        const ce = caseEvent(env);
        if (!ce) return;
        void onCaseEvent(ce, screen);
        refresh.poke();
      },
      (open) => {
        const s = byId('live-state');
        s.dataset.live = String(open);
        s.textContent = open ? '实时' : '实时连接中断，正在重连…';
      },
    );
    // The first frame needs only aggregates and bounded pages; the city's base counts
    // (which walk the grid and component lists) follow after it.
    await drawIot(screen).catch((e) => (byId('iot-kpis').textContent = `物联数据读取失败：${errorText(e)}`));
    await Promise.all([screen.show(root), drawKpis(scopeArea), drawTrend(trend, scopeArea), drawRanking(ranking, scopeArea), initialFeed(scopeArea)]);
    document.body.dataset.ready = 'true';
    document.body.dataset.firstFrameMs = String(Math.round(performance.now()));
    await drawBase(root);
    document.body.dataset.base = 'true';
  } catch (e) {
    overlay(errorText(e));
  }
}

void main();
