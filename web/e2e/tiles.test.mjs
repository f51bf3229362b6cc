// End to end, the optional tile layer under the maps. A tiny tile server in
// this test (node http, free port) answers generated PNG tiles of a solid
// colour — and 404 for some, as a real server with holes would — and records
// every z/x/y it is asked for. The REAL `chengyun` first runs without a tile
// URL: the big screen asks for no tile and has no tile layer. Then it runs with
// CHENGYUN_MAP_TILE_URL (GCJ-02 tiles on subdomains): the big screen asks for
// the tiles covering 鹰潭 at the zoom it chose, the tile holding the city's
// centre among them, draws them under its transparent canvas exactly where
// the shifted centre is drawn, shows the attribution, survives the missing
// tiles, and re-lays them on drill-down and roaming; the case map and the
// report map (a tap there gives the right WGS-84 point back) draw them too.
// Screenshot: e2e/screenshots/screen-tiles.png.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { launch, login } from './browser.mjs';
import { City, USERS } from './city.mjs';

const shots = join(dirname(fileURLToPath(import.meta.url)), 'screenshots');
const boundaries = join(process.env.CHENGYUN_SHARED ?? join(dirname(fileURLToPath(import.meta.url)), '../../../shared'), 'data/yingtan-boundaries');
const ATTRIBUTION = '© 测试瓦片服务 GS(2026)0000号';
const YUEHU = [117.0293, 28.2417];

// --- tiles ------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A 256×256 RGB PNG of one colour with a darker 1 px border (the tile grid shows in screenshots). */
function tilePng([r, g, b]) {
  const row = Buffer.alloc(1 + 256 * 3);
  const rows = [];
  for (let y = 0; y < 256; y++) {
    const line = Buffer.from(row);
    for (let x = 0; x < 256; x++) {
      const edge = x === 0 || y === 0;
      line.set(edge ? [r >> 1, g >> 1, b >> 1] : [r, g, b], 1 + x * 3);
    }
    rows.push(line);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(256, 0);
  ihdr.writeUInt32BE(256, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const COLOURS = [[46, 84, 120], [58, 98, 92]];
const PNGS = COLOURS.map(tilePng);

/** Which tiles the server lacks (404): a fixed pattern, about one in seven. */
const missing = (x, y) => (x + 3 * y) % 7 === 0;

/** The tile server: `/{z}/{x}/{y}.png` on any `t<s>.localhost` host; records what was asked. */
function tileServer() {
  const requests = [];
  const server = createServer((req, res) => {
    const m = /^\/(\d+)\/(\d+)\/(\d+)\.png$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(400).end();
      return;
    }
    const [z, x, y] = m.slice(1).map(Number);
    const host = (req.headers.host ?? '').split(':')[0];
    requests.push({ z, x, y, host });
    if (missing(x, y)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such tile');
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' }).end(PNGS[(x + y) % 2]);
  });
  return new Promise((ok) =>
    server.listen(0, '127.0.0.1', () => ok({ server, requests, port: server.address().port })),
  );
}

/** The standard slippy-map formula (kept apart from the app's own code on purpose). */
function tileOf(lon, lat, z) {
  const n = 2 ** z;
  const phi = (lat * Math.PI) / 180;
  return { x: ((lon + 180) / 360) * n, y: ((1 - Math.asinh(Math.tan(phi)) / Math.PI) / 2) * n };
}

/** DataV's centre of an area (GCJ-02, like everything DataV publishes). */
function datavCentre(file, adcode) {
  const fc = JSON.parse(readFileSync(join(boundaries, file), 'utf8'));
  const f = (Array.isArray(fc) ? fc : fc.features).find((f) => f.properties.adcode === adcode);
  return f.properties.center;
}

/** [minLon, minLat, maxLon, maxLat] of a DataV feature's rings (GCJ-02). */
function datavBounds(file, adcode) {
  const fc = JSON.parse(readFileSync(join(boundaries, file), 'utf8'));
  const f = fc.features.find((f) => f.properties.adcode === adcode);
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      b[0] = Math.min(b[0], c[0]);
      b[1] = Math.min(b[1], c[1]);
      b[2] = Math.max(b[2], c[0]);
      b[3] = Math.max(b[3], c[1]);
    } else c.forEach(visit);
  };
  visit(f.geometry.coordinates);
  return b;
}

// --- the city, served twice ----------------------------------------------------

let city;
let tiles;
let browser;

before(async () => {
  tiles = await tileServer();
  city = new City();
  city.load();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await city?.stop();
  await new Promise((ok) => (tiles ? tiles.server.close(ok) : ok()));
});

/** Stops the running server, keeping the data dir for the next start. */
async function halt() {
  const child = city.child;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  child.kill('SIGTERM');
  await exited;
}

function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

async function openScreen() {
  const ctx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1920, height: 1080 } });
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await login(page, city.base, USERS.admin, '/screen');
  await page.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  return { ctx, page, errors };
}

