// A server-paginated table: filters become query parameters, "下一页" follows
// `next_cursor`, "上一页" goes back through the cursors already seen.

import { type Query, api } from '../api/client';
import { el, errorText } from '../dom';

export interface Column<T> {
  title: string;
  cell: (row: T) => string | Node;
}

export interface Filter {
  name: string;
  label: string;
  /** A select when given options, else a text box. */
  options?: readonly [value: string, label: string][];
  placeholder?: string;
}

export interface ListingSpec<T> {
  path: string;
  columns: Column<T>[];
  filters?: Filter[];
  /** Fixed query parameters added to every request. */
  query?: Query;
  pageSize?: number;
  empty?: string;
}

/** Cursor history for back/forward paging; pure, so it is unit-tested. */
export class CursorTrail {
  private trail: (string | null)[] = [null];

  get current(): string | null {
    return this.trail[this.trail.length - 1] ?? null;
  }
  get page(): number {
    return this.trail.length;
  }
  get hasPrev(): boolean {
    return this.trail.length > 1;
  }
  next(cursor: string): void {
    this.trail.push(cursor);
  }
  prev(): void {
    if (this.trail.length > 1) this.trail.pop();
  }
  reset(): void {
    this.trail = [null];
  }
}

export function listing<T>(spec: ListingSpec<T>): HTMLElement {
  const trail = new CursorTrail();
  const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const form = el('form', { class: 'filters' });
  for (const f of spec.filters ?? []) {
    let input: HTMLInputElement | HTMLSelectElement;
    if (f.options) {
      input = el('select', { name: f.name }, el('option', { value: '' }, '全部'), ...f.options.map(([v, l]) => el('option', { value: v }, l)));
    } else {
      input = el('input', { name: f.name, placeholder: f.placeholder ?? '', autocomplete: 'off' });
    }
    inputs.set(f.name, input);
    form.append(el('label', {}, f.label, input));
  }
  if (spec.filters?.length) form.append(el('button', { type: 'submit' }, '查询'));
  const status = el('div', { class: 'list-status' });
  const tbody = el('tbody');
  const table = el('table', { class: 'grid' }, el('thead', {}, el('tr', {}, ...spec.columns.map((c) => el('th', {}, c.title)))), tbody);
  const prev = el('button', { type: 'button', 'data-act': 'prev' }, '上一页');
  const next = el('button', { type: 'button', 'data-act': 'next' }, '下一页');
  const pageNo = el('span', { class: 'page-no' });
  let nextCursor: string | null = null;

  const load = async () => {
    const query: Query = { ...spec.query };
    for (const [k, i] of inputs) query[k] = i.value.trim();
    status.textContent = '加载中…';
    status.className = 'list-status';
    try {
      const page = await api.page<T>(spec.path, query, trail.current, spec.pageSize ?? 50);
      nextCursor = page.next_cursor;
      tbody.replaceChildren(
        ...page.items.map((row) => el('tr', {}, ...spec.columns.map((c) => el('td', {}, c.cell(row))))),
      );
      status.textContent = page.items.length ? `第 ${trail.page} 页，本页 ${page.items.length} 条` : (spec.empty ?? '没有符合条件的记录');
    } catch (e) {
      tbody.replaceChildren();
      nextCursor = null;
      status.textContent = errorText(e);
      status.className = 'list-status error';
    }
    prev.disabled = !trail.hasPrev;
    next.disabled = !nextCursor;
    pageNo.textContent = `第 ${trail.page} 页`;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    trail.reset();
    void load();
  });
  prev.addEventListener('click', () => {
    trail.prev();
    void load();
  });
  next.addEventListener('click', () => {
    if (nextCursor) trail.next(nextCursor);
    void load();
  });
  void load();
  return el('div', { class: 'listing' }, form, status, el('div', { class: 'table-wrap' }, table), el('div', { class: 'pager' }, prev, pageNo, next));
}
