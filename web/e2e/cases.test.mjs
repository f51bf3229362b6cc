// End to end, the case closed loop in the browser against the real `chengyun`:
// an inspector reports a case on the phone page; the big screen (open all the
// time, never reloaded) sees it arrive over SSE; clerk, shift leader, dispatcher,
// handler and inspector take it through 受理 → 立案 → 派遣 → 签收 → 处置反馈 →
// 派核查 → 核查通过 → 结案 from the workbench, each seeing exactly their buttons;
// a role that may not act sees none and the API refuses it. Screenshots of the
// three pages go to e2e/screenshots/ (the README shows them).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launch, login } from './browser.mjs';
import { City, USERS } from './city.mjs';

const shots = join(dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(shots, { recursive: true });

/** A point well inside 月湖区 (WGS-84). */
const YUEHU = [117.0293, 28.2417];

let city;
let browser;

before(async () => {
  city = new City();
  city.load();
  await city.serve();
  browser = await launch();
  // The responsibility rule the dispatcher's suggestion comes from.
  const admin = await city.as(USERS.admin);
  const r = await admin('POST', '/api/v1/dispatch-rules', {
    matter_pattern: '*', area_code: '360602', department_code: 'YH-SZ', priority: 10, note: '月湖区市容市政问题由区市政公用局处置',
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});

after(async () => {
  await browser?.close();
  await city?.stop();
});

function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // 401 on the login page and the 409s this test provokes on purpose are expected.
  page.on('console', (m) => m.type() === 'error' && !/status of (401|409)/.test(m.text()) && errors.push(m.text()));
  page.on('response', (r) => r.status() >= 400 && ![401, 409].includes(r.status()) && errors.push(`${r.status()} ${r.url()}`));
  return errors;
}

async function desk(user) {
  const ctx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1440, height: 1000 } });
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await login(page, city.base, user);
  await page.locator('.who-name').waitFor();
  return { ctx, page, errors };
}

/** Opens the case page and waits for its state. */
async function openCase(page, id, state) {
  const url = `${city.base}/#/case/${id}`;
  // Same hash: no hashchange, so load the page afresh.
  if (page.url() === url) await page.reload();
  else await page.goto(url);
  await page.waitForSelector(`.case-head[data-state=${state}]`);
}

async function buttons(page) {
  return page.locator('.act-bar button.act').evaluateAll((bs) => bs.map((b) => b.dataset.action));
}

/** Clicks an action button, fills the form, confirms, and waits for the new state. */
async function act(page, action, to, fill = async () => {}) {
  await page.click(`button.act[data-action=${action}]`);
  const form = page.locator(`form[data-form=${action}]`);
  await form.waitFor();
  await fill(form);
  await form.locator('button[type=submit]').click();
  await page.waitForSelector(`.case-head[data-state=${to}]`, { timeout: 15_000 });
}

async function kpi(page, key) {
  return Number((await page.locator(`[data-kpi=${key}] .kpi-value`).textContent()).replace(/[^\d.]/g, ''));
}

