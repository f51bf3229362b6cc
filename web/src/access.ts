// What each role may open in the workbench. Mirrors `Permission::allowed` in
// crates/domain/src/auth.rs; the API refuses anyway, this only hides what
// would be refused.

import type { Position } from './api/types';

export type Permission = 'read_city' | 'manage_city' | 'manage_users' | 'work_cases';

/** Positions that take workflow actions (WorkflowRules::default gives 管理员 none). */
export const WORKFLOW_POSITIONS: readonly Position[] = ['clerk', 'shift_leader', 'dispatcher', 'inspector', 'handler', 'leader'];

export function allowed(permission: Permission, roles: readonly Position[]): boolean {
  switch (permission) {
    case 'read_city':
      return roles.length > 0;
    case 'work_cases':
      return roles.some((r) => WORKFLOW_POSITIONS.includes(r));
    case 'manage_city':
    case 'manage_users':
      return roles.includes('admin');
  }
}

/** Where a successful login may send the user: only same-origin paths of our pages. */
export function safeNext(next: string | null | undefined): string | null {
  if (!next) return null;
  return /^\/(screen|report)?(\?[^\s]*)?$/.test(next) || /^\/#\/[a-z-]+(\/\d+)?$/.test(next) ? next : null;
}
