// The case pages of the workbench: 我的待办 (my queue), 案件查询 (search), the case
// detail with map, photos, flow timeline and exactly the actions the server allows,
// and 综合评价 (evaluation by area, department and position with CSV download).

import { type Query, api, attachmentUrl, withQuery } from '../api/client';
import type { CaseActionKind, CaseSummary, CaseView, EvaluationReport, EvaluationRow, FlowRecord } from '../api/cases';
import type { Department, Me } from '../api/types';
import { type ActionForm, LIMIT_UNITS, actionSpec, buildRequest, refusalText } from '../cases/actions';
import { CLOCK_ZH, SOURCE_ZH, STATE_ZH, URGENCY_ZH, stepZh } from '../cases/labels';
import { colourText, remainingText, rowColour, usedPercent } from '../cases/timer';
import { echarts } from '../charts/echarts';
import { featureCollection } from '../charts/geo';
import { attachTiles } from '../charts/tilelayer';
import { tiledGeo } from '../charts/tiles';
import { mapTiles } from '../api/map';
import { THEME } from '../charts/theme';
import { dayWindows } from '../charts/trend';
import { el, errorText } from '../dom';
import { POSITION_ZH, zh } from '../labels';
import { type Filter, listing } from './listing';
import type { Page } from './pages';

const time = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false }) : '—');
const opts = <K extends string>(t: Record<K, string>) => Object.entries(t) as [string, string][];

function timerCell(c: Pick<CaseSummary, 'colour' | 'deadline_at' | 'on_hold'>): HTMLElement {
  const now = new Date();
  const colour = rowColour(c.colour, c.deadline_at, now);
  return el(
    'span',
    { class: 'timer', 'data-colour': colour ?? 'none', title: colourText(colour) },
    el('i', { class: `dot ${colour ?? 'none'}` }),
    remainingText(c.deadline_at, now, c.on_hold),
  );
}

const CASE_COLUMNS = [
  { title: '计时', cell: (c: CaseSummary) => timerCell(c) },
  { title: '案件编号', cell: (c: CaseSummary) => el('a', { href: `#/case/${c.id}`, class: 'case-link', 'data-case': c.number }, c.number) },
  { title: '标题', cell: (c: CaseSummary) => c.title },
  { title: '状态', cell: (c: CaseSummary) => el('span', { class: `state st-${c.state}` }, STATE_ZH[c.state] ?? c.state_label, c.on_hold ? '（挂账）' : '', c.overdue ? '（超期）' : '') },
  { title: '来源', cell: (c: CaseSummary) => zh(SOURCE_ZH, c.source) },
  { title: '区域', cell: (c: CaseSummary) => c.area_code ?? '—' },
  { title: '办理部门', cell: (c: CaseSummary) => c.holder_department },
  { title: '上报时间', cell: (c: CaseSummary) => time(c.reported_at) },
];

const CASE_FILTERS: Filter[] = [
  { name: 'q', label: '关键词', placeholder: '编号、标题、地址' },
  { name: 'state', label: '状态', options: opts(STATE_ZH) },
  { name: 'source', label: '来源', options: opts(SOURCE_ZH) },
  { name: 'overdue', label: '超期', options: [['true', '已超期'], ['false', '未超期']] },
];

function queue(): HTMLElement {
  return listing<CaseSummary>({
    path: '/api/v1/cases',
    query: { mine: true },
    filters: CASE_FILTERS,
    columns: CASE_COLUMNS,
    pageSize: 50,
    empty: '暂无待办案件',
  });
}

function search(): HTMLElement {
  return listing<CaseSummary>({
    path: '/api/v1/cases',
    filters: [
      ...CASE_FILTERS,
      { name: 'matter', label: '事件类别', placeholder: '代码或前缀，如 01' },
      { name: 'area', label: '区域代码', placeholder: '如 360602' },
      { name: 'open', label: '办结', options: [['true', '在办'], ['false', '已办结/作废']] },
    ],
    columns: CASE_COLUMNS,
    pageSize: 50,
  });
}

