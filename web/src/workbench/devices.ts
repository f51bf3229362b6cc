// The IoT pages of the workbench (物联感知): 设备 (server-paged list), a device's
// page (latest state, position and track on the map, telemetry chart, alarms,
// commands), 告警 (filters, 确认/解除), 规则 (current version, versions, export)
// and 场景包 (enable for admins). Every figure comes from the API.

import { ApiError, api } from '../api/client';
import { type AlarmItem, type CommandDef, type CommandRecord, type DeviceDetail, type DeviceItem, iot } from '../api/iot';
import type { Me } from '../api/types';
import { echarts } from '../charts/echarts';
import { featureCollection } from '../charts/geo';
import { attachTiles } from '../charts/tilelayer';
import { tiledGeo } from '../charts/tiles';
import { mapTiles } from '../api/map';
import { telemetryOption, telemetrySeries } from '../charts/telemetry';
import { THEME } from '../charts/theme';
import { devicePoints, deviceSeries, trackCoords, trackSeries } from '../charts/track';
import { el, errorText } from '../dom';
import { COMMAND_STATUS_ZH, commandDone, commandFields, commandParams } from '../iot/command';
import { ALARM_LEVEL_ZH, ALARM_STATE_ZH } from '../iot/overview';
import { iotEvent, subscribe } from '../live/sse';
import { listing } from './listing';
import type { Page } from './pages';

const time = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false }) : '—');
const zhOf = (t: Record<string, string>, v: string) => t[v] ?? v;

/** Live-feed subscriptions of the open page; closed when the page changes. */
let unsubscribe: (() => void) | null = null;
function live(fn: Parameters<typeof subscribe>[0]): void {
  unsubscribe?.();
  unsubscribe = subscribe(fn);
  const close = () => {
    unsubscribe?.();
    unsubscribe = null;
    window.removeEventListener('hashchange', close);
  };
  window.addEventListener('hashchange', close);
}

function onlineTag(online: boolean): HTMLElement {
  return el('span', { class: `tag ${online ? 'ok' : 'off'}`, 'data-online': String(online) }, online ? '在线' : '离线');
}

function valueText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'boolean') return v ? '是' : '否';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function devices(): HTMLElement {
  const box = el('div');
  void iot.products().then(
    (products) => draw(products.map((p) => [p.key, p.name] as [string, string])),
    () => draw([]),
  );
  const draw = (products: [string, string][]) =>
    box.replaceChildren(
      listing<DeviceItem>({
        path: '/api/v1/devices',
        filters: [
          { name: 'product', label: '产品', options: products },
          { name: 'online', label: '状态', options: [['true', '在线'], ['false', '离线']] },
          { name: 'owner', label: '权属部门', placeholder: '部门编码' },
          { name: 'within', label: '所在区域代码', placeholder: '如 360602' },
        ],
        columns: [
          { title: '设备编号', cell: (d) => el('a', { href: `#/device/${encodeURIComponent(d.device.id)}`, 'data-device': d.device.id }, d.device.id) },
          { title: '名称', cell: (d) => d.device.name },
          { title: '产品', cell: (d) => products.find((p) => p[0] === d.device.product_key)?.[1] ?? d.device.product_key },
          { title: '权属部门', cell: (d) => d.device.owner_department },
          { title: '状态', cell: (d) => onlineTag(d.online) },
          { title: '最后上报', cell: (d) => time(d.latest?.last_seen) },
          { title: '位置（WGS-84）', cell: (d) => { const p = d.latest?.location ?? d.device.location; return p ? `${p.lon.toFixed(5)}, ${p.lat.toFixed(5)}` : '—'; } },
        ],
        empty: '没有符合条件的设备',
      }),
    );
  return box;
}

