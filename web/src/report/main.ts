// The phone report page: pick a location (tap the map or use geolocation, then
// /api/v1/locate names the grid/community/street/district), describe the problem
// (suggested matter classes come from /api/v1/classify as one types), add photos,
// pick the matter class, submit. The answer shows the case number; /report?case=<number>
// follows the case's progress live (SSE, with a slow poll as a fallback).

import '../styles/report.css';
import { ApiError, api } from '../api/client';
import type { CaseView, MatterSuggestion } from '../api/cases';
import type { Location, Me, StandardClass } from '../api/types';
import { STATE_ZH, stepZh } from '../cases/labels';
import { echarts } from '../charts/echarts';
import { featureCollection } from '../charts/geo';
import { attachTiles, lonLatAtPixel } from '../charts/tilelayer';
import { tiledGeo } from '../charts/tiles';
import { mapTiles } from '../api/map';
import { THEME } from '../charts/theme';
import { byId, el, errorText, goLogin } from '../dom';
import { caseEvent, subscribe } from '../live/sse';
import { type PickedMatter, type ReportDraft, canSubmit, locationText, missing, newCase } from './form';

const draft: ReportDraft = { location: null, matter: null, description: '', photos: [] };
/** One key per draft: a retried submit (flaky network) answers the same case. */
const idempotencyKey = crypto.randomUUID();

function refresh(): void {
  const submit = byId<HTMLButtonElement>('rp-submit');
  submit.disabled = !canSubmit(draft);
  const m = missing(draft);
  byId('rp-submit-note').textContent = m.length ? `还需：${m.join('、')}` : '信息完整，可以提交。';
}

async function setupMap(me: Me): Promise<echarts.ECharts> {
  const chart = echarts.init(byId('rp-map'));
  const [areas, tiles] = await Promise.all([
    me.scope.kind === 'area' ? api.area(me.scope.area).then((a) => [a]) : api.areas({ level: 'district', boundary: true }),
    mapTiles(),
  ]);
  const { fc } = featureCollection(areas);
  echarts.registerMap('report', fc as unknown as Parameters<typeof echarts.registerMap>[1]);
  attachTiles(chart, byId('rp-map'), tiles);
  chart.setOption({
    geo: tiledGeo({
      map: 'report',
      nameProperty: 'code',
      roam: true,
      selectedMode: false,
      layoutCenter: ['50%', '50%'],
      layoutSize: '95%',
      label: { show: true, color: '#e9f4ff', fontSize: 12, formatter: (p: { name: string }) => fc.features.find((f) => f.properties.code === p.name)?.properties.name ?? '' },
      itemStyle: { areaColor: THEME.areaFill, borderColor: THEME.areaBorder },
      emphasis: { disabled: true },
    }, tiles),
    series: [{ type: 'scatter', coordinateSystem: 'geo', symbol: 'pin', symbolSize: 36, itemStyle: { color: THEME.danger }, data: [] }],
  });
  chart.getZr().on('click', (e: { offsetX: number; offsetY: number }) => {
    const p = lonLatAtPixel(chart, tiles, [e.offsetX, e.offsetY]);
    if (p && Number.isFinite(p[0]) && Number.isFinite(p[1])) void locate(chart, p[1]!, p[0]!);
  });
  (window as unknown as { __chengyunReport: unknown }).__chengyunReport = {
    pixelOf: (lon: number, lat: number) => {
      const px = chart.convertToPixel({ geoIndex: 0 }, [lon, lat]) as number[];
      const r = byId('rp-map').getBoundingClientRect();
      return [r.left + px[0]!, r.top + px[1]!];
    },
  };
  return chart;
}

async function locate(chart: echarts.ECharts, lat: number, lon: number): Promise<void> {
  const box = byId('rp-location');
  box.textContent = '定位中…';
  box.className = 'location';
  chart.setOption({ series: [{ data: [[lon, lat]] }] });
  try {
    const l: Location = await api.locate(lat, lon, 'wgs84');
    draft.location = l;
    box.replaceChildren(
      el('div', { class: 'place' }, locationText(l)),
      el('div', { class: 'coords' }, `经度 ${l.lon.toFixed(6)}，纬度 ${l.lat.toFixed(6)}（WGS-84）`),
    );
    box.dataset.district = l.district?.code ?? '';
    box.dataset.grid = l.grid?.code ?? '';
  } catch (e) {
    draft.location = null;
    box.textContent = `定位失败：${errorText(e)}`;
    box.className = 'location error';
  }
  refresh();
}