// --- detail

function flowItem(r: FlowRecord, depts: Map<string, string>): HTMLElement {
  const pos = r.acted_as ? zh(POSITION_ZH, r.acted_as) : r.actor_user === null ? '系统' : '';
  const dept = r.actor_department ? (depts.get(r.actor_department) ?? r.actor_department) : '';
  const detail = r.detail as { department?: string; reason?: string } | null;
  return el(
    'li',
    { 'data-action': r.action },
    el('div', { class: 'flow-head' }, el('strong', {}, stepZh(r.action)), el('span', { class: 'flow-time' }, time(r.at))),
    el('div', { class: 'flow-meta' },
      `${r.from_state ? (STATE_ZH[r.from_state] ?? r.from_state) + ' → ' : ''}${STATE_ZH[r.to_state] ?? r.to_state}`,
      ` · ${dept ? dept + ' ' : ''}${pos}`,
      detail?.department ? ` · 派往 ${depts.get(detail.department) ?? detail.department}` : '',
    ),
    detail?.reason ? el('div', { class: 'flow-reason' }, `分拨依据：${detail.reason}`) : null,
    r.opinion ? el('div', { class: 'flow-opinion' }, `意见：${r.opinion}`) : null,
    r.attachments.length ? el('div', { class: 'flow-files' }, ...r.attachments.map((a) => el('a', { href: attachmentUrl(a), target: '_blank' }, '附件'))) : null,
  );
}

async function drawMap(box: HTMLElement, v: CaseView): Promise<void> {
  const c = v.case;
  const code = c.district_code ?? c.area_code?.slice(0, 6);
  if (!code || c.lon === null || c.lat === null) {
    box.replaceChildren(el('p', { class: 'muted' }, '案件没有坐标，无法在地图上标注。'));
    return;
  }
  const [area, tiles] = await Promise.all([api.area(code), mapTiles()]);
  const { fc } = featureCollection([area]);
  if (fc.features.length === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, `${area.name} 没有边界数据。`));
    return;
  }
  const name = `case-${code}`;
  echarts.registerMap(name, fc as unknown as Parameters<typeof echarts.registerMap>[1]);
  const chart = echarts.init(box);
  attachTiles(chart, box, tiles);
  chart.setOption({
    tooltip: { trigger: 'item' },
    geo: tiledGeo({
      map: name, nameProperty: 'code', roam: true, layoutCenter: ['50%', '50%'], layoutSize: '95%', selectedMode: false,
      label: { show: true, formatter: () => area.name, color: '#e9f4ff' },
      itemStyle: { areaColor: THEME.areaFill, borderColor: THEME.areaBorder }, emphasis: { disabled: true },
    }, tiles),
    series: [{ type: 'scatter', coordinateSystem: 'geo', symbol: 'pin', symbolSize: 34, itemStyle: { color: THEME.danger }, data: [{ name: c.number, value: [c.lon, c.lat] }] }],
  });
  box.dataset.ready = 'true';
  new ResizeObserver(() => chart.resize()).observe(box);
}

function photos(v: CaseView): HTMLElement {
  const imgs = v.attachments.filter((a) => a.content_type.startsWith('image/'));
  const docs = v.attachments.filter((a) => !a.content_type.startsWith('image/'));
  if (!v.attachments.length) return el('p', { class: 'muted' }, '没有照片或附件');
  return el(
    'div', { class: 'photos' },
    ...imgs.map((a) => el('a', { href: attachmentUrl(a.id), target: '_blank' }, el('img', { src: attachmentUrl(a.id), alt: a.file_name, loading: 'lazy' }))),
    ...docs.map((a) => el('a', { href: attachmentUrl(a.id), target: '_blank', class: 'doc' }, a.file_name)),
  );
}

async function uploadAll(input: HTMLInputElement | null): Promise<string[]> {
  const ids: string[] = [];
  for (const f of Array.from(input?.files ?? [])) ids.push((await api.upload(f, f.name)).id);
  return ids;
}