function alarmColumns(withDevice: boolean, reload: () => void) {
  const act = (a: AlarmItem, kind: 'acknowledge' | 'clear') => {
    const b = el('button', { type: 'button', class: 'small', 'data-alarm-act': kind }, kind === 'acknowledge' ? '确认' : '解除');
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await (kind === 'acknowledge' ? iot.acknowledge(a.alarm.id) : iot.clear(a.alarm.id));
        reload();
      } catch (e) {
        b.disabled = false;
        b.title = errorText(e);
        b.after(el('span', { class: 'error' }, errorText(e)));
      }
    });
    return b;
  };
  return [
    { title: '最近发生', cell: (a: AlarmItem) => time(a.alarm.last_at) },
    ...(withDevice ? [{ title: '设备', cell: (a: AlarmItem) => el('a', { href: `#/device/${encodeURIComponent(a.device_id)}` }, a.device_name ? `${a.device_name}（${a.device_id}）` : a.device_id) }] : []),
    { title: '类型', cell: (a: AlarmItem) => a.alarm.type },
    { title: '级别', cell: (a: AlarmItem) => zhOf(ALARM_LEVEL_ZH, a.alarm.level) },
    { title: '内容', cell: (a: AlarmItem) => a.alarm.message },
    { title: '次数', cell: (a: AlarmItem) => String(a.alarm.count) },
    { title: '状态', cell: (a: AlarmItem) => el('span', { class: `tag alarm-${a.alarm.state}`, 'data-state': a.alarm.state }, zhOf(ALARM_STATE_ZH, a.alarm.state)) },
    { title: '案件', cell: (a: AlarmItem) => (a.case_id ? el('a', { href: `#/case/${a.case_id}` }, `案件 ${a.case_id}`) : '—') },
    {
      title: '操作',
      cell: (a: AlarmItem) =>
        a.alarm.state === 'cleared'
          ? '—'
          : el('span', { class: 'alarm-acts', 'data-alarm': a.alarm.id }, a.alarm.state === 'active' ? act(a, 'acknowledge') : '', ' ', act(a, 'clear')),
    },
  ];
}

function alarms(): HTMLElement {
  const box = el('div');
  const draw = () =>
    box.replaceChildren(
      listing<AlarmItem>({
        path: '/api/v1/alarms',
        filters: [
          { name: 'state', label: '状态', options: Object.entries(ALARM_STATE_ZH) },
          { name: 'open', label: '未结', options: [['true', '仅未结']] },
          { name: 'type', label: '类型', placeholder: '如 wim.overload' },
          { name: 'device', label: '设备编号' },
        ],
        columns: alarmColumns(true, draw),
        empty: '没有符合条件的告警',
      }),
    );
  draw();
  // New and changed alarms appear without a reload.
  live((env) => {
    if (iotEvent(env)?.kind === 'alarm') draw();
  });
  return box;
}

/** The device's map: the district it lies in, its position, and a track when one is drawn. */
class DeviceMap {
  readonly box = el('div', { class: 'case-map device-map', id: 'device-map' });
  private chart: echarts.ECharts | null = null;
  private base: Record<string, unknown> | null = null;

  async init(d: DeviceDetail): Promise<void> {
    const p = d.latest?.location ?? d.device.location ?? null;
    if (!p) {
      this.box.replaceChildren(el('p', { class: 'muted' }, '设备尚无位置，无法在地图上标注。'));
      return;
    }
    const loc = await api.locate(p.lat, p.lon).catch(() => null);
    const code = loc?.district?.code ?? null;
    const [areas, tiles] = await Promise.all([code ? api.area(code).then((a) => [a]) : api.areas({ level: 'city', boundary: true }), mapTiles()]);
    const { fc } = featureCollection(areas);
    if (fc.features.length === 0) {
      this.box.replaceChildren(el('p', { class: 'muted' }, '没有可绘制的区域边界。'));
      return;
    }
    const name = `device-${code ?? 'city'}`;
    echarts.registerMap(name, fc as unknown as Parameters<typeof echarts.registerMap>[1]);
    this.chart = echarts.init(this.box);
    attachTiles(this.chart, this.box, tiles);
    this.base = {
      tooltip: { trigger: 'item' },
      geo: tiledGeo({
        map: name, nameProperty: 'code', roam: true, layoutCenter: ['50%', '50%'], layoutSize: '95%', selectedMode: false,
        label: { show: true, color: '#e9f4ff', formatter: (x: { name: string }) => fc.features.find((f) => f.properties.code === x.name)?.properties.name ?? x.name },
        itemStyle: { areaColor: THEME.areaFill, borderColor: THEME.areaBorder }, emphasis: { disabled: true },
      }, tiles),
    };
    this.draw(d, null);
    new ResizeObserver(() => this.chart?.resize()).observe(this.box);
  }

