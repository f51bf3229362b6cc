// The operator workbench: login, then a shell with the menu the user's roles
// allow and a hash-routed page area (#/areas, #/departments, …).

import '../styles/workbench.css';
import { allowed, safeNext } from '../access';
import { ApiError, api } from '../api/client';
import type { Me } from '../api/types';
import { byId, el, errorText } from '../dom';
import { rolesZh, scopeZh } from '../labels';
import { PAGES, type Page } from './pages';

const app = byId('app');

function loginView(): void {
  const user = el('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const pass = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = el('div', { class: 'login-error', role: 'alert' });
  const submit = el('button', { type: 'submit' }, '登录');
  const form = el('form', { class: 'login-card' },
    el('div', { class: 'brand' }, el('strong', {}, '城运'), el('span', {}, '一网统管 · 城市运行管理平台')),
    el('label', {}, '用户名', user),
    el('label', {}, '密码', pass),
    submit,
    err,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    submit.disabled = true;
    try {
      const me = await api.login(user.value.trim(), pass.value);
      const next = safeNext(new URLSearchParams(window.location.search).get('next'));
      if (next) {
        window.location.href = next;
        return;
      }
      shell(me);
    } catch (ex) {
      err.textContent = `登录失败：${errorText(ex)}`;
    } finally {
      submit.disabled = false;
    }
  });
  app.replaceChildren(el('div', { class: 'login-page' }, form));
}

function visiblePages(me: Me): Page[] {
  return PAGES.filter((p) => allowed(p.permission, me.user.roles));
}

function shell(me: Me): void {
  const pages = visiblePages(me);
  const nav = el('nav', { class: 'menu' });
  let group = '';
  for (const p of pages) {
    if (p.hidden) continue;
    if (p.group !== group) {
      group = p.group;
      nav.append(el('div', { class: 'menu-group' }, group));
    }
    nav.append(el('a', { href: `#/${p.id}`, 'data-page': p.id }, p.title));
  }
  const logout = el('button', { type: 'button', class: 'logout' }, '退出登录');
  logout.addEventListener('click', async () => {
    try {
      await api.logout();
    } finally {
      window.location.hash = '';
      loginView();
    }
  });
  const main = el('main', { class: 'content' });
  const title = el('h1');
  app.replaceChildren(
    el('div', { class: 'shell' },
      el('header', { class: 'topbar' },
        el('div', { class: 'brand' }, el('strong', {}, '城运'), el('span', {}, '工作台')),
        el('div', { class: 'who', id: 'who' },
          el('span', { class: 'who-name' }, me.user.display_name),
          el('span', { class: 'who-roles' }, rolesZh(me.user.roles)),
          el('span', { class: 'who-scope' }, `范围：${scopeZh(me.scope)}`),
          logout,
        ),
      ),
      nav,
      el('section', { class: 'page' }, title, main),
    ),
  );
  const route = () => {
    const path = window.location.hash.replace(/^#\/?/, '') || 'home';
    const [id, param] = path.split('/', 2) as [string, string | undefined];
    const page = pages.find((p) => p.id === id);
    for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === (page?.menu ?? id));
    if (!page) {
      title.textContent = '无权访问';
      main.replaceChildren(el('p', { class: 'error' }, '该页面不存在，或您的角色无权访问。'));
      return;
    }
    title.textContent = page.title;
    main.replaceChildren(page.render(me, param));
  };
  window.onhashchange = route;
  route();
}

async function main(): Promise<void> {
  try {
    shell(await api.me());
  } catch (e) {
    if (e instanceof ApiError && e.unauthenticated) return loginView();
    app.replaceChildren(el('div', { class: 'login-page' }, el('div', { class: 'login-card' }, el('p', { class: 'error' }, `无法连接服务器：${errorText(e)}`))));
  }
}

void main();
