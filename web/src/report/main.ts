// The phone report page: pick a location (tap the map or use geolocation, then
// /api/v1/locate names the grid/community/street/district), pick a matter class
// from the standard, describe. Submit stays disabled until case intake exists.

import '../styles/report.css';
import { ApiError, api } from '../api/client';
import type { Location, Me, StandardClass } from '../api/types';
import { echarts } from '../charts/echarts';
import { featureCollection } from '../charts/geo';
import { THEME } from '../charts/theme';
import { byId, el, errorText, goLogin } from '../dom';
import { type ReportDraft, canSubmit, locationText, missing } from './form';

const draft: ReportDraft = { location: null, matter: null, description: '' };

function refresh(): void {
  const submit = byId<HTMLButtonElement>('rp-submit');
  submit.disabled = !canSubmit(draft);
  const m = missing(draft);
  byId('rp-submit-note').textContent = m.length
    ? `还需：${m.join('、')}。案件受理接口尚未开放，暂不能提交。`
    : '案件受理接口尚未开放，暂不能提交。';
}

async function setupMap(me: Me): Promise<echarts.ECharts> {
  const chart = echarts.init(byId('rp-map'));
  const areas = me.scope.kind === 'area' ? [await api.area(me.scope.area)] : await api.areas({ level: 'district', boundary: true });
  const { fc } = featureCollection(areas);
  echarts.registerMap('report', fc as unknown as Parameters<typeof echarts.registerMap>[1]);
  chart.setOption({
    geo: {
      map: 'report',
      nameProperty: 'code',
      roam: true,
      selectedMode: false,
      layoutCenter: ['50%', '50%'],
      layoutSize: '95%',
      label: { show: true, color: '#e9f4ff', fontSize: 12, formatter: (p: { name: string }) => fc.features.find((f) => f.properties.code === p.name)?.properties.name ?? '' },
      itemStyle: { areaColor: THEME.areaFill, borderColor: THEME.areaBorder },
      emphasis: { disabled: true },
    },
    series: [{ type: 'scatter', coordinateSystem: 'geo', symbol: 'pin', symbolSize: 36, itemStyle: { color: THEME.danger }, data: [] }],
  });
  chart.getZr().on('click', (e: { offsetX: number; offsetY: number }) => {
    const p = chart.convertFromPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY]) as number[] | undefined;
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

function setupMatters(): void {
  const q = byId<HTMLInputElement>('rp-q');
  const list = byId('rp-matters');
  const chosen = byId('rp-matter');
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
              li.addEventListener('click', () => {
                draft.matter = m;
                chosen.textContent = `已选：${m.major_name} › ${m.name}（${m.code}）`;
                for (const x of list.querySelectorAll('li')) x.classList.toggle('selected', x === li);
                refresh();
              });
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

async function main(): Promise<void> {
  let me: Me;
  try {
    me = await api.me();
  } catch (e) {
    if (e instanceof ApiError && e.unauthenticated) return goLogin('/report');
    byId('rp-location').textContent = `无法连接服务器：${errorText(e)}`;
    return;
  }
  byId('rp-user').textContent = me.user.display_name;
  byId<HTMLTextAreaElement>('rp-desc').addEventListener('input', (e) => {
    draft.description = (e.target as HTMLTextAreaElement).value;
  });
  setupMatters();
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