  draw(d: DeviceDetail, track: Parameters<typeof trackSeries>[0]): void {
    if (!this.chart || !this.base) return;
    this.chart.setOption({ ...this.base, series: [...deviceSeries(devicePoints([d])), ...trackSeries(track)] }, true);
    this.box.dataset.ready = 'true';
    this.box.dataset.track = String(trackCoords(track).length);
  }
}

function localInput(d: Date): string {
  const z = new Date(d.getTime() - d.getTimezoneOffset() * 60_000);
  return z.toISOString().slice(0, 16);
}

function periodForm(onPick: (from: string, to: string) => void): HTMLElement {
  const now = new Date();
  const from = el('input', { type: 'datetime-local', name: 'from', value: localInput(new Date(now.getTime() - 24 * 3600_000)) });
  const to = el('input', { type: 'datetime-local', name: 'to', value: localInput(new Date(now.getTime() + 5 * 60_000)) });
  const form = el('form', { class: 'filters period' }, el('label', {}, '从', from), el('label', {}, '到', to), el('button', { type: 'submit' }, '查看'));
  const pick = () => onPick(new Date(from.value).toISOString(), new Date(to.value).toISOString());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    pick();
  });
  queueMicrotask(pick);
  return form;
}

/** Bucket width (seconds) for about 120 points over the period, at least a minute. */
export function bucketFor(from: string, to: string): number {
  const secs = (Date.parse(to) - Date.parse(from)) / 1000;
  return Math.max(60, Math.ceil((Number.isFinite(secs) ? secs : 86_400) / 120 / 60) * 60);
}

function commandRow(r: CommandRecord, defs: readonly CommandDef[]): HTMLElement {
  return el('tr', { 'data-command': String(r.id) },
    el('td', {}, String(r.id)),
    el('td', {}, defs.find((c) => c.id === r.command)?.name ?? r.command),
    el('td', {}, JSON.stringify(r.params)),
    el('td', { class: 'cmd-status', 'data-status': r.status }, zhOf(COMMAND_STATUS_ZH, r.status)),
    el('td', {}, r.actor),
    el('td', {}, time(r.created_at)),
    el('td', {}, r.error ?? '—'),
  );
}