function choose(m: PickedMatter): void {
  draft.matter = m;
  byId('rp-matter').textContent = `已选：${m.major_name ? m.major_name + ' › ' : ''}${m.name}（${m.code}）`;
  byId('rp-matter').dataset.code = m.code;
  for (const x of document.querySelectorAll<HTMLElement>('#rp-matters li, #rp-suggest button')) x.classList.toggle('selected', x.dataset.code === m.code);
  refresh();
}

function setupMatters(): void {
  const q = byId<HTMLInputElement>('rp-q');
  const list = byId('rp-matters');
  let seq = 0;
  let timer = 0;
  const search = async () => {
    const mine = ++seq;
    try {
      const page = await api.standards('matter', q.value.trim() || undefined, 30);
      if (mine !== seq) return;
      list.replaceChildren(
        ...(page.items.length
          ? page.items.map((m: StandardClass) => {
              const li = el('li', { 'data-code': m.code, tabindex: '0' }, el('span', { class: 'code' }, m.code), el('span', {}, m.name), el('small', {}, m.major_name));
              li.addEventListener('click', () => choose(m));
              return li;
            })
          : [el('li', { class: 'none' }, '没有匹配的类别')]),
      );
    } catch (e) {
      list.replaceChildren(el('li', { class: 'none error' }, errorText(e)));
    }
  };
  q.addEventListener('input', () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void search(), 250);
  });
  void search();
}

/** Suggestions from the description, refreshed as one types. */
function setupSuggestions(): void {
  const desc = byId<HTMLTextAreaElement>('rp-desc');
  const box = byId('rp-suggest');
  let seq = 0;
  let timer = 0;
  const suggest = async () => {
    const text = desc.value.trim();
    const mine = ++seq;
    if (text.length < 2) return box.replaceChildren();
    try {
      const got: MatterSuggestion[] = await api.classify(text, 3);
      if (mine !== seq) return;
      box.replaceChildren(
        ...(got.length ? [el('div', { class: 'hint' }, '根据描述推荐：')] : []),
        ...got.map((s) => {
          const b = el('button', { type: 'button', 'data-code': s.code, class: draft.matter?.code === s.code ? 'selected' : undefined },
            `${s.name}（${s.code}）`, el('small', {}, s.reason));
          b.addEventListener('click', () => choose({ code: s.code, name: s.name }));
          return b;
        }),
      );
    } catch (e) {
      box.replaceChildren(el('div', { class: 'hint error' }, `无法推荐类别：${errorText(e)}`));
    }
  };
  desc.addEventListener('input', () => {
    draft.description = desc.value;
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void suggest(), 350);
  });
}

function setupPhotos(): void {
  const input = byId<HTMLInputElement>('rp-photo');
  const box = byId('rp-photos');
  input.addEventListener('change', async () => {
    for (const f of Array.from(input.files ?? [])) {
      const img = el('img', { alt: f.name, src: URL.createObjectURL(f) });
      box.append(img);
      try {
        const meta = await api.upload(f, f.name);
        draft.photos.push(meta.id);
        img.dataset.id = meta.id;
      } catch (e) {
        img.remove();
        box.append(el('div', { class: 'hint error' }, `照片 ${f.name} 上传失败：${errorText(e)}`));
      }
    }
    input.value = '';
    box.dataset.count = String(draft.photos.length);
  });
}

function setupSubmit(me: Me): void {
  const submit = byId<HTMLButtonElement>('rp-submit');
  submit.addEventListener('click', async () => {
    if (!canSubmit(draft)) return;
    submit.disabled = true;
    byId('rp-submit-note').textContent = '提交中…';
    try {
      const v = await api.report(newCase(draft, me.user.roles, me.user.display_name), idempotencyKey);
      history.pushState(null, '', `/report?case=${encodeURIComponent(v.case.number)}`);
      showFollow(v);
    } catch (e) {
      byId('rp-submit-note').textContent = `提交失败：${errorText(e)}`;
      byId('rp-submit-note').className = 'hint error';
      submit.disabled = false;
    }
  });
}

