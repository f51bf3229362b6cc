// The workbench's pages, one entry each. A page names the permission it needs;
// the menu shows only what the user's roles allow (the API refuses the rest anyway).
// The case loop and devices add their entries here (group '案件' / '物联感知').

import { api } from '../api/client';
import type { Area, AuditRecord, Component, Department, Me, Position, Staff, StandardClass, UnitGrid, User } from '../api/types';
import type { Permission } from '../access';
import { el, errorText } from '../dom';
import { COMPONENT_STATUS_ZH, DEPARTMENT_KIND_ZH, LEVEL_ZH, POSITION_ZH, TIER_ZH, rolesZh, scopeZh, zh } from '../labels';
import { listing } from './listing';
import { CASE_PAGES } from './cases';
import { DEVICE_PAGES } from './devices';

export interface Page {
  id: string;
  title: string;
  group: string;
  permission: Permission;
  render: (me: Me, param?: string) => HTMLElement;
  /** Not in the menu (reached by a link, e.g. a case's detail page). */
  hidden?: boolean;
  /** The menu entry to highlight when a hidden page is open. */
  menu?: string;
}

const opts = <K extends string>(t: Record<K, string>) => Object.entries(t) as [string, string][];
const time = (iso: string) => new Date(iso).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false });

function home(me: Me): HTMLElement {
  return el(
    'div',
    { class: 'home' },
    el('div', { class: 'card' },
      el('h3', {}, `${me.user.display_name}，您好`),
      el('dl', {},
        el('dt', {}, '账号'), el('dd', {}, me.user.username),
        el('dt', {}, '角色'), el('dd', {}, rolesZh(me.user.roles)),
        el('dt', {}, '部门'), el('dd', {}, me.user.department_code ?? '—'),
        el('dt', {}, '管辖范围'), el('dd', { 'data-scope': me.scope.kind }, scopeZh(me.scope)),
      ),
    ),
    el('div', { class: 'card links' },
      el('h3', {}, '常用入口'),
      el('a', { href: '/screen', target: '_blank' }, '城市运行大屏 ›'),
      el('a', { href: '/report' }, '移动上报 ›'),
      el('a', { href: '#/queue' }, '我的待办 ›'),
      el('a', { href: '/api/docs/', target: '_blank' }, 'API 文档 ›'),
    ),
  );
}

function standards(): HTMLElement {
  const kind = el('select', { name: 'kind' }, el('option', { value: 'component' }, '部件类'), el('option', { value: 'matter' }, '事件类'));
  const box = el('div');
  const draw = () =>
    box.replaceChildren(
      listing<StandardClass>({
        path: `/api/v1/standards/${kind.value}`,
        filters: [{ name: 'q', label: '名称', placeholder: '如：井盖、占道' }],
        pageSize: 100,
        columns: [
          { title: '代码', cell: (r) => r.code },
          { title: '大类', cell: (r) => `${r.major_code} ${r.major_name}` },
          { title: '小类名称', cell: (r) => r.name },
          { title: '来源', cell: (r) => (r.local ? '本地扩展' : 'GB/T 47678.5') },
        ],
      }),
    );
  kind.addEventListener('change', draw);
  draw();
  return el('div', {}, el('div', { class: 'filters' }, el('label', {}, '分类', kind)), box);
}

function users(): HTMLElement {
  const msg = el('div', { class: 'form-msg' });
  const f = {
    username: el('input', { name: 'username', required: true, placeholder: '字母、数字、._-' }),
    display_name: el('input', { name: 'display_name', required: true }),
    password: el('input', { name: 'password', type: 'password', required: true, minlength: '10', autocomplete: 'new-password' }),
    department_code: el('input', { name: 'department_code', placeholder: '如 YH-CENTER' }),
    role: el('select', { name: 'role' }, ...opts(POSITION_ZH).map(([v, l]) => el('option', { value: v }, l))),
  };
  const list = el('div');
  const draw = () =>
    list.replaceChildren(
      listing<User>({
        path: '/api/v1/users',
        columns: [
          { title: '账号', cell: (u) => u.username },
          { title: '姓名', cell: (u) => u.display_name },
          { title: '角色', cell: (u) => rolesZh(u.roles) },
          { title: '部门', cell: (u) => u.department_code ?? '—' },
          { title: '状态', cell: (u) => (u.disabled ? '已停用' : '正常') },
          { title: '创建时间', cell: (u) => time(u.created_at) },
        ],
      }),
    );
  const form = el('form', { class: 'create' },
    el('h3', {}, '新建用户'),
    el('label', {}, '账号', f.username), el('label', {}, '姓名', f.display_name), el('label', {}, '初始密码', f.password),
    el('label', {}, '角色', f.role), el('label', {}, '部门编码', f.department_code),
    el('button', { type: 'submit' }, '创建'), msg,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.className = 'form-msg';
    try {
      const u = await api.post<User>('/api/v1/users', {
        username: f.username.value.trim(),
        display_name: f.display_name.value.trim(),
        password: f.password.value,
        roles: [f.role.value as Position],
        department_code: f.department_code.value.trim() || null,
      });
      msg.textContent = `已创建用户 ${u.username}`;
      form.reset();
      draw();
    } catch (err) {
      msg.textContent = `创建失败：${errorText(err)}`;
      msg.className = 'form-msg error';
    }
  });
  draw();
  return el('div', {}, form, list);
}

