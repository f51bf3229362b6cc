// End to end, the IoT brain in the browser against the real `chengyun`: as admin
// enable the weigh-in-motion pack (its station speaks HTTP) and the city
// components pack on the 场景包 page; register an HTTP station through the API;
// post an overloaded vehicle with the station's token; the alarm shows on the
// 告警 page and on the big screen (SSE, no reload); the device page shows the
// latest state; a street light controller gets a 调光 command from the generated
// form and its record appears. Screenshot: e2e/screenshots/devices.png.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launch, login } from './browser.mjs';
import { City, USERS } from './city.mjs';

const shots = join(dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(shots, { recursive: true });
const YUEHU = { lon: 117.0293, lat: 28.2417 };

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

test('HTTP device → telemetry → alarm on the 告警 page and the big screen; device page; command', async () => {
  const ctx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1440, height: 1000 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await login(page, city.base, USERS.admin);
  await page.locator('.who-name').waitFor();

  // Enable the packs from the 场景包 page.
  await page.goto(`${city.base}/#/packs`);
  for (const key of ['weigh_in_motion', 'city_components']) {
    await page.click(`button[data-enable=${key}]`);
    await page.waitForSelector(`tr[data-pack=${key}][data-enabled=true]`);
  }

  const admin = await city.as(USERS.admin);
  const created = await admin('POST', '/api/v1/devices', {
    id: 'wim-yh-01', product_key: 'wim_station', name: '月湖大道超限检测站', owner_department: 'YH-CENTER', location: YUEHU,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const token = created.body.token;
  assert.match(token ?? '', /:/, 'an HTTP device gets a bearer token');
  const light = await admin('POST', '/api/v1/devices', {
    id: 'sl-yh-01', product_key: 'street_light_controller', name: '月湖路灯控制器1', owner_department: 'YH-CENTER', location: { lon: 117.031, lat: 28.243 },
  });
  assert.equal(light.status, 201, JSON.stringify(light.body));

  // The big screen stays open (never reloaded) while the alarm happens.
  const screenCtx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1920, height: 1080 } });
  const screen = await screenCtx.newPage();
  await login(screen, city.base, USERS.admin, '/screen');
  await screen.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  await screen.waitForSelector('#live-state[data-live=true]');
  await screen.waitForSelector('[data-kpi=devices_online]');

  // An overloaded 2-axle truck (limit 18 t) passes the station.
  const r = await fetch(`${city.base}/ingest/http/v1/telemetry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify([{
      at: new Date().toISOString(),
      values: { plate: '赣L12345', axles: 2, gross_mass_t: 31.5, configuration: 'truck', single_drive_axle: true, height_m: 3.2, width_m: 2.4, length_m: 9.5, speed: 42, lane: 2 },
      location: YUEHU,
    }]),
  });
  assert.ok(r.ok, `telemetry: ${r.status} ${await r.text()}`);

  // The screen's feed gets the alarm over SSE and flashes it.
  await screen.waitForSelector('#feed li.alarm', { timeout: 20_000 });
  assert.match(await screen.locator('#feed li.alarm').first().innerText(), /wim\.overload/);
  await screen.waitForSelector('#map[data-devices="2"]', { timeout: 20_000 });
  await screen.screenshot({ path: join(shots, 'screen-iot.png') });

  // The 告警 page lists it and can acknowledge it.
  await page.goto(`${city.base}/#/alarms`);
  const row = page.locator('table.grid tbody tr', { hasText: '赣L12345' });
  await row.waitFor({ timeout: 20_000 });
  await row.locator('button[data-alarm-act=acknowledge]').click();
  await page.waitForSelector('table.grid tbody tr [data-state=acknowledged]');

  // The device list and page: latest state, alarms.
  await page.goto(`${city.base}/#/devices`);
  await page.click('a[data-device=wim-yh-01]');
  await page.waitForSelector('.device-head[data-device=wim-yh-01]');
  await page.waitForSelector('tr[data-prop=gross_mass_t] td.v');
  assert.equal(await page.locator('tr[data-prop=gross_mass_t] td.v').innerText(), '31.5');
  assert.equal(await page.locator('tr[data-prop=plate] td.v').innerText(), '赣L12345');
  await page.waitForSelector('#device-map[data-ready=true]');
  await page.waitForSelector('#telemetry-chart[data-series]');
  await page.screenshot({ path: join(shots, 'devices.png'), fullPage: true });

  // A command from the generated form; its record appears with its status.
  await page.goto(`${city.base}/#/device/sl-yh-01`);
  await page.waitForSelector('form.command-form');
  await page.selectOption('form.command-form select[name=command]', 'dim');
  await page.fill('form.command-form input[name=pct]', '40');
  await page.click('form.command-form button[type=submit]');
  await page.waitForSelector('table.commands tr[data-command] td.cmd-status');
  const cmd = await admin('GET', '/api/v1/devices/sl-yh-01/commands');
  assert.equal(cmd.status, 200);
  assert.equal(cmd.body.items[0].command, 'dim');
  assert.deepEqual(cmd.body.items[0].params, { pct: 40 });

  assert.deepEqual(errors, []);
  await screenCtx.close();
  await ctx.close();
});
