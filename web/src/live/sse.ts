// The live feed (GET /api/v1/stream, Server-Sent Events). Every message is a JSON
// envelope {type, id, at, data}; case changes carry the case id, number, change,
// state and area. Parsing is pure and tested; `subscribe` wires EventSource.

export interface Envelope {
  type: string;
  id: string | number | null;
  at: string | null;
  data: Record<string, unknown>;
}

export interface CaseEvent {
  kind: 'changed' | 'timer';
  caseId: number;
  number: string;
  /** `created`, an action name, `merged` … (changes); `warning`/`overdue` (timers). */
  change: string;
  state: string | null;
  areaCode: string | null;
  at: string | null;
  lon: number | null;
  lat: number | null;
}

/** Parses one message's data; null for anything that is not an envelope. */
export function parseEnvelope(raw: string): Envelope | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.type !== 'string' || !o.type) return null;
  const data = typeof o.data === 'object' && o.data !== null && !Array.isArray(o.data) ? (o.data as Record<string, unknown>) : {};
  const id = typeof o.id === 'string' || typeof o.id === 'number' ? o.id : null;
  return { type: o.type, id, at: typeof o.at === 'string' ? o.at : null, data };
}

const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * The case event in an envelope, or null when it is about something else.
 * Accepts the bus' names (`case.changed.<change>`, `case_changed`, `case.timer.<level>`).
 */
export function caseEvent(e: Envelope): CaseEvent | null {
  const t = e.type.toLowerCase();
  const timer = t.startsWith('case.timer') || t === 'case_timer';
  const changed = t.startsWith('case.changed') || t === 'case_changed' || t === 'case.changed';
  if (!timer && !changed) return null;
  const d = e.data;
  const caseId = num(d.case_id);
  const number = str(d.number);
  if (caseId === null || number === null) return null;
  const change = timer ? (str(d.level) ?? t.split('.').pop() ?? '') : (str(d.change) ?? t.split('.').pop() ?? '');
  return {
    kind: timer ? 'timer' : 'changed',
    caseId,
    number,
    change,
    state: str(d.state),
    areaCode: str(d.area_code),
    at: str(d.at) ?? e.at,
    lon: num(d.lon),
    lat: num(d.lat),
  };
}

export type IotEvent =
  | { kind: 'alarm'; alarmId: string; deviceId: string; alarmType: string; change: string; state: string; level: string; count: number; lon: number | null; lat: number | null; at: string | null }
  | { kind: 'device'; deviceId: string; online: boolean; at: string | null }
  | { kind: 'command'; commandId: number; deviceId: string; command: string; status: string; at: string | null };

/** The IoT event in an envelope (`alarm.changed`, `device.state`, `command.changed`), or null. */
export function iotEvent(e: Envelope): IotEvent | null {
  const d = e.data;
  const at = str(d.at) ?? e.at;
  const deviceId = str(d.device_id);
  if (deviceId === null) return null;
  switch (e.type) {
    case 'alarm.changed': {
      const alarmId = str(d.alarm_id);
      if (alarmId === null) return null;
      return {
        kind: 'alarm', alarmId, deviceId, alarmType: str(d.alarm_type) ?? '', change: str(d.change) ?? '', state: str(d.state) ?? '',
        level: str(d.level) ?? '', count: num(d.count) ?? 0, lon: num(d.lon), lat: num(d.lat), at,
      };
    }
    case 'device.state':
      return typeof d.online === 'boolean' ? { kind: 'device', deviceId, online: d.online, at } : null;
    case 'command.changed': {
      const commandId = num(d.command_id);
      const status = str(d.status);
      if (commandId === null || status === null) return null;
      return { kind: 'command', commandId, deviceId, command: str(d.command) ?? '', status, at };
    }
    default:
      return null;
  }
}

/** True for the feed's `resync`: events were missed, reload what is shown from REST. */
export function isResync(e: Envelope): boolean {
  return e.type === 'resync';
}

/** Batches bursts of events into one refresh after `ms` of quiet (at most `maxMs` late). */
export class Debounce {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private first = 0;
  constructor(
    private readonly fn: () => void,
    private readonly ms = 500,
    private readonly maxMs = 2000,
    private readonly now: () => number = () => Date.now(),
  ) {}
  poke(): void {
    const t = this.now();
    if (this.timer === null) this.first = t;
    else clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.ms, this.first + this.maxMs - t));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fn();
    }, wait);
  }
}

/** Subscribes to the live feed; reconnects are EventSource's own (with Last-Event-ID). */
export function subscribe(onEvent: (e: Envelope) => void, onState?: (open: boolean) => void, url = '/api/v1/stream'): () => void {
  const es = new EventSource(url, { withCredentials: true });
  const handle = (m: MessageEvent) => {
    const env = parseEnvelope(String(m.data));
    if (env) onEvent(env);
  };
  es.onmessage = handle;
  // Named events (`event: case.changed.created` …) do not reach onmessage.
  for (const name of ['case.changed', 'case.timer', 'city.changed', 'alarm.changed', 'device.state', 'command.changed', 'resync']) es.addEventListener(name, handle as EventListener);
  es.onopen = () => onState?.(true);
  es.onerror = () => onState?.(es.readyState === EventSource.OPEN);
  return () => es.close();
}
