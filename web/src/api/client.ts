// A small typed client for the chengyun API. Sessions ride on the `cy_session`
// cookie (HttpOnly, set by POST /api/v1/auth/login), so every call sends
// credentials and the page never sees the secret.

import type {
  Area,
  AuditRecord,
  ClassKind,
  Component,
  Department,
  ErrorBody,
  Location,
  Me,
  Paged,
  Staff,
  StandardClass,
  UnitGrid,
  User,
} from './types';
import type {
  ActionRequest,
  AttachmentMeta,
  CaseSummary,
  CaseView,
  DispatchDecision,
  EvaluationGroupBy,
  EvaluationReport,
  Headline,
  MatterSuggestion,
  NewCase,
} from './cases';

/** An API refusal or a network failure, carrying the server's code and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** True when the caller has no (valid) session: the UI should show the login page. */
  get unauthenticated(): boolean {
    return this.status === 401 || this.code === 'unauthenticated';
  }
}

/** Query parameters; `undefined`, `null` and empty strings are left out. */
export type Query = Record<string, string | number | boolean | null | undefined>;

/** Builds `path?query`, dropping empty values so filters can be passed as they are. */
export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}

function isErrorBody(v: unknown): v is ErrorBody {
  if (typeof v !== 'object' || v === null || !('error' in v)) return false;
  const e = (v as { error: unknown }).error;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    typeof (e as { message?: unknown }).message === 'string'
  );
}