/** The screen pixel of a WGS-84 point on the big screen's map. */
const pixelOf = (page, [lon, lat]) => page.evaluate(([lon, lat]) => window.__chengyunScreen.pixelOf(lon, lat), [lon, lat]);

/** WGS-84 of a GCJ-02 point, as the server's own (Rust) conversion says. */
async function wgs84Of(api, [lon, lat]) {
  const r = await api('GET', `/api/v1/locate?lon=${lon}&lat=${lat}&crs=gcj02`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return [r.body.lon, r.body.lat];
}

/** Where on the page the GCJ-02 point `gcj` lies on the drawn tile holding it at zoom z. */
async function onTile(page, box, gcj, z) {
  const t = tileOf(gcj[0], gcj[1], z);
  const key = `${z}/${Math.floor(t.x)}/${Math.floor(t.y)}`;
  const img = page.locator(`${box} .map-tiles img[data-tile="${key}"]`);
  await img.waitFor({ state: 'attached' });
  const r = await img.evaluate((e) => {
    const b = e.getBoundingClientRect();
    return { left: b.left, top: b.top, width: b.width, height: b.height };
  });
  return { key, t, r, at: [r.left + (t.x - Math.floor(t.x)) * r.width, r.top + (t.y - Math.floor(t.y)) * r.height] };
}

test('without a tile URL the map is drawn alone and no tile is asked for', async () => {
  await city.serve();
  const anon = await fetch(`${city.base}/api/v1/map/config`);
  assert.equal(anon.status, 200);
  assert.deepEqual(await anon.json(), { tiles: null });
  const { ctx, page, errors } = await openScreen();
  await page.waitForSelector('#map[data-area]');
  await page.waitForTimeout(500);
  assert.equal(await page.locator('#map .map-tiles').count(), 0);
  assert.equal(await page.locator('#map .map-attribution').count(), 0);
  assert.equal(tiles.requests.length, 0);
  assert.deepEqual(errors, []);
  await ctx.close();
  await halt();
});

test('with CHENGYUN_MAP_TILE_URL the maps draw GCJ-02 tiles under the boundaries, aligned', async () => {
  city.env.CHENGYUN_MAP_TILE_URL = `http://t{s}.localhost:${tiles.port}/{z}/{x}/{y}.png`;
  city.env.CHENGYUN_MAP_SUBDOMAINS = 'abc';
  city.env.CHENGYUN_MAP_TILE_CRS = 'gcj02';
  city.env.CHENGYUN_MAP_ATTRIBUTION = ATTRIBUTION;
  await city.serve();
  const cfg = await (await fetch(`${city.base}/api/v1/map/config`)).json();
  assert.deepEqual(cfg, {
    tiles: { url: city.env.CHENGYUN_MAP_TILE_URL, subdomains: 'abc', crs: 'gcj02', attribution: ATTRIBUTION, min_zoom: 3, max_zoom: 18 },
  });
  const admin = await city.as(USERS.admin);

  const { ctx, page, errors } = await openScreen();
  await page.waitForSelector('#map .map-tiles[data-zoom] img[data-state=loaded]', { timeout: 20_000 });
  // Let every tile of the view settle (loaded, or missing on the server).
  await page.waitForFunction(() => document.querySelectorAll('#map .map-tiles img[data-state=loading]').length === 0, null, { timeout: 20_000 });
  const z = Number(await page.getAttribute('#map .map-tiles', 'data-zoom'));
  assert.ok(z >= 9 && z <= 12, `a city is seen at zoom 9-12, got ${z}`);

  // Every tile under the city's outline at that zoom was asked for, from the host {s} names.
  const [w, s, e, n] = datavBounds('360600_outline.derived.json', 360600);
  const nw = tileOf(w, n, z);
  const se = tileOf(e, s, z);
  const asked = new Set(tiles.requests.filter((r) => r.z === z).map((r) => `${r.x}/${r.y}`));
  for (let y = Math.floor(nw.y); y <= Math.floor(se.y); y++) {
    for (let x = Math.floor(nw.x); x <= Math.floor(se.x); x++) assert.ok(asked.has(`${x}/${y}`), `tile ${z}/${x}/${y} of the city was not asked for`);
  }
  for (const r of tiles.requests) assert.equal(r.host, `t${'abc'[(r.x + r.y) % 3]}.localhost`, JSON.stringify(r));
  // The centre of the city (DataV, GCJ-02): its tile was asked for …
  const centre = datavCentre('360600_outline.derived.json', 360600);
  const ct = tileOf(centre[0], centre[1], z);
  assert.ok(asked.has(`${Math.floor(ct.x)}/${Math.floor(ct.y)}`), `the centre's tile ${z}/${Math.floor(ct.x)}/${Math.floor(ct.y)}`);
  // … and the map draws the centre (stored as WGS-84) right on that tile's spot for it.
  const centreWgs = await wgs84Of(admin, centre);
  const drawn = await pixelOf(page, centreWgs);
  const c = await onTile(page, '#map', centre, z);
  assert.ok(Math.hypot(drawn[0] - c.at[0], drawn[1] - c.at[1]) < 1.5, `centre drawn at ${drawn}, on its tile at ${c.at}`);
  // Without the GCJ-02 shift it would be off by several pixels: the check can tell.
  const unshifted = tileOf(centreWgs[0], centreWgs[1], z);
  assert.ok(Math.hypot((unshifted.x - ct.x) * c.r.width, (unshifted.y - ct.y) * c.r.height) > 4);

  // The tiles are under the chart: on a loaded tile, where the canvas draws nothing the
  // screen shows the tile's own colour, and where it draws an area (see-through fill) it
  // shows something else. Tiles on top would show their colour at both.
  const probes = await page.evaluate(() => {
    const map = document.getElementById('map');
    const canvases = [...map.querySelectorAll('canvas')];
    const alpha = (x, y) =>
      Math.max(...canvases.map((cv) => {
        const r = cv.getBoundingClientRect();
        const k = cv.width / r.width;
        return cv.getContext('2d').getImageData(Math.floor((x - r.left) * k), Math.floor((y - r.top) * k), 1, 1).data[3];
      }));
    const m = map.getBoundingClientRect();
    const tiles = [...map.querySelectorAll('.map-tiles img[data-state=loaded]')].map((img) => ({ key: img.dataset.tile, r: img.getBoundingClientRect() }));
    let bare = null;
    let covered = null;
    for (let y = m.top + 5; y < m.bottom - 40 && !(bare && covered); y += 7) {
      for (let x = m.left + 5; x < m.right - 5 && !(bare && covered); x += 7) {
        const t = tiles.find(({ r }) => x > r.left + 3 && x < r.right - 3 && y > r.top + 3 && y < r.bottom - 3);
        if (!t) continue;
        const a = alpha(x, y);
        if (a === 0) bare ??= { x, y, tile: t.key };
        else if (a === 255) covered ??= { x, y, tile: t.key };
      }
    }
    return { bare, covered };
  });
  assert.ok(probes.bare && probes.covered, JSON.stringify(probes));
  const shot = (await page.screenshot()).toString('base64');
  const colours = await page.evaluate(async ([b64, points]) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const cv = document.createElement('canvas');
    cv.width = img.width;
    cv.height = img.height;
    const g = cv.getContext('2d');
    g.drawImage(img, 0, 0);
    return points.map(({ x, y }) => [...g.getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3)]);
  }, [shot, [probes.bare, probes.covered]]);
  const tileColour = (key) => {
    const [, x, y] = key.split('/').map(Number);
    return COLOURS[(x + y) % 2];
  };
  const near = (a, b) => a.every((v, i) => Math.abs(v - b[i]) <= 2);
  assert.ok(near(colours[0], tileColour(probes.bare.tile)), `bare: ${colours[0]} vs tile ${tileColour(probes.bare.tile)}`);
  assert.ok(!near(colours[1], tileColour(probes.covered.tile)), `covered: ${colours[1]} is the tile's own colour: the tile is on top`);
  const shown = await page.locator('#map .map-tiles img[data-state=loaded]').evaluateAll((imgs) =>
    imgs.filter((i) => getComputedStyle(i).visibility === 'visible' && i.naturalWidth === 256).length,
  );
  assert.ok(shown >= 4, `${shown} tiles shown`);
  // Missing tiles (404) are left empty; the map is whole.
  const holes = await page.locator('#map .map-tiles img[data-state=error]').evaluateAll((imgs) => imgs.map((i) => getComputedStyle(i).visibility));
  assert.ok(holes.length >= 1 && holes.every((v) => v === 'hidden'), `holes: ${holes}`);
  await page.waitForSelector('#map[data-markers]');
  // The attribution is in the corner.
  const credit = page.locator('#map .map-attribution');
  assert.equal(await credit.innerText(), ATTRIBUTION);
  assert.ok(await credit.isVisible());
  await page.screenshot({ path: join(shots, 'screen-tiles.png') });

  // Drill-down into 月湖区: a closer zoom, its tiles, still aligned.
  const before = tiles.requests.length;
  const [yx, yy] = await pixelOf(page, YUEHU);
  await page.mouse.click(yx, yy);
  await page.waitForSelector('#map[data-area="360602"][data-kind=grids]', { timeout: 30_000 });
  await page.waitForFunction((z) => Number(document.querySelector('#map .map-tiles')?.dataset.zoom) > z, z);
  const z2 = Number(await page.getAttribute('#map .map-tiles', 'data-zoom'));
  const yuehu = datavCentre('360600_full.datav.json', 360602);
  const yt = tileOf(yuehu[0], yuehu[1], z2);
  await page.waitForFunction(([z2, x, y]) => document.querySelector(`#map img[data-tile="${z2}/${x}/${y}"][data-state]:not([data-state=loading])`), [z2, Math.floor(yt.x), Math.floor(yt.y)]);
  assert.ok(tiles.requests.slice(before).some((r) => r.z === z2 && r.x === Math.floor(yt.x) && r.y === Math.floor(yt.y)));
  const yw = await wgs84Of(admin, yuehu);
  const yd = await pixelOf(page, yw);
  const yOn = await onTile(page, '#map', yuehu, z2);
  assert.ok(Math.hypot(yd[0] - yOn.at[0], yd[1] - yOn.at[1]) < 1.5, `月湖区 drawn at ${yd}, on its tile at ${yOn.at}`);

  // Roaming the grids (wheel zoom, ~1.1× a notch) lays the tiles out again at the next zoom.
  await page.mouse.move(yd[0], yd[1]);
  const zoomNow = () => page.getAttribute('#map .map-tiles', 'data-zoom').then(Number);
  for (let i = 0; i < 20 && (await zoomNow()) === z2; i++) {
    await page.mouse.wheel(0, -200);
    await page.waitForTimeout(150);
  }
  assert.ok((await zoomNow()) > z2, 'wheel zoom did not reach the next tile zoom');
  const z3 = Number(await page.getAttribute('#map .map-tiles', 'data-zoom'));
  await page.waitForFunction(() => document.querySelectorAll('#map .map-tiles img[data-state=loading]').length === 0, null, { timeout: 20_000 });
  const rd = await pixelOf(page, yw);
  const rOn = await onTile(page, '#map', yuehu, z3);
  assert.ok(Math.hypot(rd[0] - rOn.at[0], rd[1] - rOn.at[1]) < 1.5, `after roaming: drawn at ${rd}, on its tile at ${rOn.at}`);
  assert.deepEqual(errors, []);
  await ctx.close();

  // The workbench's case map: a case in 月湖区 on its district with the tiles under it.
  const inspector = await city.as(USERS.inspector);
  const made = await inspector('POST', '/api/v1/cases', {
    description: '瓦片测试：井盖破损', matter_code: '01001', source: 'inspector', lon: YUEHU[0], lat: YUEHU[1], crs: 'wgs84',
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const desk = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1440, height: 1000 } });
  const wb = await desk.newPage();
  const wbErrors = watchErrors(wb);
  await login(wb, city.base, USERS.admin);
  await wb.locator('.who-name').waitFor();
  await wb.goto(`${city.base}/#/case/${made.body.id ?? made.body.case?.id}`);
  await wb.waitForSelector('#case-map[data-ready=true]');
  await wb.waitForSelector('#case-map .map-tiles img[data-state=loaded]', { timeout: 20_000 });
  assert.equal(await wb.locator('#case-map .map-attribution').innerText(), ATTRIBUTION);
  assert.deepEqual(wbErrors, []);
  await desk.close();

  // The report page: tiles under the map, and a tap gives back the WGS-84 point tapped.
  const phone = await browser.newContext({ locale: 'zh-CN', viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const rp = await phone.newPage();
  const rpErrors = watchErrors(rp);
  await login(rp, city.base, USERS.inspector, '/report');
  await rp.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  await rp.waitForSelector('#rp-map .map-tiles img[data-state=loaded]', { timeout: 20_000 });
  await rp.waitForTimeout(300);
  const [px, py] = await rp.evaluate(([lon, lat]) => window.__chengyunReport.pixelOf(lon, lat), YUEHU);
  await rp.mouse.click(px, py);
  await rp.waitForSelector('#rp-location[data-district="360602"]');
  const coords = (await rp.locator('#rp-location .coords').innerText()).match(/经度 ([\d.]+)，纬度 ([\d.]+)/);
  assert.ok(coords, await rp.locator('#rp-location').innerText());
  // One CSS pixel of a district view is ~0.0002°; the tap lands within two of them.
  assert.ok(Math.abs(Number(coords[1]) - YUEHU[0]) < 5e-4 && Math.abs(Number(coords[2]) - YUEHU[1]) < 5e-4, coords[0]);
  assert.deepEqual(rpErrors, []);
  await phone.close();
});