function showFollow(v: CaseView): void {
  byId('rp-form').hidden = true;
  byId('rp-follow').hidden = false;
  byId('rp-heading').textContent = '案件进度';
  const c = v.case;
  const box = byId('rp-case');
  box.dataset.number = c.number;
  box.dataset.state = c.snapshot.state;
  box.replaceChildren(
    el('div', { class: 'hint' }, '案件编号（请保存，凭此查询进度）'),
    el('div', { class: 'case-no', id: 'rp-number' }, c.number),
    el('div', {}, c.title),
    el('span', { class: 'case-state', id: 'rp-state' }, STATE_ZH[c.snapshot.state] ?? c.snapshot.state),
    c.likely_duplicate_of ? el('p', { class: 'hint' }, '附近已有相同问题正在办理，已一并记录。') : '',
  );
  byId('rp-timeline').replaceChildren(
    ...[...v.flow].reverse().map((r) =>
      el('li', { 'data-action': r.action },
        el('div', {}, el('strong', {}, stepZh(r.action)), ` → ${STATE_ZH[r.to_state] ?? r.to_state}`),
        el('div', { class: 'when' }, new Date(r.at).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false })),
        r.opinion ? el('div', { class: 'op' }, r.opinion) : null,
      ),
    ),
  );
}

/** The case with this number (the detail endpoint takes ids; the list finds the number). */
async function byNumber(number: string): Promise<CaseView> {
  const page = await api.cases({ q: number }, null, 10);
  const hit = page.items.find((c) => c.number === number);
  if (!hit) throw new ApiError(404, 'not_found', `找不到案件 ${number}（或不在您的查看范围内）`);
  return api.caseView(hit.id);
}

async function follow(number: string): Promise<void> {
  byId('rp-form').hidden = true;
  byId('rp-follow').hidden = false;
  const load = async () => showFollow(await byNumber(number));
  try {
    await load();
  } catch (e) {
    byId('rp-case').replaceChildren(el('p', { class: 'error' }, errorText(e)));
    return;
  }
  subscribe((env) => {
    const ce = caseEvent(env);
    if (ce && ce.number === number) void load().catch(() => undefined);
  });
  // A slow poll in case the live feed is cut (proxies that buffer SSE).
  window.setInterval(() => void load().catch(() => undefined), 30_000);
  document.body.dataset.ready = 'true';
}

async function main(): Promise<void> {
  let me: Me;
  const number = new URLSearchParams(window.location.search).get('case');
  try {
    me = await api.me();
  } catch (e) {
    if (e instanceof ApiError && e.unauthenticated) return goLogin(number ? `/report?case=${encodeURIComponent(number)}` : '/report');
    byId('rp-location').textContent = `无法连接服务器：${errorText(e)}`;
    return;
  }
  byId('rp-user').textContent = me.user.display_name;
  if (number) return follow(number);
  setupMatters();
  setupSuggestions();
  setupPhotos();
  setupSubmit(me);
  refresh();
  try {
    const chart = await setupMap(me);
    window.addEventListener('resize', () => chart.resize());
    byId('rp-geo').addEventListener('click', () => {
      if (!navigator.geolocation) {
        byId('rp-location').textContent = '此浏览器不支持定位，请在地图上点选。';
        return;
      }
      byId('rp-location').textContent = '正在获取当前位置…';
      navigator.geolocation.getCurrentPosition(
        (pos) => void locate(chart, pos.coords.latitude, pos.coords.longitude),
        (err) => (byId('rp-location').textContent = `无法获取当前位置（${err.message || err.code}），请在地图上点选。`),
        { enableHighAccuracy: true, timeout: 10_000 },
      );
    });
    document.body.dataset.ready = 'true';
  } catch (e) {
    byId('rp-location').textContent = `地图加载失败：${errorText(e)}`;
  }
}

void main();
