import { describe, expect, it } from 'vitest';
import { allowed, safeNext } from '../src/access';
import type { Location, StandardClass } from '../src/api/types';
import { rolesZh, scopeZh } from '../src/labels';
import { canSubmit, locationText, missing, newCase, sourceFor } from '../src/report/form';
import { CursorTrail } from '../src/workbench/listing';

describe('access', () => {
  it('mirrors the server permissions', () => {
    expect(allowed('read_city', ['dispatcher'])).toBe(true);
    expect(allowed('read_city', [])).toBe(false);
    expect(allowed('manage_users', ['dispatcher', 'leader'])).toBe(false);
    expect(allowed('manage_users', ['admin'])).toBe(true);
  });

  it('only follows next to our own pages', () => {
    expect(safeNext('/screen')).toBe('/screen');
    expect(safeNext('/report')).toBe('/report');
    expect(safeNext('/#/areas')).toBe('/#/areas');
    expect(safeNext('//evil.example/x')).toBeNull();
    expect(safeNext('https://evil.example')).toBeNull();
    expect(safeNext(null)).toBeNull();
  });

  it('labels roles and scopes in Chinese', () => {
    expect(rolesZh(['dispatcher', 'admin'])).toBe('派遣员、系统管理员');
    expect(rolesZh([])).toBe('无角色');
    expect(scopeZh({ kind: 'all' })).toBe('全市');
    expect(scopeZh({ kind: 'area', area: '360602' }, () => '月湖区')).toBe('月湖区（360602）');
    expect(scopeZh({ kind: 'nothing' })).toContain('无');
  });
});

describe('CursorTrail', () => {
  it('goes forward and back through pages', () => {
    const t = new CursorTrail();
    expect(t.current).toBeNull();
    expect(t.hasPrev).toBe(false);
    t.next('c2');
    t.next('c3');
    expect(t.page).toBe(3);
    expect(t.current).toBe('c3');
    t.prev();
    expect(t.current).toBe('c2');
    t.reset();
    expect(t.page).toBe(1);
    t.prev();
    expect(t.page).toBe(1);
  });
});

describe('report form', () => {
  const loc: Location = {
    lat: 28.24, lon: 117.03,
    grid: { code: '360602000000123', name: '360602000000123' },
    community: null,
    street: { code: '360602001', name: '江边街道' },
    district: { code: '360602', name: '月湖区' },
    city: { code: '360600', name: '鹰潭市' },
  };
  const matter: StandardClass = { kind: 'matter', code: '01001', major_code: '01', major_name: '市容环境', name: '暴露垃圾', local: false };

  it('names what is missing', () => {
    expect(missing({ location: null, matter: null, })).toEqual(['位置', '问题类别']);
    const outside = { ...loc, grid: null, street: null, district: null, city: null };
    expect(missing({ location: outside, matter, })).toEqual(['城市范围内的位置']);
    expect(missing({ location: loc, matter, })).toEqual([]);
  });

  it('submits only a complete draft, and never without the intake API', () => {
    expect(canSubmit({ location: loc, matter })).toBe(true);
    expect(canSubmit({ location: loc, matter }, false)).toBe(false);
    expect(canSubmit({ location: null, matter })).toBe(false);
    expect(canSubmit({ location: loc, matter: null })).toBe(false);
  });

  it('builds the intake body from the draft', () => {
    const body = newCase({ location: loc, matter, description: '  路边有垃圾  ', photos: ['p1'] }, ['inspector'], '王网格');
    expect(body).toEqual({
      title: '月湖区江边街道暴露垃圾',
      description: '路边有垃圾',
      matter_code: '01001',
      source: 'inspector',
      lon: 117.03,
      lat: 28.24,
      crs: 'wgs84',
      address: '月湖区江边街道',
      reporter_name: '王网格',
      channel: 'app',
      attachments: ['p1'],
    });
    expect(sourceFor(['dispatcher'])).toBe('public');
  });

  it('describes a location', () => {
    expect(locationText(loc)).toBe('月湖区 · 江边街道（单元网格 360602000000123）');
    expect(locationText({ ...loc, grid: null, street: null, district: null })).toBe('该位置不在本市管辖范围内');
  });
});