function commandPanel(d: DeviceDetail): HTMLElement {
  const tbody = el('tbody');
  const table = el('table', { class: 'grid commands' },
    el('thead', {}, el('tr', {}, ...['编号', '指令', '参数', '状态', '发送人', '发送时间', '错误'].map((t) => el('th', {}, t)))), tbody);
  const reload = async () => {
    const page = await iot.commands(d.device.id);
    tbody.replaceChildren(...(page.items.length ? page.items.map((r) => commandRow(r, d.commands)) : [el('tr', {}, el('td', { colspan: '7', class: 'muted' }, '尚未发送过指令'))]));
  };
  void reload().catch((e) => tbody.replaceChildren(el('tr', {}, el('td', { colspan: '7', class: 'error' }, errorText(e)))));
  const upsert = (r: CommandRecord) => {
    const row = commandRow(r, d.commands);
    const old = tbody.querySelector(`tr[data-command="${r.id}"]`);
    if (old) old.replaceWith(row);
    else {
      tbody.querySelector('td.muted')?.parentElement?.remove();
      tbody.prepend(row);
    }
  };
  live((env) => {
    const ev = iotEvent(env);
    if (ev?.kind === 'command' && ev.deviceId === d.device.id) void iot.command(ev.commandId).then(upsert, () => {});
  });
  let form: HTMLElement;
  if (!d.may_command) form = el('p', { class: 'muted' }, '您无权向该设备发送指令。');
  else if (d.commands.length === 0) form = el('p', { class: 'muted' }, '该产品没有可下发的指令。');
  else {
    const pick = el('select', { name: 'command' }, ...d.commands.map((c) => el('option', { value: c.id }, c.name)));
    const fieldsBox = el('div', { class: 'cmd-fields' });
    const msg = el('div', { class: 'form-msg' });
    const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
    const drawFields = () => {
      inputs.clear();
      const def = d.commands.find((c) => c.id === pick.value)!;
      fieldsBox.replaceChildren(
        ...commandFields(def).map((f) => {
          let input: HTMLInputElement | HTMLSelectElement;
          if (f.kind === 'select') input = el('select', { name: f.name }, ...(f.options ?? []).map((o) => el('option', { value: o }, o)));
          else if (f.kind === 'checkbox') input = el('input', { type: 'checkbox', name: f.name });
          else if (f.kind === 'number') input = el('input', { type: 'number', name: f.name, step: f.integer ? '1' : 'any', min: f.min?.toString(), max: f.max?.toString() });
          else input = el('input', { name: f.name, placeholder: f.kind === 'point' ? '117.03,28.24' : '' });
          inputs.set(f.name, input);
          return el('label', {}, f.label, input, el('small', { class: 'muted' }, f.hint));
        }),
      );
    };
    pick.addEventListener('change', drawFields);
    drawFields();
    form = el('form', { class: 'create command-form' }, el('h3', {}, '下发指令'), el('label', {}, '指令', pick), fieldsBox, el('button', { type: 'submit' }, '发送'), msg);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const def = d.commands.find((c) => c.id === pick.value)!;
      const values: Record<string, string> = {};
      for (const [k, i] of inputs) values[k] = i instanceof HTMLInputElement && i.type === 'checkbox' ? String(i.checked) : i.value;
      const r = commandParams(commandFields(def), values);
      msg.className = 'form-msg';
      if (!r.ok) {
        msg.textContent = r.errors.join('；');
        msg.className = 'form-msg error';
        return;
      }
      try {
        const rec = await iot.send(d.device.id, def.id, r.params);
        msg.textContent = `指令 ${rec.id} 已受理（${zhOf(COMMAND_STATUS_ZH, rec.status)}）`;
        upsert(rec);
        // Poll as well, in case the live feed is not connected: until the status is final or the deadline passes.
        const until = Date.parse(rec.deadline_at) + 5000;
        const poll = async () => {
          const cur = await iot.command(rec.id).catch(() => null);
          if (cur) upsert(cur);
          if (cur && !commandDone(cur.status) && Date.now() < until && document.body.contains(tbody)) window.setTimeout(() => void poll(), 3000);
        };
        window.setTimeout(() => void poll(), 3000);
      } catch (err) {
        msg.textContent = `发送失败：${errorText(err)}`;
        msg.className = 'form-msg error';
      }
    });
  }
  return el('section', { class: 'card wide' }, el('h3', {}, '指令'), form, el('div', { class: 'table-wrap' }, table));
}

