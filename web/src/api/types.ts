// Types of the chengyun HTTP API (crates/api, OpenAPI at /api/openapi.json).
// Hand-written from the OpenAPI snapshot; keep them in step with it.

export type Position =
  | 'clerk'
  | 'shift_leader'
  | 'dispatcher'
  | 'inspector'
  | 'handler'
  | 'leader'
  | 'admin';

export type Scope = { kind: 'all' } | { kind: 'area'; area: string } | { kind: 'nothing' };

export interface User {
  id: number;
  username: string;
  display_name: string;
  department_code: string | null;
  roles: Position[];
  disabled: boolean;
  created_at: string;
}

export interface Me {
  user: User;
  scope: Scope;
}

export type AreaLevel = 'province' | 'city' | 'district' | 'street' | 'community';

/** A GeoJSON geometry as the API sends it (WGS-84). */
export interface Geometry {
  type: 'Polygon' | 'MultiPolygon';
  coordinates: number[][][] | number[][][][];
}

export interface Area {
  code: string;
  name: string;
  level: AreaLevel;
  parent_code: string | null;
  boundary?: Geometry | null;
}

export interface UnitGrid {
  code: string;
  name: string | null;
  area_code: string;
  area_m2: number;
  boundary: Geometry;
}

export type Tier = 'city' | 'district' | 'street';
export type DepartmentKind = 'command_center' | 'sub_center' | 'functional';

export interface Department {
  code: string;
  name: string;
  kind: DepartmentKind;
  tier: Tier;
  area_code: string;
  parent_code: string | null;
}

export interface Staff {
  code: string;
  name: string;
  department_code: string;
  position: Position;
  phone: string | null;
  username: string | null;
}

export type ComponentStatus = 'intact' | 'damaged' | 'lost' | 'occupied' | 'abandoned' | 'removed';

export interface DeptRef {
  code: string;
  name: string | null;
}

export interface Component {
  id: string;
  class_code: string;
  name: string;
  status: ComponentStatus;
  lon: number;
  lat: number;
  grid_code: string | null;
  owner?: DeptRef | null;
  custodian?: DeptRef | null;
  maintainer?: DeptRef | null;
  changed_on?: string | null;
  note?: string | null;
}

export type ClassKind = 'component' | 'matter';

export interface StandardClass {
  kind: ClassKind;
  code: string;
  major_code: string;
  major_name: string;
  name: string;
  local: boolean;
}

export interface NamedCode {
  code: string;
  name: string;
}

export interface Location {
  lat: number;
  lon: number;
  grid: NamedCode | null;
  community: NamedCode | null;
  street: NamedCode | null;
  district: NamedCode | null;
  city: NamedCode | null;
}

export interface AuditRecord {
  id: number;
  at: string;
  actor: string;
  user_id: number | null;
  action: string;
  target_kind: string;
  target: string;
  ip: string | null;
  request_id: string | null;
  details: unknown;
}

/** One page of a cursor-paginated list. */
export interface Paged<T> {
  items: T[];
  next_cursor: string | null;
}

/** The error body every failing endpoint answers. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}