/** Turns a failed response into an ApiError, keeping the server's message when it sent one. */
export async function errorFrom(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (a proxy page, an empty body): fall through to the generic message.
  }
  if (isErrorBody(body)) {
    return new ApiError(res.status, body.error.code, body.error.message, body.error.details);
  }
  return new ApiError(res.status, 'http_' + res.status, `服务器返回 ${res.status} ${res.statusText}`.trim());
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** The API client; `fetchImpl` and `base` are injectable for tests. */
export class Api {
  constructor(
    private readonly base = '',
    private readonly fetchImpl: Fetch = (i, r) => fetch(i, r),
  ) {}

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json', ...headers } };
    if (body instanceof Blob) {
      init.headers = { accept: 'application/json', 'content-type': body.type || 'application/octet-stream', ...headers };
      init.body = body;
    } else if (body !== undefined) {
      init.headers = { accept: 'application/json', 'content-type': 'application/json', ...headers };
      init.body = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await this.fetchImpl(this.base + path, init);
    } catch (e) {
      throw new ApiError(0, 'network', `无法连接服务器：${e instanceof Error ? e.message : String(e)}`);
    }
    if (!res.ok) throw await errorFrom(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', withQuery(path, query));
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body ?? {});
  }

  /** One page of a list endpoint. */
  page<T>(path: string, query?: Query, cursor?: string | null, limit = 50): Promise<Paged<T>> {
    return this.get<Paged<T>>(path, { ...query, limit, cursor: cursor ?? undefined });
  }

  /** Every item of a list endpoint, following `next_cursor`; stops at `max` items. */
  all<T>(path: string, query?: Query, max = 20_000): Promise<T[]> {
    return collect(pages<T>(this, path, query), max);
  }

  // --- auth
  login(username: string, password: string): Promise<Me> {
    return this.post<Me>('/api/v1/auth/login', { username, password });
  }
  logout(): Promise<void> {
    return this.post<void>('/api/v1/auth/logout');
  }
  me(): Promise<Me> {
    return this.get<Me>('/api/v1/auth/me');
  }

  // --- city model
  area(code: string): Promise<Area> {
    return this.get<Area>(`/api/v1/areas/${encodeURIComponent(code)}`);
  }
  areas(query: { level?: string; parent?: string; boundary?: boolean }): Promise<Area[]> {
    return this.all<Area>('/api/v1/areas', { ...query, boundary: query.boundary ? true : undefined });
  }
  children(code: string, boundary = false): Promise<Area[]> {
    return this.all<Area>(`/api/v1/areas/${encodeURIComponent(code)}/children`, {
      boundary: boundary ? true : undefined,
    });
  }
  grids(within?: string): Promise<UnitGrid[]> {
    return this.all<UnitGrid>('/api/v1/grids', { within });
  }
  departments(): Promise<Department[]> {
    return this.all<Department>('/api/v1/departments');
  }
  components(query?: { status?: string; class_code?: string; grid_code?: string }): Promise<Component[]> {
    return this.all<Component>('/api/v1/components', query);
  }
  standards(kind: ClassKind, q?: string, limit = 50): Promise<Paged<StandardClass>> {
    return this.page<StandardClass>(`/api/v1/standards/${kind}`, { q }, null, limit);
  }
  locate(lat: number, lon: number, crs: 'wgs84' | 'gcj02' | 'bd09' = 'wgs84'): Promise<Location> {
    return this.get<Location>('/api/v1/locate', { lat, lon, crs });
  }
  users(): Promise<User[]> {
    return this.all<User>('/api/v1/users');
  }
  staff(department_code?: string): Promise<Staff[]> {
    return this.all<Staff>('/api/v1/staff', { department_code });
  }
  audit(query?: Query): Promise<Paged<AuditRecord>> {
    return this.page<AuditRecord>('/api/v1/audit', query);
  }

  // --- the case loop
  /** Reports a case; `key` makes a retried submit return the first result (Idempotency-Key). */
  report(c: NewCase, key?: string): Promise<CaseView> {
    return this.request<CaseView>('POST', '/api/v1/cases', c, key ? { 'idempotency-key': key } : {});
  }
  cases(query: Query, cursor?: string | null, limit = 50): Promise<Paged<CaseSummary>> {
    return this.page<CaseSummary>('/api/v1/cases', query, cursor, limit);
  }
  caseView(idOrNumber: number | string): Promise<CaseView> {
    return this.get<CaseView>(`/api/v1/cases/${encodeURIComponent(String(idOrNumber))}`);
  }
  act(id: number, req: ActionRequest): Promise<CaseView> {
    return this.post<CaseView>(`/api/v1/cases/${id}/actions`, req);
  }
  dispatchSuggestion(id: number): Promise<DispatchDecision> {
    return this.get<DispatchDecision>(`/api/v1/cases/${id}/dispatch-suggestion`);
  }
  /** Uploads a photo or document; the server sniffs its type and answers its metadata. */
  upload(file: Blob, name: string): Promise<AttachmentMeta> {
    return this.request<AttachmentMeta>('POST', withQuery('/api/v1/attachments', { name }), file);
  }
  async classify(text: string, limit = 5): Promise<MatterSuggestion[]> {
    const r = await this.get<MatterSuggestion[] | { suggestions?: MatterSuggestion[]; items?: MatterSuggestion[] }>('/api/v1/classify', { text, limit });
    return Array.isArray(r) ? r : (r.suggestions ?? r.items ?? []);
  }
  evaluation(query: { from?: string; to?: string; group?: EvaluationGroupBy; level?: string; area?: string }): Promise<EvaluationReport> {
    return this.get<EvaluationReport>('/api/v1/evaluation', query);
  }
  headline(query: { from?: string; to?: string; area?: string } = {}): Promise<Headline> {
    return this.get<Headline>('/api/v1/evaluation/headline', query);
  }
}

/** The URL of an attachment's bytes (photos are shown with it). */
export function attachmentUrl(id: string): string {
  return `/api/v1/attachments/${encodeURIComponent(id)}`;
}

/** Walks a cursor-paginated list page by page (500 items a page, the API's maximum). */
export async function* pages<T>(api: Api, path: string, query?: Query): AsyncGenerator<T[]> {
  let cursor: string | null = null;
  const seen = new Set<string>();
  for (;;) {
    const page: Paged<T> = await api.page<T>(path, query, cursor, 500);
    yield page.items;
    if (!page.next_cursor) return;
    // A cursor seen before would loop forever: stop rather than hang the page.
    if (seen.has(page.next_cursor)) throw new ApiError(0, 'cursor_loop', `分页游标重复：${page.next_cursor}`);
    seen.add(page.next_cursor);
    cursor = page.next_cursor;
  }
}

/** Gathers pages into one array, refusing to grow beyond `max` items. */
export async function collect<T>(it: AsyncIterable<T[]>, max: number): Promise<T[]> {
  const out: T[] = [];
  for await (const items of it) {
    out.push(...items);
    if (out.length >= max) return out.slice(0, max);
  }
  return out;
}

/** The client the pages use: same origin as the page. */
export const api = new Api();
