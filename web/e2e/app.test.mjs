// End to end: the real `chengyun` binary, loaded with 鹰潭 through its CLI,
// serving the built front end to Debian's Chromium. The case loop and the
// screenshots are in cases.test.mjs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, login } from './browser.mjs';
import { City, USERS } from './city.mjs';


/** A point well inside 月湖区 (WGS-84): DataV's district centre, shifted from GCJ-02. */
const YUEHU = [117.0293, 28.2417];

let city;
let browser;

before(async () => {
  city = new City();
  city.load();
  await city.serve();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await city?.stop();
});

function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // The login page's first /auth/me answers 401 by design; anything else is a fault.
  page.on('console', (m) => m.type() === 'error' && !/status of 401/.test(m.text()) && errors.push(m.text()));
  return errors;
}

test('the binary serves the pages and keeps JSON 404s for the API', async () => {
  for (const p of ['/', '/screen', '/report']) {
    const r = await fetch(city.base + p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
  }
  const html = await (await fetch(city.base + '/')).text();
  const asset = html.match(/\/assets\/[^"]+\.js/)?.[0];
  assert.ok(asset, html);
  const a = await fetch(city.base + asset);
  assert.equal(a.status, 200);
  assert.match(a.headers.get('content-type'), /javascript/);
  assert.match(a.headers.get('cache-control'), /immutable/);
  const nf = await fetch(city.base + '/api/v1/nothing-here');
  assert.equal(nf.status, 404);
  assert.equal((await nf.json()).error.code, 'route_not_found');
});

test('a wrong password is refused with the server message in the login form', async () => {
  const ctx = await browser.newContext({ locale: 'zh-CN' });
  const page = await ctx.newPage();
  await login(page, city.base, { username: USERS.admin.username, password: 'not-the-password' });
  const err = page.locator('.login-error');
  await err.waitFor();
  await page.waitForFunction(() => document.querySelector('.login-error')?.textContent?.startsWith('登录失败：'));
  assert.ok((await err.textContent()).length > '登录失败：'.length);
  await ctx.close();
});

test('the admin works in the workbench with the admin menus', async () => {
  const ctx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await login(page, city.base, USERS.admin);
  await page.locator('.who-name').waitFor();
  assert.equal(await page.locator('.who-name').textContent(), USERS.admin.name);
  assert.match(await page.locator('.who-roles').textContent(), /系统管理员/);
  assert.match(await page.locator('.who-scope').textContent(), /全市/);
  for (const id of ['areas', 'departments', 'staff', 'components', 'standards', 'users', 'audit']) {
    assert.equal(await page.locator(`nav a[data-page=${id}]`).count(), 1, id);
  }
  // Components: server-side pages with a cursor, and a status filter.
  await page.click('nav a[data-page=components]');
  await page.waitForFunction(() => document.querySelectorAll('table.grid tbody tr').length === 50);
  await page.click('button[data-act=next]');
  await page.waitForFunction(() => document.querySelector('.page-no')?.textContent === '第 2 页');
  await page.selectOption('select[name=status]', 'damaged');
  await page.click('.filters button[type=submit]');
  await page.waitForFunction(() => document.querySelector('.page-no')?.textContent === '第 1 页');
  await page.waitForFunction(() => [...document.querySelectorAll('table.grid tbody tr td:nth-child(4)')].every((td) => td.textContent === '破损') && document.querySelectorAll('table.grid tbody tr').length > 0);
  // Areas, with the township list.
  await page.click('nav a[data-page=areas]');
  await page.fill('input[name=parent]', '360602');
  await page.click('.filters button[type=submit]');
  await page.getByRole('cell', { name: '江边街道', exact: true }).waitFor();
  // The audit log holds the command-line imports.
  await page.click('nav a[data-page=audit]');
  await page.getByRole('cell', { name: 'department.import' }).first().waitFor();
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('a district dispatcher sees no admin menus and the API refuses them', async () => {
  const ctx = await browser.newContext({ locale: 'zh-CN' });
  const page = await ctx.newPage();
  await login(page, city.base, USERS.dispatcher);
  await page.locator('.who-name').waitFor();
  assert.match(await page.locator('.who-roles').textContent(), /派遣员/);
  assert.match(await page.locator('.who-scope').textContent(), /360602/);
  assert.equal(await page.locator('nav a[data-page=users]').count(), 0);
  assert.equal(await page.locator('nav a[data-page=audit]').count(), 0);
  assert.equal(await page.locator('nav a[data-page=areas]').count(), 1);
  await page.goto(`${city.base}/#/audit`);
  await page.getByRole('heading', { name: '无权访问' }).waitFor();
  const status = await page.evaluate(async () => (await fetch('/api/v1/audit')).status);
  assert.equal(status, 403);
  await ctx.close();
});

test('the big screen draws the districts and drills down on click', async () => {
  const ctx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1920, height: 1080 } });
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await login(page, city.base, USERS.admin, '/screen');
  await page.waitForURL(/\/screen$/);
  await page.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('#map', 'data-area'), '360600');
  assert.equal(await page.getAttribute('#map', 'data-kind'), 'children');
  assert.match(await page.locator('#crumbs').textContent(), /鹰潭市/);
  assert.match(await page.locator('#clock-time').textContent(), /^\d\d:\d\d:\d\d$/);
  await page.waitForSelector('body[data-base=true]');
  assert.equal(await page.locator('[data-base=components] b').textContent(), '175');
  // No case yet: every case figure is a real zero from the aggregates.
  assert.equal(await page.locator('[data-kpi=today] .kpi-value').textContent(), '0件');
  assert.equal(await page.getAttribute('#map', 'data-open-total'), '0');
  assert.match(await page.locator('#map-note').textContent(), /在办案件/);
  assert.match(await page.locator('#feed').textContent(), /暂无案件/);

  const [x, y] = await page.evaluate(([lon, lat]) => window.__chengyunScreen.pixelOf(lon, lat), YUEHU);
  await page.mouse.click(x, y);
  await page.waitForSelector('#map[data-area="360602"][data-kind=grids]', { timeout: 30_000 });
  assert.equal(await page.locator('#back').isVisible(), true);
  assert.match(await page.locator('#crumbs').textContent(), /鹰潭市 › 月湖区/);
  await page.waitForTimeout(800);
  await page.click('#back');
  await page.waitForSelector('#map[data-area="360600"]');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('the report page locates a tapped point and searches matter classes', async () => {
  const ctx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await login(page, city.base, USERS.dispatcher, '/report');
  await page.waitForURL(/\/report$/);
  await page.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  await page.waitForTimeout(500);
  const [x, y] = await page.evaluate(([lon, lat]) => window.__chengyunReport.pixelOf(lon, lat), YUEHU);
  await page.mouse.click(x, y);
  await page.waitForSelector('#rp-location[data-district="360602"]');
  assert.match(await page.locator('#rp-location .place').textContent(), /月湖区/);
  assert.match(await page.getAttribute('#rp-location', 'data-grid'), /^360602\d{9}$/);
  await page.fill('#rp-q', '垃圾');
  await page.waitForFunction(() => [...document.querySelectorAll('#rp-matters li[data-code]')].length > 0 && [...document.querySelectorAll('#rp-matters li[data-code]')].every((li) => li.textContent.includes('垃圾')));
  await page.locator('#rp-matters li[data-code]').first().click();
  assert.match(await page.locator('#rp-matter').textContent(), /已选/);
  // Location and class given: the report can go (the case-loop test submits one).
  assert.equal(await page.locator('#rp-submit').isDisabled(), false);
  assert.deepEqual(errors, []);
  await ctx.close();
});
