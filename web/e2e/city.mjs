// Starts the REAL `chengyun` binary on 127.0.0.1 (free port, temp data dir) and
// loads 鹰潭 through its command line, as the README tells a city to do.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
const shared = process.env.CHENGYUN_SHARED ?? resolve(repo, '../shared');
const boundaries = join(shared, 'data/yingtan-boundaries');

/** The binary: $CHENGYUN_BIN, else the debug build in the cargo target dir. */
export function binary() {
  const candidates = [
    process.env.CHENGYUN_BIN,
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'debug/chengyun'),
    join(repo, 'target/debug/chengyun'),
    '/root/.cache/chengyun-target/debug/chengyun',
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`chengyun binary not found (tried ${candidates.join(', ')}); run cargo build or set CHENGYUN_BIN`);
  return found;
}

export const USERS = {
  admin: { username: 'chief', password: 'admin-pass-2026', name: '陈主任' },
  dispatcher: { username: 'li.dispatch', password: 'dispatch-pass-2026', name: '李派遣', role: 'dispatcher', department: 'YH-CENTER' },
  clerk: { username: 'zhao.clerk', password: 'clerk-pass-2026', name: '赵受理', role: 'clerk', department: 'YH-CENTER' },
  leader: { username: 'qian.shift', password: 'shift-pass-2026', name: '钱值班', role: 'shift_leader', department: 'YH-CENTER' },
  handler: { username: 'sun.handle', password: 'handler-pass-2026', name: '孙处置', role: 'handler', department: 'YH-SZ' },
  inspector: { username: 'wang.grid', password: 'inspector-pass-2026', name: '王网格', role: 'inspector', department: 'YH-CENTER' },
};

const DEPARTMENTS = `code,name,kind,tier,area_code,parent_code
YT-CENTER,鹰潭市城市运行管理中心,command_center,city,360600,
YT-CG,市城管指挥中心,sub_center,city,360600,YT-CENTER
YH-CENTER,月湖区城运中心,command_center,district,360602,YT-CENTER
YJ-CENTER,余江区城运中心,command_center,district,360603,YT-CENTER
GX-CENTER,贵溪市城运中心,command_center,district,360681,YT-CENTER
YH-SZ,月湖区市政公用局,functional,district,360602,YH-CENTER
`;

const STAFF = `工号,姓名,部门编码,岗位,电话,账号
S001,李派遣,YH-CENTER,派遣员,0701-6200001,li.dispatch
S002,王网格,YH-CENTER,网格员,13900000002,
S003,赵受理,YT-CENTER,受理员,0701-6200003,
`;

/** Deterministic components around each district's centre (GCJ-02, like DataV). */
function components() {
  const datav = JSON.parse(readFileSync(join(boundaries, '360600_full.datav.json'), 'utf8'));
  const features = Array.isArray(datav) ? datav : datav.features;
  const classes = [['01001', '供水井盖'], ['01002', '污水井盖'], ['01030', '电力立杆']];
  const states = ['完好', '完好', '完好', '破损', '完好', '丢失', '占用'];
  const per = { 360602: 90, 360603: 35, 360681: 50 };
  let seed = 20260301;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const rows = ['OBJID,OBJNAME,DEPTCODE1,DEPTNAME1,OBJSTATE,ORDATE,POINTX,POINTY'];
  for (const f of features) {
    const code = String(f.properties.adcode);
    const [lon, lat] = f.properties.center;
    const spread = code === '360602' ? 0.025 : 0.06;
    for (let i = 1; i <= (per[code] ?? 0); i++) {
      const [cls, name] = classes[i % classes.length];
      const id = `${code}${cls}${String(i).padStart(6, '0')}`;
      const x = (lon + (rnd() - 0.5) * 2 * spread).toFixed(6);
      const y = (lat + (rnd() - 0.5) * 2 * spread).toFixed(6);
      rows.push(`${id},${name},YH-SZ,月湖区市政公用局,${states[i % states.length]},2021-05-01,${x},${y}`);
    }
  }
  return rows.join('\n') + '\n';
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export class City {
  constructor() {
    this.bin = binary();
    this.data = mkdtempSync(join(tmpdir(), 'chengyun-e2e-'));
    this.env = { ...process.env };
    delete this.env.CHENGYUN_DATABASE_URL;
    delete this.env.CHENGYUN_CONFIG;
    this.env.CHENGYUN_LOG = 'warn';
  }

  run(args, input) {
    const r = spawnSync(this.bin, ['--data-dir', this.data, ...args], { env: this.env, input, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`chengyun ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  file(name, text) {
    const p = join(this.data, name);
    writeFileSync(p, text);
    return p;
  }

  load() {
    this.run(['migrate']);
    this.run(['import', 'areas', join(boundaries, '360600_outline.derived.json'), '--crs', 'gcj02']);
    this.run(['import', 'areas', join(boundaries, '360600_full.datav.json'), '--crs', 'gcj02']);
    this.run(['import', 'areas', join(boundaries, 'yingtan_admin_codes_to_township.csv')]);
    this.run(['import', 'departments', this.file('departments.csv', DEPARTMENTS)]);
    this.run(['import', 'staff', this.file('staff.csv', STAFF)]);
    this.run(['grid', 'generate', '--area', '360602', '--cell', '500m']);
    this.run(['import', 'components', this.file('components.csv', components()), '--crs', 'gcj02']);
    const a = USERS.admin;
    this.run(['user', 'create', a.username, '--role', 'admin', '--name', a.name, '--password-stdin'], a.password);
    for (const u of Object.values(USERS)) {
      if (!u.role) continue;
      this.run(['user', 'create', u.username, '--role', u.role, '--department', u.department, '--name', u.name, '--password-stdin'], u.password + '\n');
    }
  }

  async serve() {
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    this.child = spawn(this.bin, ['--data-dir', this.data, 'serve', '--listen', `127.0.0.1:${port}`], {
      env: { ...this.env, CHENGYUN_ADMIN_PASSWORD: 'first-admin-pass-2026' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    this.child.stderr.on('data', (b) => (stderr += b));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`chengyun serve exited: ${stderr}`);
      try {
        const r = await fetch(`${this.base}/readyz`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`chengyun serve did not become ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Logs in over HTTP and returns a fetch bound to that session (JSON in and out). */
  async as(user) {
    const r = await fetch(`${this.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: user.username, password: user.password }),
    });
    if (!r.ok) throw new Error(`login ${user.username}: ${r.status} ${await r.text()}`);
    const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    return async (method, path, body) => {
      const res = await fetch(`${this.base}${path}`, {
        method,
        headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = text;
      }
      return { status: res.status, body: json, headers: res.headers };
    };
  }

  async stop() {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
    rmSync(this.data, { recursive: true, force: true });
  }
}