test('a case goes round the closed loop in the browser, and the big screen follows it live', async () => {
  // --- the big screen, opened once and never reloaded
  const wall = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1920, height: 1080 } });
  const screen = await wall.newPage();
  const screenErrors = watchErrors(screen);
  await login(screen, city.base, USERS.admin, '/screen');
  await screen.waitForURL(/\/screen$/);
  await screen.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  await screen.waitForSelector('#live-state[data-live=true]');
  await screen.evaluate(() => (window.__sameDocument = true));
  const today0 = await kpi(screen, 'today');
  const open0 = Number(await screen.getAttribute('#map', 'data-open-total'));

  // --- the inspector reports on the phone page
  const phone = await browser.newContext({ locale: 'zh-CN', viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const rp = await phone.newPage();
  const rpErrors = watchErrors(rp);
  await login(rp, city.base, USERS.inspector, '/report');
  await rp.waitForURL(/\/report$/);
  await rp.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  await rp.waitForTimeout(500);
  const [x, y] = await rp.evaluate(([lon, lat]) => window.__chengyunReport.pixelOf(lon, lat), YUEHU);
  await rp.mouse.click(x, y);
  await rp.waitForSelector('#rp-location[data-district="360602"]');
  await rp.fill('#rp-desc', '人行道上有暴露垃圾，堆了好几天，气味很大');
  // Suggestions come from /api/v1/classify as the description is typed.
  const suggestion = rp.locator('#rp-suggest button[data-code]').first();
  await suggestion.waitFor({ timeout: 10_000 });
  const code = await suggestion.getAttribute('data-code');
  assert.match(code, /^\d{5}$/);
  await suggestion.click();
  assert.equal(await rp.getAttribute('#rp-matter', 'data-code'), code);
  // A real photo: a PNG rendered by the browser itself.
  const png = await rp.locator('#rp-map').screenshot();
  await rp.setInputFiles('#rp-photo', { name: 'scene.png', mimeType: 'image/png', buffer: png });
  await rp.waitForSelector('#rp-photos[data-count="1"]');
  assert.equal(await rp.locator('#rp-submit').isDisabled(), false);
  await rp.screenshot({ path: join(shots, 'report.png'), fullPage: true });
  await rp.click('#rp-submit');
  await rp.waitForSelector('#rp-number');
  const number = await rp.locator('#rp-number').textContent();
  assert.match(number, /^YT\d+/);
  assert.match(rp.url(), new RegExp(`/report\\?case=${number}$`));
  assert.equal(await rp.getAttribute('#rp-case', 'data-state'), 'reported');
  assert.equal(await rp.locator('#rp-timeline li').count(), 1);

  const inspectorApi = await city.as(USERS.inspector);
  const found = await inspectorApi('GET', `/api/v1/cases?q=${number}`);
  assert.equal(found.status, 200);
  const id = found.body.items.find((c) => c.number === number).id;
  const view = await inspectorApi('GET', `/api/v1/cases/${id}`);
  assert.equal(view.body.attachments.length, 1);
  assert.equal(view.body.case.matter_code, code);
  assert.equal(view.body.case.source, 'inspector');

  // --- the big screen saw it over SSE: counters, the map's open-case load, the feed, a flash
  await screen.waitForSelector(`#feed li[data-number="${number}"]`, { timeout: 15_000 });
  await screen.waitForFunction((n) => Number(document.querySelector('[data-kpi=today] .kpi-value')?.textContent?.replace(/[^\d]/g, '')) === n, today0 + 1, { timeout: 15_000 });
  await screen.waitForFunction((n) => Number(document.querySelector('#map')?.dataset.openTotal) === n, open0 + 1, { timeout: 15_000 });
  await screen.waitForFunction(() => Number(document.querySelector('#map')?.dataset.flashes) >= 1);
  assert.equal(await screen.getAttribute('#map', 'data-markers'), '1');
  await screen.waitForTimeout(600);
  await screen.screenshot({ path: join(shots, 'screen.png') });

  // --- the follow page, opened by the number
  const follow = await phone.newPage();
  await follow.goto(`${city.base}/report?case=${number}`);
  await follow.waitForSelector(`#rp-case[data-number="${number}"]`);

  // --- 受理 by the clerk, from the queue
  const clerk = await desk(USERS.clerk);
  await clerk.page.goto(`${city.base}/#/queue`);
  const link = clerk.page.locator(`a.case-link[data-case="${number}"]`);
  await link.waitFor();
  // The queue row shows the timer light and the remaining time.
  const row = clerk.page.locator('tr', { has: link });
  assert.match(await row.locator('.timer').textContent(), /剩余|已超时|—/);
  await link.click();
  await clerk.page.waitForSelector('.case-head[data-state=reported]');
  assert.deepEqual(await buttons(clerk.page), ['receive', 'request_verify', 'cancel']);
  await clerk.page.waitForSelector('#case-map[data-ready=true]');
  assert.equal(await clerk.page.locator('.photos img').count(), 1);
  await act(clerk.page, 'receive', 'awaiting_registration');

  // --- a role that may not act sees no button, and the API refuses it
  const handler = await desk(USERS.handler);
  await openCase(handler.page, id, 'awaiting_registration');
  await handler.page.waitForSelector('[data-no-actions]');
  const handlerApi = await city.as(USERS.handler);
  const refused = await handlerApi('POST', `/api/v1/cases/${id}/actions`, { action: 'register' });
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error.code, 'refused_action');
  assert.equal(refused.body.error.details.state, 'awaiting_registration');
  assert.equal(refused.body.error.details.reason, 'not_permitted');
  assert.deepEqual(refused.body.error.details.allowed, []);
  // The dispatcher has buttons now (回退, 挂账 …) but not 立案, and the API agrees.
  const dispatcher = await desk(USERS.dispatcher);
  await openCase(dispatcher.page, id, 'awaiting_registration');
  assert.ok(!(await buttons(dispatcher.page)).includes('register'));
  const dispatcherApi = await city.as(USERS.dispatcher);
  const refused2 = await dispatcherApi('POST', `/api/v1/cases/${id}/actions`, { action: 'register' });
  assert.equal(refused2.status, 409, JSON.stringify(refused2.body));

  // --- 立案 by the shift leader; a stale page's second click shows the server's refusal
  const leader = await desk(USERS.leader);
  await openCase(leader.page, id, 'awaiting_registration');
  assert.ok((await buttons(leader.page)).includes('register'));
  const stale = await leader.ctx.newPage();
  await openCase(stale, id, 'awaiting_registration');
  await act(leader.page, 'register', 'registered');
  await stale.click('button.act[data-action=register]');
  await stale.locator('form[data-form=register] button[type=submit]').click();
  const msg = stale.locator('form[data-form=register] .form-msg.error');
  await msg.waitFor();
  assert.match(await msg.textContent(), /操作被拒绝（当前状态不允许此操作）.*案件状态：待派遣/);
  // 回退 without an opinion is stopped before it is sent.
  await leader.page.reload();
  await leader.page.waitForSelector('.case-head[data-state=registered]');

  // --- 派遣 by the dispatcher, the suggestion preselected with its reason
  await openCase(dispatcher.page, id, 'registered');
  assert.ok((await buttons(dispatcher.page)).includes('dispatch'));
  await dispatcher.page.click('button.act[data-action=return]');
  await dispatcher.page.locator('form[data-form=return] button[type=submit]').click();
  assert.match(await dispatcher.page.locator('form[data-form=return] .form-msg').textContent(), /回退须填写意见/);
  await act(dispatcher.page, 'dispatch', 'dispatched', async (form) => {
    await form.locator('.suggest[data-suggest=YH-SZ]').waitFor();
    assert.equal(await form.locator('select[name=department]').inputValue(), 'YH-SZ');
    assert.match(await form.locator('.suggest').textContent(), /建议派往：月湖区市政公用局。依据：/);
    await form.locator('textarea[name=opinion]').fill('请尽快清理');
  });

  // --- 签收 and 处置反馈 (with a photo) by the handler
  await handler.page.goto(`${city.base}/#/queue`);
  await handler.page.locator(`a.case-link[data-case="${number}"]`).click();
  await handler.page.waitForSelector('.case-head[data-state=dispatched]');
  assert.ok((await buttons(handler.page)).includes('accept'));
  await act(handler.page, 'accept', 'handling');
  await act(handler.page, 'feedback', 'feedback_given', async (form) => {
    await form.locator('textarea[name=opinion]').fill('已清理完毕，路面冲洗干净');
    await form.locator('input[name=attachments]').setInputFiles({ name: 'done.png', mimeType: 'image/png', buffer: png });
  });
  assert.equal(await handler.page.locator('.photos img').count(), 2);

  // --- 派核查 by the clerk, 核查通过 by the inspector, 结案 by the dispatcher
  await openCase(clerk.page, id, 'feedback_given');
  await act(clerk.page, 'request_check', 'awaiting_check');
  const inspector = await desk(USERS.inspector);
  await openCase(inspector.page, id, 'awaiting_check');
  assert.deepEqual(await buttons(inspector.page), ['check_pass', 'check_fail']);
  await act(inspector.page, 'check_pass', 'check_passed', async (form) => form.locator('textarea[name=opinion]').fill('现场已清理'));
  await openCase(dispatcher.page, id, 'check_passed');
  await act(dispatcher.page, 'close', 'closed');
  assert.deepEqual(await buttons(dispatcher.page), []);
  const steps = await dispatcher.page.locator('.timeline li').evaluateAll((li) => li.map((l) => l.dataset.action));
  for (const s of ['receive', 'register', 'dispatch', 'accept', 'feedback', 'request_check', 'check_pass', 'close']) assert.ok(steps.includes(s), `${s} in ${steps}`);
  await dispatcher.page.screenshot({ path: join(shots, 'workbench.png'), fullPage: true });

  // --- the follow page and the big screen caught up by themselves
  await follow.waitForSelector('#rp-case[data-state=closed]', { timeout: 40_000 });
  await follow.screenshot({ path: join(shots, 'report-follow.png'), fullPage: true });
  await screen.waitForFunction((n) => Number(document.querySelector('#map')?.dataset.openTotal) === n, open0, { timeout: 15_000 });
  await screen.waitForFunction(() => Number(document.querySelector('[data-kpi=closed] .kpi-value')?.textContent?.replace(/[^\d]/g, '')) >= 1);
  assert.equal(await screen.evaluate(() => window.__sameDocument), true);
  assert.equal(await screen.getAttribute('#map', 'data-markers'), '0');
  assert.ok(Number(await screen.getAttribute('#ranking', 'data-rows')) >= 1);
  // Drill into 月湖区: its grids.
  const [sx, sy] = await screen.evaluate(([lon, lat]) => window.__chengyunScreen.pixelOf(lon, lat), YUEHU);
  await screen.mouse.click(sx, sy);
  await screen.waitForSelector('#map[data-area="360602"][data-kind=grids]', { timeout: 30_000 });
  await screen.waitForTimeout(800);
  await screen.screenshot({ path: join(shots, 'screen-district.png') });

  // --- evaluation: the department's indicators and grade, and the CSV
  const admin = await desk(USERS.admin);
  await admin.page.goto(`${city.base}/#/evaluation`);
  await admin.page.selectOption('select[name=group]', 'department');
  await admin.page.click('.filters button[type=submit]');
  await admin.page.waitForSelector('tr[data-key=YH-SZ]');
  const csvHref = await admin.page.getAttribute('a[data-csv]', 'href');
  const csv = await admin.page.evaluate(async (h) => {
    const r = await fetch(h);
    return { type: r.headers.get('content-type'), text: await r.text() };
  }, csvHref);
  assert.match(csv.type, /text\/csv/);
  assert.match(csv.text, /YH-SZ/);

  for (const e of [screenErrors, rpErrors, clerk.errors, dispatcher.errors, leader.errors, handler.errors, inspector.errors, admin.errors]) assert.deepEqual(e, []);
  for (const c of [wall, phone, clerk.ctx, dispatcher.ctx, leader.ctx, handler.ctx, inspector.ctx, admin.ctx]) await c.close();
});
