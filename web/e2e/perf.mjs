// Measures the big screen's first full frame with many cases in the database.
//   node e2e/perf.mjs [cases]        (default 2000; CHENGYUN_BIN picks the binary)
// Loads 鹰潭 like the e2e tests, reports `cases` through POST /api/v1/cases
// (the real intake: locate, classify, dedupe, dispatch, persist), then opens the
// screen in Chromium and prints the time from navigation to body[data-ready]
// (all panels drawn: map shading, markers, KPIs, trend, ranking, feed).
//   node e2e/perf.mjs --url http://127.0.0.1:PORT --user admin --password chengyun-demo
// measures a server that is already running over a filled data dir instead
// (e.g. `chengyun bench screen` then `chengyun --data-dir <dir> serve`); nothing is reported.
// Each load also prints the API calls' timing from the browser (Resource Timing),
// so a slow frame says where its time went.
// Not part of `npm run e2e`: it is a measurement, not a check.

import { launch, login } from './browser.mjs';
import { City, USERS } from './city.mjs';

function flag(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** Opens the screen as `user` at `base` and times three reloads. */
async function measure(base, user) {
  const browser = await launch();
  try {
    const ctx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1920, height: 1080 } });
    const page = await ctx.newPage();
    await login(page, base, user, '/screen');
    await page.waitForURL(/\/screen$/);
    // Reloads: the login redirect is not part of the frame.
    const times = [];
    for (let k = 0; k < 3; k++) {
      await page.reload();
      await page.waitForSelector('body[data-ready=true]', { timeout: 120_000 });
      times.push(Number(await page.getAttribute('body', 'data-first-frame-ms')));
      const api = await page.evaluate(() => performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/api/'))
        .map((e) => ({ path: new URL(e.name).pathname + new URL(e.name).search, start: e.startTime, end: e.responseEnd, bytes: e.transferSize })));
      api.sort((a, b) => (b.end - b.start) - (a.end - a.start));
      console.log(`load ${k + 1}: first full frame ${times[k]} ms; slowest API calls (start→end ms, bytes):`);
      for (const a of api.slice(0, 6)) {
        console.log(`  ${(a.end - a.start).toFixed(0).padStart(6)} ms  [${a.start.toFixed(0)}→${a.end.toFixed(0)}] ${a.bytes ?? '?'} B  ${a.path}`);
      }
    }
    console.log(`first full frame of the big screen: ${times.join(' ms, ')} ms (3 loads); open-case total on the map ${await page.getAttribute('#map', 'data-open-total')}`);
  } finally {
    await browser.close();
  }
}

const url = flag('--url');
if (url) {
  const username = flag('--user') ?? 'admin';
  const password = flag('--password');
  if (!password) throw new Error('--url needs --password (the demo city\'s is chengyun-demo)');
  await measure(url.replace(/\/$/, ''), { username, password });
} else {
  const n = Number(process.argv[2] ?? 2000);
  const city = new City();
  city.load();
  await city.serve();
  try {
    const inspector = await city.as(USERS.inspector);
    const t0 = Date.now();
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        // Spread over 月湖区 and beyond dedupe distance of one another.
        const lon = 117.0 + (i % 100) * 0.0006;
        const lat = 28.22 + Math.floor(i / 100) % 100 * 0.0005;
        const r = await inspector('POST', '/api/v1/cases', {
          description: `性能测试案件 ${i}`, matter_code: i % 2 ? '06010' : '01001', source: 'inspector', lon, lat, crs: 'wgs84',
        });
        if (r.status !== 201) failed++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const intakeS = (Date.now() - t0) / 1000;
    console.log(`reported ${n - failed} cases (${failed} refused) in ${intakeS.toFixed(1)} s (${((n - failed) / intakeS).toFixed(0)}/s over HTTP)`);
    await measure(city.base, USERS.admin);
  } finally {
    await city.stop();
  }
}