export const PAGES: Page[] = [
  { id: 'home', title: '概览', group: '工作台', permission: 'read_city', render: home },
  ...CASE_PAGES,
  ...DEVICE_PAGES,
  {
    id: 'areas', title: '行政区划', group: '城市底数', permission: 'read_city',
    render: () => listing<Area>({
      path: '/api/v1/areas',
      filters: [
        { name: 'level', label: '层级', options: opts(LEVEL_ZH) },
        { name: 'parent', label: '上级代码', placeholder: '如 360602' },
      ],
      columns: [
        { title: '代码', cell: (a) => a.code },
        { title: '名称', cell: (a) => a.name },
        { title: '层级', cell: (a) => zh(LEVEL_ZH, a.level) },
        { title: '上级', cell: (a) => a.parent_code ?? '—' },
      ],
    }),
  },
  {
    id: 'grids', title: '单元网格', group: '城市底数', permission: 'read_city',
    render: () => listing<UnitGrid>({
      path: '/api/v1/grids',
      filters: [{ name: 'within', label: '所在区域代码', placeholder: '如 360602' }],
      columns: [
        { title: '网格编码', cell: (g) => g.code },
        { title: '名称', cell: (g) => g.name ?? '—' },
        { title: '所属区域', cell: (g) => g.area_code },
        { title: '面积（m²）', cell: (g) => Math.round(g.area_m2).toLocaleString('zh-CN') },
      ],
    }),
  },
  {
    id: 'departments', title: '部门', group: '城市底数', permission: 'read_city',
    render: () => listing<Department>({
      path: '/api/v1/departments',
      filters: [
        { name: 'tier', label: '层级', options: opts(TIER_ZH) },
        { name: 'kind', label: '类型', options: opts(DEPARTMENT_KIND_ZH) },
        { name: 'parent_code', label: '上级部门', placeholder: '部门编码' },
      ],
      columns: [
        { title: '编码', cell: (d) => d.code },
        { title: '名称', cell: (d) => d.name },
        { title: '类型', cell: (d) => zh(DEPARTMENT_KIND_ZH, d.kind) },
        { title: '层级', cell: (d) => zh(TIER_ZH, d.tier) },
        { title: '负责区域', cell: (d) => d.area_code },
        { title: '上级部门', cell: (d) => d.parent_code ?? '—' },
      ],
    }),
  },
  {
    id: 'staff', title: '人员', group: '城市底数', permission: 'read_city',
    render: () => listing<Staff>({
      path: '/api/v1/staff',
      filters: [{ name: 'department_code', label: '部门编码', placeholder: '如 YH-CENTER' }],
      columns: [
        { title: '工号', cell: (s) => s.code },
        { title: '姓名', cell: (s) => s.name },
        { title: '部门', cell: (s) => s.department_code },
        { title: '岗位', cell: (s) => zh(POSITION_ZH, s.position) },
        { title: '电话', cell: (s) => s.phone ?? '—' },
        { title: '账号', cell: (s) => s.username ?? '—' },
      ],
    }),
  },
  {
    id: 'components', title: '城市部件', group: '城市底数', permission: 'read_city',
    render: () => listing<Component>({
      path: '/api/v1/components',
      filters: [
        { name: 'status', label: '状态', options: opts(COMPONENT_STATUS_ZH) },
        { name: 'class_code', label: '小类代码', placeholder: '5 位' },
        { name: 'grid_code', label: '网格编码' },
      ],
      columns: [
        { title: '标识码', cell: (c) => c.id },
        { title: '名称', cell: (c) => c.name },
        { title: '小类', cell: (c) => c.class_code },
        { title: '状态', cell: (c) => zh(COMPONENT_STATUS_ZH, c.status) },
        { title: '网格', cell: (c) => c.grid_code ?? '—' },
        { title: '权属单位', cell: (c) => c.owner?.name ?? c.owner?.code ?? '—' },
        { title: '位置（WGS-84）', cell: (c) => `${c.lon.toFixed(5)}, ${c.lat.toFixed(5)}` },
      ],
    }),
  },
  { id: 'standards', title: '分类标准', group: '城市底数', permission: 'read_city', render: standards },
  { id: 'users', title: '用户管理', group: '系统管理', permission: 'manage_users', render: users },
  {
    id: 'audit', title: '审计日志', group: '系统管理', permission: 'manage_users',
    render: () => listing<AuditRecord>({
      path: '/api/v1/audit',
      filters: [
        { name: 'action', label: '操作（前缀）', placeholder: '如 auth.' },
        { name: 'target_kind', label: '对象类型', placeholder: '如 user' },
      ],
      columns: [
        { title: '时间', cell: (a) => time(a.at) },
        { title: '操作人', cell: (a) => a.actor },
        { title: '操作', cell: (a) => a.action },
        { title: '对象', cell: (a) => `${a.target_kind} ${a.target}` },
        { title: 'IP', cell: (a) => a.ip ?? '—' },
      ],
    }),
  },
];
