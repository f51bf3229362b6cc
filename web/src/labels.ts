// Simplified Chinese labels for the API's enumerations. The API speaks English
// identifiers; people read these.

import type { AreaLevel, ComponentStatus, DepartmentKind, Position, Scope, Tier } from './api/types';

export const POSITION_ZH: Record<Position, string> = {
  clerk: '受理员',
  shift_leader: '值班长',
  dispatcher: '派遣员',
  inspector: '监督员',
  handler: '处置人员',
  leader: '领导',
  admin: '系统管理员',
};

export const LEVEL_ZH: Record<AreaLevel, string> = {
  province: '省',
  city: '市',
  district: '区/县',
  street: '街道/乡镇',
  community: '社区/村',
};

export const TIER_ZH: Record<Tier, string> = { city: '市级', district: '区级', street: '街道级' };

export const DEPARTMENT_KIND_ZH: Record<DepartmentKind, string> = {
  command_center: '指挥中心',
  sub_center: '分中心',
  functional: '职能部门',
};

export const COMPONENT_STATUS_ZH: Record<ComponentStatus, string> = {
  intact: '完好',
  damaged: '破损',
  lost: '丢失',
  occupied: '占用',
  abandoned: '废弃',
  removed: '移除',
};

/** A label for any enumeration value; unknown values are shown as they are. */
export function zh<K extends string>(table: Record<K, string>, value: string | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return (table as Record<string, string>)[value] ?? value;
}

export function rolesZh(roles: readonly Position[]): string {
  return roles.map((r) => zh(POSITION_ZH, r)).join('、') || '无角色';
}

/** Describes a scope; `areaName` resolves a division code to its name when known. */
export function scopeZh(scope: Scope, areaName?: (code: string) => string | undefined): string {
  switch (scope.kind) {
    case 'all':
      return '全市';
    case 'area': {
      const name = areaName?.(scope.area);
      return name ? `${name}（${scope.area}）` : scope.area;
    }
    case 'nothing':
      return '无（未分配部门）';
  }
}