function deviceDetail(_me: Me, id?: string): HTMLElement {
  const box = el('div', { class: 'device-page' }, el('p', { class: 'muted' }, '加载中…'));
  if (!id) return el('p', { class: 'error' }, '缺少设备编号');
  const deviceId = decodeURIComponent(id);
  const render = async () => {
    const d = await iot.device(deviceId);
    const stateBody = el('tbody');
    const drawState = (dd: DeviceDetail) => {
      const values = dd.latest?.values ?? {};
      const known = dd.properties.filter((p) => p.id in values);
      const extra = Object.keys(values).filter((k) => !dd.properties.some((p) => p.id === k));
      stateBody.replaceChildren(
        ...(known.length + extra.length === 0
          ? [el('tr', {}, el('td', { colspan: '3', class: 'muted' }, '尚未收到该设备的数据'))]
          : [
              ...known.map((p) => el('tr', { 'data-prop': p.id }, el('td', {}, p.name), el('td', { class: 'v' }, valueText(values[p.id])), el('td', {}, p.unit ?? ''))),
              ...extra.map((k) => el('tr', { 'data-prop': k }, el('td', {}, k), el('td', { class: 'v' }, valueText(values[k])), el('td', {}, ''))),
            ]),
      );
    };
    drawState(d);
    const head = el('div', { class: 'device-head', 'data-device': d.device.id },
      el('h2', {}, `${d.device.name}`), onlineTag(d.online),
      el('span', { class: 'muted' }, ` ${d.device.id} · ${d.product_name ?? d.device.product_key} · 权属 ${d.device.owner_department} · 最后上报 ${time(d.latest?.last_seen)}`));
    const map = new DeviceMap();
    const chartBox = el('div', { class: 'telemetry-chart', id: 'telemetry-chart' });
    const chartNote = el('div', { class: 'muted' });
    let chart: echarts.ECharts | null = null;
    const period = periodForm(async (from, to) => {
      try {
        const bucket = bucketFor(from, to);
        const [hist, track] = await Promise.all([iot.telemetry(d.device.id, from, to, bucket), iot.track(d.device.id, from, to)]);
        const series = telemetrySeries(hist.buckets, d.properties);
        chart ??= echarts.init(chartBox);
        chart.setOption(telemetryOption(series), true);
        chartBox.dataset.series = String(series.length);
        chartBox.dataset.points = String(series.reduce((s, x) => s + x.points.length, 0));
        chartNote.textContent = series.length ? `每 ${bucket / 60} 分钟一个点（均值），共 ${hist.buckets.length} 个分桶` : '该时段没有数值型数据';
        map.draw(d, track);
      } catch (e) {
        chartNote.textContent = `读取失败：${errorText(e)}`;
      }
    });
    const alarmBox = el('div');
    const drawAlarms = () =>
      alarmBox.replaceChildren(listing<AlarmItem>({ path: '/api/v1/alarms', query: { device: d.device.id }, pageSize: 10, columns: alarmColumns(false, drawAlarms), empty: '该设备没有告警' }));
    drawAlarms();
    box.replaceChildren(
      head,
      el('div', { class: 'device-grid' },
        el('section', { class: 'card' }, el('h3', {}, '最新状态'), el('table', { class: 'grid state' }, el('thead', {}, el('tr', {}, el('th', {}, '属性'), el('th', {}, '值'), el('th', {}, '单位'))), stateBody)),
        el('section', { class: 'card' }, el('h3', {}, '位置与轨迹'), map.box),
        el('section', { class: 'card wide' }, el('h3', {}, '遥测曲线与轨迹时段'), period, chartBox, chartNote),
        el('section', { class: 'card wide' }, el('h3', {}, '告警'), alarmBox),
        commandPanel(d),
      ),
    );
    void map.init(d).catch((e) => map.box.replaceChildren(el('p', { class: 'error' }, `地图加载失败：${errorText(e)}`)));
    // The latest state follows the device: re-read it when it reports an alarm or goes on/offline.
    const refresh = async () => {
      const dd = await iot.device(deviceId).catch(() => null);
      if (!dd) return;
      drawState(dd);
      head.querySelector('.tag')?.replaceWith(onlineTag(dd.online));
    };
    const prev = unsubscribe;
    unsubscribe = null;
    live((env) => {
      const ev = iotEvent(env);
      if (!ev || ev.deviceId !== deviceId) return;
      if (ev.kind === 'alarm') drawAlarms();
      if (ev.kind !== 'command') void refresh();
    });
    const both = unsubscribe;
    unsubscribe = () => {
      prev?.();
      (both as (() => void) | null)?.();
    };
  };
  void render().catch((e) => box.replaceChildren(el('p', { class: 'error' }, e instanceof ApiError && e.status === 404 ? `设备 ${deviceId} 不存在或无权查看` : errorText(e))));
  return box;
}