function actionForm(v: CaseView, kind: CaseActionKind, depts: Department[], onDone: (v: CaseView) => void): HTMLElement {
  const spec = actionSpec(kind);
  const form = el('form', { class: 'action-form', 'data-form': kind });
  const msg = el('div', { class: 'form-msg', role: 'alert' });
  const get: (() => Partial<ActionForm>)[] = [];
  let files: HTMLInputElement | null = null;
  form.append(el('h4', {}, spec.label));
  for (const f of spec.fields) {
    switch (f) {
      case 'department': {
        const sel = el('select', { name: 'department', required: true }, el('option', { value: '' }, '请选择部门'),
          ...depts.map((d) => el('option', { value: d.code }, `${d.name}（${d.code}）`)));
        const reason = el('div', { class: 'suggest', 'data-suggest': '' }, '正在计算分拨建议…');
        api.dispatchSuggestion(v.case.id).then(
          (s) => {
            sel.value = s.department_code;
            reason.dataset.suggest = s.department_code;
            const name = depts.find((d) => d.code === s.department_code)?.name ?? s.department_code;
            reason.textContent = `建议派往：${name}。依据：${s.reason}`;
          },
          (e) => (reason.textContent = `无法获取分拨建议：${errorText(e)}`),
        );
        form.append(el('label', {}, '派遣部门', sel), reason);
        get.push(() => ({ department: sel.value }));
        break;
      }
      case 'extension':
      case 'extension_optional': {
        const val = el('input', { name: 'extra_value', type: 'number', min: '1', step: '1', placeholder: f === 'extension' ? '时长' : '不填则批准申请的时长' });
        const unit = el('select', { name: 'extra_unit' }, ...LIMIT_UNITS.map(([u, l]) => el('option', { value: u }, l)));
        const pending = v.case.snapshot.extension_pending;
        form.append(el('label', {}, f === 'extension' ? '申请延期时长' : '批准延期时长', el('span', { class: 'inline' }, val, unit)));
        if (pending) form.append(el('div', { class: 'suggest' }, `申请延期：${pending.value} ${LIMIT_UNITS.find(([u]) => u === pending.unit)?.[1] ?? pending.unit}`));
        get.push(() => ({ extensionValue: val.value, extensionUnit: unit.value }));
        break;
      }
      case 'confirmed':
      case 'upheld': {
        const sel = el('select', { name: f }, el('option', { value: '' }, '请选择'),
          el('option', { value: 'true' }, f === 'confirmed' ? '问题属实' : '申诉成立'),
          el('option', { value: 'false' }, f === 'confirmed' ? '问题不属实' : '申诉不成立'));
        form.append(el('label', {}, f === 'confirmed' ? '核实结果' : '裁定结果', sel));
        get.push(() => (f === 'confirmed' ? { confirmed: sel.value } : { upheld: sel.value }));
        break;
      }
      case 'close_kind': {
        const sel = el('select', { name: 'close_kind' }, el('option', { value: 'special' }, '特殊结案'), el('option', { value: 'erroneous' }, '错误结案'));
        form.append(el('label', {}, '结案类型', sel));
        get.push(() => ({ closeKind: sel.value }));
        break;
      }
      case 'opinion': {
        const ta = el('textarea', { name: 'opinion', rows: '3', maxlength: '2000', placeholder: spec.opinionRequired ? '必填：请说明理由' : '选填' });
        form.append(el('label', {}, spec.opinionRequired ? '意见（必填）' : '意见', ta));
        get.push(() => ({ opinion: ta.value }));
        break;
      }
      case 'attachments': {
        files = el('input', { name: 'attachments', type: 'file', accept: 'image/jpeg,image/png,image/webp,application/pdf', multiple: true });
        form.append(el('label', {}, '照片/附件', files));
        break;
      }
    }
  }
  const submit = el('button', { type: 'submit', class: spec.tone }, `确认${spec.label}`);
  form.append(submit, msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.className = 'form-msg';
    const values: ActionForm = Object.assign({}, ...get.map((g) => g()));
    const pre = buildRequest(kind, values);
    if ('errors' in pre) {
      msg.textContent = pre.errors.join('；');
      msg.className = 'form-msg error';
      return;
    }
    submit.disabled = true;
    msg.textContent = '提交中…';
    try {
      const attachments = await uploadAll(files);
      const next = await api.act(v.case.id, { ...pre.request, attachments });
      onDone(next);
    } catch (err) {
      msg.textContent = refusalText(err);
      msg.className = 'form-msg error';
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function caseDetail(_me: Me, param?: string): HTMLElement {
  const root = el('div', { class: 'case-detail' }, el('p', {}, '加载中…'));
  const id = Number(param);
  if (!param || !Number.isInteger(id) || id <= 0) {
    root.replaceChildren(el('p', { class: 'error' }, '案件编号无效'));
    return root;
  }
  let depts: Department[] = [];
  const render = (v: CaseView, notice?: string) => {
    const c = v.case;
    const s = c.snapshot;
    const deptName = (code: string | null | undefined) => (code ? (depts.find((d) => d.code === code)?.name ?? code) : '—');
    const deptMap = new Map(depts.map((d) => [d.code, d.name]));
    const formBox = el('div', { class: 'action-box' });
    const buttons = v.allowed.map((k) => {
      const spec = actionSpec(k);
      const b = el('button', { type: 'button', class: `act ${spec.tone}`, 'data-action': k }, spec.label);
      b.addEventListener('click', () => {
        for (const x of root.querySelectorAll('button.act')) x.classList.toggle('chosen', x === b);
        formBox.replaceChildren(actionForm(v, k, depts, (next) => render(next, `已${spec.label}：案件现为「${STATE_ZH[next.case.snapshot.state]}」`)));
      });
      return b;
    });
    const t = v.timer;
    const mapBox = el('div', { class: 'case-map', id: 'case-map' });
    root.replaceChildren(
      ...[
      el('div', { class: 'case-head', 'data-state': s.state, 'data-number': c.number },
        el('h2', {}, c.number, el('span', { class: `state st-${s.state}` }, STATE_ZH[s.state]), s.on_hold ? el('span', { class: 'tag' }, '挂账') : null, s.overdue ? el('span', { class: 'tag red' }, '超期') : null),
        el('div', { class: 'case-title' }, c.title),
        t ? el('div', { class: 'case-timer', 'data-colour': t.colour },
          el('i', { class: `dot ${t.colour}` }), `${CLOCK_ZH[t.clock] ?? t.clock}：${colourText(t.colour)}，已用 ${usedPercent(t.fraction)}%，${remainingText(t.deadline, new Date(), t.paused)}`,
          el('div', { class: 'bar' }, el('span', { class: t.colour, style: `width:${usedPercent(t.fraction)}%` })),
        ) : el('div', { class: 'case-timer muted' }, '当前环节不计时'),
      ),
      notice ? el('div', { class: 'notice', role: 'status' }, notice) : null,
      el('section', { class: 'actions' },
        el('h3', {}, '可执行操作'),
        buttons.length ? el('div', { class: 'act-bar' }, ...buttons) : el('p', { class: 'muted', 'data-no-actions': '' }, '您当前没有可对此案件执行的操作'),
        formBox,
      ),
      el('div', { class: 'case-grid' },
        el('section', { class: 'card' }, el('h3', {}, '案件信息'),
          el('dl', {},
            el('dt', {}, '问题描述'), el('dd', {}, c.description || '—'),
            el('dt', {}, '事件类别'), el('dd', {}, c.matter_code ?? '未分类'),
            el('dt', {}, '来源'), el('dd', {}, zh(SOURCE_ZH, c.source)),
            el('dt', {}, '紧急程度'), el('dd', {}, zh(URGENCY_ZH, c.urgency)),
            el('dt', {}, '位置'), el('dd', {}, [c.address, c.lon !== null && c.lat !== null ? `${c.lon.toFixed(5)}, ${c.lat.toFixed(5)}` : null].filter(Boolean).join(' · ') || '—'),
            el('dt', {}, '网格/区域'), el('dd', {}, `${c.grid_code ?? '—'} / ${c.area_code ?? '—'}`),
            el('dt', {}, '管理中心'), el('dd', {}, deptName(s.center_department)),
            el('dt', {}, '当前办理'), el('dd', { 'data-holder': s.holder.department }, deptName(s.holder.department)),
            el('dt', {}, '处置部门'), el('dd', {}, deptName(s.handling_department)),
            el('dt', {}, '上报时间'), el('dd', {}, time(c.reported_at)),
            el('dt', {}, '上报人'), el('dd', {}, v.reporters.map((r) => `${r.name ?? '匿名'}（${r.channel}）`).join('、') || '—'),
            c.likely_duplicate_of ? el('dt', {}, '疑似重复') : null,
            c.likely_duplicate_of ? el('dd', {}, el('a', { href: `#/case/${c.likely_duplicate_of}` }, `案件 #${c.likely_duplicate_of}`)) : null,
          ),
        ),
        el('section', { class: 'card' }, el('h3', {}, '位置'), mapBox),
        el('section', { class: 'card' }, el('h3', {}, '照片与附件'), photos(v)),
        el('section', { class: 'card flow' }, el('h3', {}, `流转记录（${v.flow.length}）`),
          el('ol', { class: 'timeline' }, ...v.flow.map((r) => flowItem(r, deptMap)))),
      ),
      ].filter((n): n is HTMLElement => n !== null),
    );
    void drawMap(mapBox, v).catch((e) => mapBox.replaceChildren(el('p', { class: 'error' }, `地图加载失败：${errorText(e)}`)));
  };
  Promise.all([api.caseView(id), api.departments()]).then(
    ([v, d]) => {
      depts = d;
      render(v);
    },
    (e) => root.replaceChildren(el('p', { class: 'error' }, `无法打开案件：${errorText(e)}`)),
  );
  return root;
}

// --- evaluation

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v.toFixed(1)}%`);
const pts = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v.toFixed(1));

type EvalGroup = 'area' | 'department' | 'position';

/** Columns of each grouping: the indicators of DOMAIN.md §5 and the grades. */
export function evaluationColumns(group: EvalGroup): { title: string; cell: (r: EvaluationRow) => string }[] {
  const base = [
    { title: group === 'position' ? '人员' : group === 'department' ? '部门' : '区域', cell: (r: EvaluationRow) => r.name ?? r.key },
    { title: '上报', cell: (r: EvaluationRow) => String(r.counters.reported) },
    { title: '立案', cell: (r: EvaluationRow) => String(r.counters.registered) },
    { title: '结案', cell: (r: EvaluationRow) => String(r.counters.closed) },
  ];
  if (group === 'area') {
    return [...base,
      { title: '监督举报率', cell: (r) => pct(r.area.supervision_report_rate) },
      { title: '结案率', cell: (r) => pct(r.area.close_rate) },
      { title: '按期结案率', cell: (r) => pct(r.area.close_in_time_rate) },
    ];
  }
  if (group === 'department') {
    return [...base,
      { title: '应处置', cell: (r) => String(r.department?.volume ?? r.counters.needs_disposal) },
      { title: '处置率', cell: (r) => pct(r.department?.disposal_rate) },
      { title: '按期处置率', cell: (r) => pct(r.department?.disposal_in_time_rate) },
      { title: '返工率', cell: (r) => pct(r.department?.rework_rate) },
      { title: '综合得分', cell: (r) => pts(r.department?.score.total) },
      { title: '等级', cell: (r) => r.department?.score.grade ?? '—' },
    ];
  }
  return [...base,
    { title: '岗位得分', cell: (r) => r.positions.map((p) => `${zh(POSITION_ZH, p.position)} ${pts(p.score.total)}（${p.score.grade ?? '—'}）`).join('；') || '—' },
  ];
}

function evaluation(me: Me): HTMLElement {
  const days = dayWindows(new Date(), 30);
  const dateOf = (iso: string) => new Date(Date.parse(iso) + 8 * 3600_000).toISOString().slice(0, 10);
  const from = el('input', { type: 'date', name: 'from', value: dateOf(days[0]!.from) });
  const to = el('input', { type: 'date', name: 'to', value: dateOf(days[days.length - 1]!.from) });
  const group = el('select', { name: 'group' }, el('option', { value: 'area' }, '按区域'), el('option', { value: 'department' }, '按部门'), el('option', { value: 'position' }, '按岗位人员'));
  const level = el('select', { name: 'level' }, el('option', { value: 'district' }, '区（县）'), el('option', { value: 'street' }, '街道（乡镇）'), el('option', { value: 'community' }, '社区（村）'));
  const csv = el('a', { class: 'button-link', 'data-csv': '' }, '下载 CSV');
  const status = el('div', { class: 'list-status' });
  const head = el('div', { class: 'eval-head' });
  const tbody = el('tbody');
  const thead = el('thead');
  const query = (): Query => {
    // Dates are the city's calendar days: from 00:00 of the first to 24:00 of the last (UTC+8).
    const f = from.value ? new Date(`${from.value}T00:00:00+08:00`).toISOString() : undefined;
    const t = to.value ? new Date(Date.parse(`${to.value}T00:00:00+08:00`) + 86_400_000).toISOString() : undefined;
    return { from: f, to: t, group: group.value, level: group.value === 'area' ? level.value : undefined };
  };
  const load = async () => {
    const q = query();
    csv.setAttribute('href', withQuery('/api/v1/evaluation', { ...q, format: 'csv' }));
    status.textContent = '计算中…';
    status.className = 'list-status';
    try {
      const r: EvaluationReport = await api.get<EvaluationReport>('/api/v1/evaluation', q);
      const cols = evaluationColumns(group.value as EvalGroup);
      head.replaceChildren(
        el('span', {}, '上报 ', el('b', { 'data-h': 'reported' }, String(r.headline.reported))),
        el('span', {}, '办结 ', el('b', { 'data-h': 'handled' }, String(r.headline.handled))),
        el('span', {}, '结案率 ', el('b', {}, pct(r.headline.completion_rate))),
      );
      thead.replaceChildren(el('tr', {}, ...cols.map((c) => el('th', {}, c.title))));
      tbody.replaceChildren(...r.rows.map((row) => el('tr', { 'data-key': row.key }, ...cols.map((c) => el('td', {}, c.cell(row))))));
      status.textContent = r.rows.length ? `共 ${r.rows.length} 行` : '该时段没有统计数据';
    } catch (e) {
      tbody.replaceChildren();
      status.textContent = errorText(e);
      status.className = 'list-status error';
    }
  };
  const form = el('form', { class: 'filters' },
    el('label', {}, '开始日期', from), el('label', {}, '结束日期', to), el('label', {}, '分组', group), el('label', {}, '区域层级', level),
    el('button', { type: 'submit' }, '统计'), csv);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load();
  });
  group.addEventListener('change', () => (level.disabled = group.value !== 'area'));
  void load();
  void me;
  return el('div', {}, form, head, status, el('div', { class: 'table-wrap' }, el('table', { class: 'grid' }, thead, tbody)));
}

export const CASE_PAGES: Page[] = [
  { id: 'queue', title: '我的待办', group: '案件办理', permission: 'work_cases', render: queue },
  { id: 'cases', title: '案件查询', group: '案件办理', permission: 'read_city', render: search },
  { id: 'case', title: '案件详情', group: '案件办理', permission: 'read_city', render: caseDetail, hidden: true, menu: 'cases' },
  { id: 'evaluation', title: '综合评价', group: '案件办理', permission: 'read_city', render: evaluation },
];

