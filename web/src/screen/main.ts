// The big screen (大屏): a 1920×1080 design canvas scaled to the window, the
// city map shaded by an area metric, drill-down from city to districts to grids.

import '../styles/screen.css';
import { ApiError, api } from '../api/client';
import type { Area, Me, UnitGrid } from '../api/types';
import { clockText, fitScale } from '../charts/clock';
import { echarts } from '../charts/echarts';
import { type FeatureCollection, featureCollection } from '../charts/geo';
import { type Kpi, formatCount, visibleKpis } from '../charts/kpi';
import { areaMapOption } from '../charts/map';
import { componentAreaKey, divisionPrefix, statusCounts } from '../charts/metrics';
import { rankingBarOption } from '../charts/ranking';
import { STATUS_COLORS, statusRingOption } from '../charts/status';
import { byId, el, errorText, goLogin } from '../dom';
import { COMPONENT_STATUS_ZH, LEVEL_ZH, zh } from '../labels';
import { METRICS, componentCount } from './metric';

const metric = METRICS[0]!;

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

async function kpis(root: Area): Promise<void> {
  const [districts, streets, grids, departments, comps] = await Promise.all([
    api.areas({ level: 'district' }),
    api.areas({ level: 'street' }),
    api.grids(root.level === 'city' ? undefined : root.code),
    api.departments(),
    componentCount.components(),
  ]);
  const st = statusCounts(comps);
  const cards: Kpi[] = [
    { key: 'districts', label: '区（县、市）', value: root.level === 'city' ? districts.length : null, unit: '个' },
    { key: 'streets', label: '街道（乡镇）', value: streets.length, unit: '个' },
    { key: 'grids', label: '单元网格', value: grids.length, unit: '个' },
    { key: 'departments', label: '部门', value: departments.length, unit: '个' },
    { key: 'components', label: '城市部件', value: comps.length, unit: '个' },
    { key: 'damaged', label: '破损/丢失部件', value: comps.length ? st.damaged + st.lost : null, unit: '个' },
  ];
  const box = byId('kpis');
  box.replaceChildren(
    ...visibleKpis(cards).map((k) =>
      el('div', { class: 'kpi', 'data-kpi': k.key }, el('div', { class: 'kpi-label' }, k.label), el('div', { class: 'kpi-value' }, formatCount(k.value ?? 0), el('small', {}, k.unit ?? ''))),
    ),
  );
  const ring = echarts.init(byId('status-chart'));
  ring.setOption(statusRingOption(st));
  if (comps.length === 0) byId('status-chart').append(el('div', { class: 'empty' }, '尚未导入部件'));
}

interface View {
  area: Area;
  /** What the map draws: children areas, unit grids, or the area itself. */
  kind: 'children' | 'grids' | 'self';
  fc: FeatureCollection;
  clickable: Set<string>;
}

class MapScreen {
  private readonly chart = echarts.init(byId('map'));
  private readonly ranking = echarts.init(byId('ranking'));
  private readonly stack: Area[] = [];
  private view: View | null = null;
  private seq = 0;

  constructor() {
    this.chart.on('click', (p) => {
      // A click on a region names its code; on a point, the area the point lies in.
      const area = p.seriesType === 'scatter' ? (p.data as { area?: string | null } | undefined)?.area : p.name;
      const code = area ?? '';
      if (this.view?.clickable.has(code)) void this.open(code);
    });
    byId('back').addEventListener('click', () => void this.back());
    window.addEventListener('resize', () => {
      this.chart.resize();
      this.ranking.resize();
    });
  }

  /** Pixel of a WGS-84 point on the map (automation and tests). */
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
    const codes = fc.features.map((f) => f.properties.code);
    const values = await metric.values(codes);
    const comps = await componentCount.components();
    if (seq !== this.seq) return; // a later click won
    const mapName = `area-${area.code}-${kind}`;
    echarts.registerMap(mapName, fc as unknown as Parameters<typeof echarts.registerMap>[1]);
    const prefix = divisionPrefix(area.code);
    const inside = comps.filter((c) => (c.grid_code ?? c.id).startsWith(prefix));
    const statusColors: Record<string, string> = {};
    for (const [s, c] of Object.entries(STATUS_COLORS)) statusColors[zh(COMPONENT_STATUS_ZH, s)] = c;
    this.chart.setOption(
      areaMapOption({
        mapName,
        fc,
        values,
        metricLabel: metric.label,
        unit: metric.unit,
        labels: kind !== 'grids',
        roam: kind === 'grids',
        points: inside.map((c) => ({
          name: `${c.name}（${zh(COMPONENT_STATUS_ZH, c.status)}）`,
          lon: c.lon,
          lat: c.lat,
          group: zh(COMPONENT_STATUS_ZH, c.status),
          area: componentAreaKey(c, codes),
        })),
        pointColors: statusColors,
      }),
      true,
    );
    this.view = { area, kind, fc, clickable: new Set(kind === 'children' ? codes : []) };
    this.stack.push(area);
    byId('map').dataset.area = area.code;
    byId('map').dataset.kind = kind;
    byId('back').hidden = this.stack.length < 2;
    byId('crumbs').textContent = this.stack.map((a) => a.name).join(' › ');
    const what = kind === 'children' ? `各${zh(LEVEL_ZH, children[0]?.level)}` : kind === 'grids' ? '各单元网格' : area.name;
    byId('map-note').textContent = `着色：${what}${metric.label}（部件图层按状态着色）${kind === 'children' ? ' · 点击区域下钻' : ''}`;

    const names = new Map(fc.features.map((f) => [f.properties.code, f.properties.name]));
    byId('ranking-title').textContent = `${metric.label}排名 · ${kind === 'grids' ? '单元网格 前10' : area.name}`;
    this.ranking.setOption(
      rankingBarOption(
        codes.map((c) => ({ name: kind === 'grids' ? c.slice(-6) : (names.get(c) ?? c), value: values.get(c) ?? 0 })),
        { unit: metric.unit, top: 10 },
      ),
      true,
    );
    byId('children-title').textContent = children.length ? `下辖${zh(LEVEL_ZH, children[0]?.level)}（${children.length}）` : kind === 'grids' ? `单元网格（${grids.length}）` : '下辖区域';
    byId('children').replaceChildren(
      ...(children.length
        ? children.map((c) => el('li', { 'data-code': c.code }, c.name))
        : [el('li', { class: 'muted' }, kind === 'grids' ? `共 ${grids.length} 个单元网格，滚轮缩放查看` : '暂无下级区域数据')]),
    );
  }
}

async function rootArea(me: Me): Promise<Area> {
  if (me.scope.kind === 'area') return api.area(me.scope.area);
  const cities = await api.areas({ level: 'city' });
  const city = cities[0];
  if (!city) throw new ApiError(404, 'not_found', '尚未导入城市边界：请先执行 chengyun import areas');
  return city;
}

async function main(): Promise<void> {
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
    byId('city-name').textContent = root.name;
    document.title = `${root.name} · 城市运行大屏`;
    const screen = new MapScreen();
    (window as unknown as { __chengyunScreen: unknown }).__chengyunScreen = {
      pixelOf: (lon: number, lat: number) => screen.pixelOf(lon, lat),
      path: () => screen.path(),
    };
    await Promise.all([screen.show(root), kpis(root)]);
    document.body.dataset.ready = 'true';
  } catch (e) {
    overlay(errorText(e));
  }
}

void main();