function rules(): HTMLElement {
  const box = el('div', {}, el('p', { class: 'muted' }, '加载中…'));
  void Promise.all([iot.rules(), iot.versions()]).then(([cur, versions]) => {
    const rs = (cur.rule_set?.rules ?? []) as { id?: string; name?: string; enabled?: boolean; applies_to?: Record<string, unknown>; raise?: { type?: string; level?: string } }[];
    const exportLink = (v?: number) => el('a', { href: `/api/v1/rules/export${v ? `?version=${v}` : ''}`, download: `rules-v${v ?? cur.version}.json`, class: 'button', 'data-export': String(v ?? cur.version) }, '导出');
    box.replaceChildren(
      el('section', { class: 'card', 'data-version': String(cur.version) },
        el('h3', {}, `当前版本：第 ${cur.version} 版`),
        el('p', { class: 'muted' }, `${cur.rule_count} 条规则 · ${cur.created_by} · ${time(cur.created_at)}${cur.note ? ` · ${cur.note}` : ''}`),
        exportLink(),
        el('table', { class: 'grid' },
          el('thead', {}, el('tr', {}, ...['规则', '名称', '适用', '告警类型', '级别', '启用'].map((t) => el('th', {}, t)))),
          el('tbody', {}, ...rs.map((r) => el('tr', {},
            el('td', {}, r.id ?? '—'), el('td', {}, r.name ?? '—'),
            el('td', {}, r.applies_to ? Object.entries(r.applies_to).map(([k, v]) => `${k}=${String(v)}`).join('，') : '—'),
            el('td', {}, r.raise?.type ?? '—'), el('td', {}, zhOf(ALARM_LEVEL_ZH, r.raise?.level ?? '—')), el('td', {}, r.enabled === false ? '否' : '是'))))),
      ),
      el('section', { class: 'card' }, el('h3', {}, '历史版本'),
        el('table', { class: 'grid versions' },
          el('thead', {}, el('tr', {}, ...['版本', '规则数', '保存人', '时间', '说明', ''].map((t) => el('th', {}, t)))),
          el('tbody', {}, ...versions.map((v) => el('tr', { 'data-version': String(v.version) },
            el('td', {}, `第 ${v.version} 版`), el('td', {}, String(v.rule_count)), el('td', {}, v.created_by), el('td', {}, time(v.created_at)), el('td', {}, v.note ?? '—'), el('td', {}, exportLink(v.version))))))),
    );
  }, (e) => box.replaceChildren(el('p', { class: 'error' }, errorText(e))));
  return box;
}

function packs(me: Me): HTMLElement {
  const admin = me.user.roles.includes('admin');
  const box = el('div', {}, el('p', { class: 'muted' }, '加载中…'));
  const draw = async () => {
    const list = await iot.packs();
    box.replaceChildren(
      el('table', { class: 'grid packs' },
        el('thead', {}, el('tr', {}, ...['场景包', '说明', '产品', '规则数', '告警类型', '状态', ...(admin ? ['操作'] : [])].map((t) => el('th', {}, t)))),
        el('tbody', {}, ...list.map((p) => {
          const msg = el('span', { class: 'form-msg' });
          const btn = el('button', { type: 'button', class: 'small', 'data-enable': p.key }, p.enabled ? '重新安装' : '启用');
          btn.addEventListener('click', async () => {
            btn.disabled = true;
            try {
              await iot.enablePack(p.key);
              await draw();
            } catch (e) {
              btn.disabled = false;
              msg.textContent = errorText(e);
              msg.className = 'form-msg error';
            }
          });
          return el('tr', { 'data-pack': p.key, 'data-enabled': String(p.enabled) },
            el('td', {}, el('strong', {}, p.name), el('div', { class: 'muted' }, p.key)),
            el('td', {}, p.description), el('td', {}, p.products.join('、')), el('td', {}, String(p.rules)), el('td', {}, p.alarm_types.join('、')),
            el('td', {}, p.enabled ? el('span', { class: 'tag ok' }, '已启用') : el('span', { class: 'tag off' }, '未启用')),
            ...(admin ? [el('td', {}, btn, msg)] : []));
        })),
      ),
    );
  };
  void draw().catch((e) => box.replaceChildren(el('p', { class: 'error' }, errorText(e))));
  return box;
}

export const DEVICE_PAGES: Page[] = [
  { id: 'devices', title: '设备', group: '物联感知', permission: 'read_city', render: devices },
  { id: 'device', title: '设备详情', group: '物联感知', permission: 'read_city', render: deviceDetail, hidden: true, menu: 'devices' },
  { id: 'alarms', title: '告警', group: '物联感知', permission: 'read_city', render: alarms },
  { id: 'rules', title: '规则', group: '物联感知', permission: 'read_city', render: rules },
  { id: 'packs', title: '场景包', group: '物联感知', permission: 'read_city', render: packs },
];
