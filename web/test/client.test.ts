import { describe, expect, it } from 'vitest';
import { Api, ApiError, collect, pages, withQuery } from '../src/api/client';

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

describe('withQuery', () => {
  it('drops empty values and encodes the rest', () => {
    expect(withQuery('/x', { a: '', b: undefined, c: null, d: '月湖', e: 2, f: true })).toBe(
      '/x?d=%E6%9C%88%E6%B9%96&e=2&f=true',
    );
    expect(withQuery('/x', {})).toBe('/x');
  });
});

describe('Api', () => {
  it('turns the error shape into an ApiError with the server message', async () => {
    const api = new Api('', async () => json(403, { error: { code: 'forbidden', message: '需要管理员角色', details: null } }));
    const err = await api.get('/api/v1/users').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('forbidden');
    expect((err as ApiError).message).toBe('需要管理员角色');
    expect((err as ApiError).status).toBe(403);
    expect((err as ApiError).unauthenticated).toBe(false);
  });

  it('reports a non-JSON failure with its status', async () => {
    const api = new Api('', async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    const err = (await api.get('/x').catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe('http_502');
    expect(err.message).toContain('502');
  });

  it('reports a network failure in Chinese', async () => {
    const api = new Api('', async () => {
      throw new TypeError('Failed to fetch');
    });
    const err = (await api.me().catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe('network');
    expect(err.message).toContain('无法连接服务器');
  });

  it('flags 401 as unauthenticated', async () => {
    const api = new Api('', async () => json(401, { error: { code: 'unauthenticated', message: 'log in first' } }));
    const err = (await api.me().catch((e: unknown) => e)) as ApiError;
    expect(err.unauthenticated).toBe(true);
  });

  it('sends JSON bodies with credentials', async () => {
    let seen: RequestInit | undefined;
    let url = '';
    const api = new Api('http://h', async (u, init) => {
      url = u;
      seen = init;
      return json(200, { user: {}, scope: { kind: 'all' } });
    });
    await api.login('chief', 'pw');
    expect(url).toBe('http://h/api/v1/auth/login');
    expect(seen?.method).toBe('POST');
    expect(seen?.credentials).toBe('same-origin');
    expect(JSON.parse(String(seen?.body))).toEqual({ username: 'chief', password: 'pw' });
  });

  it('follows next_cursor until it is null', async () => {
    const calls: string[] = [];
    const api = new Api('', async (u) => {
      calls.push(u);
      const cursor = new URL(u, 'http://x').searchParams.get('cursor');
      if (!cursor) return json(200, { items: [1, 2], next_cursor: 'c2' });
      if (cursor === 'c2') return json(200, { items: [3], next_cursor: null });
      throw new Error('unexpected');
    });
    expect(await api.all<number>('/api/v1/grids', { within: '360602' })).toEqual([1, 2, 3]);
    expect(calls[0]).toBe('/api/v1/grids?within=360602&limit=500');
    expect(calls[1]).toBe('/api/v1/grids?within=360602&limit=500&cursor=c2');
  });

  it('stops on a repeated cursor instead of looping', async () => {
    const api = new Api('', async () => json(200, { items: [1], next_cursor: 'same' }));
    await expect(collect(pages<number>(api, '/x'), 100)).rejects.toThrow('分页游标重复');
  });

  it('caps the number of items gathered', async () => {
    let n = 0;
    const api = new Api('', async () => json(200, { items: [n++, n++], next_cursor: `c${n}` }));
    expect(await api.all<number>('/x', undefined, 3)).toEqual([0, 1, 2]);
  });
});
