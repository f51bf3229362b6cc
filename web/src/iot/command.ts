// The send-command form, generated from the product's CommandDef params: one
// field spec per param, and the typed params object from the entered strings
// (with the thing model's bounds checked before anything is sent).

import type { CommandDef, PropertyDef } from '../api/iot';

export type FieldKind = 'number' | 'checkbox' | 'select' | 'text' | 'point';

export interface FieldSpec {
  name: string;
  label: string;
  kind: FieldKind;
  /** Whole numbers only (int params). */
  integer?: boolean;
  min?: number;
  max?: number;
  options?: string[];
  unit?: string;
  hint: string;
}

function hint(p: PropertyDef): string {
  switch (p.data_type) {
    case 'int':
    case 'float': {
      const kind = p.data_type === 'int' ? '整数' : '数值';
      const lo = p.min ?? null;
      const hi = p.max ?? null;
      const range = lo !== null && hi !== null ? `，${lo}～${hi}` : lo !== null ? `，≥ ${lo}` : hi !== null ? `，≤ ${hi}` : '';
      return `${kind}${range}${p.unit ? `（${p.unit}）` : ''}`;
    }
    case 'bool':
      return '勾选为“是”';
    case 'enum':
      return `可选：${(p.enum_values ?? []).join('、')}`;
    case 'geo_point':
      return '经度,纬度（WGS-84）';
    default:
      return '文本';
  }
}

/** The form fields of a command. */
export function commandFields(c: CommandDef): FieldSpec[] {
  return (c.params ?? []).map((p) => {
    const base = { name: p.id, label: p.name || p.id, hint: hint(p), unit: p.unit ?? undefined };
    switch (p.data_type) {
      case 'int':
      case 'float':
        return { ...base, kind: 'number', integer: p.data_type === 'int', min: p.min ?? undefined, max: p.max ?? undefined };
      case 'bool':
        return { ...base, kind: 'checkbox' };
      case 'enum':
        return { ...base, kind: 'select', options: [...(p.enum_values ?? [])] };
      case 'geo_point':
        return { ...base, kind: 'point' };
      default:
        return { ...base, kind: 'text' };
    }
  });
}

export type ParamsResult = { ok: true; params: Record<string, unknown> } | { ok: false; errors: string[] };

/**
 * The command's params from the entered values (strings; checkboxes as 'true'/'false').
 * Every field is required; each problem names the field and the rule broken.
 */
export function commandParams(fields: readonly FieldSpec[], values: Readonly<Record<string, string>>): ParamsResult {
  const params: Record<string, unknown> = {};
  const errors: string[] = [];
  for (const f of fields) {
    const raw = (values[f.name] ?? '').trim();
    switch (f.kind) {
      case 'checkbox':
        params[f.name] = raw === 'true';
        break;
      case 'number': {
        if (raw === '') {
          errors.push(`${f.label}：必填`);
          break;
        }
        const n = Number(raw);
        if (!Number.isFinite(n)) errors.push(`${f.label}：“${raw}”不是数值`);
        else if (f.integer && !Number.isInteger(n)) errors.push(`${f.label}：须为整数`);
        else if (f.min !== undefined && n < f.min) errors.push(`${f.label}：不得小于 ${f.min}`);
        else if (f.max !== undefined && n > f.max) errors.push(`${f.label}：不得大于 ${f.max}`);
        else params[f.name] = n;
        break;
      }
      case 'select':
        if (!f.options?.includes(raw)) errors.push(`${f.label}：须为 ${(f.options ?? []).join('、')} 之一`);
        else params[f.name] = raw;
        break;
      case 'point': {
        const m = raw.split(/[,，\s]+/).map(Number);
        if (m.length !== 2 || !m.every(Number.isFinite) || Math.abs(m[0]!) > 180 || Math.abs(m[1]!) > 90) errors.push(`${f.label}：须为“经度,纬度”`);
        else params[f.name] = { lon: m[0], lat: m[1] };
        break;
      }
      default:
        if (raw === '') errors.push(`${f.label}：必填`);
        else params[f.name] = raw;
    }
  }
  return errors.length ? { ok: false, errors } : { ok: true, params };
}

export const COMMAND_STATUS_ZH: Record<string, string> = {
  queued: '排队中',
  sent: '已下发',
  acknowledged: '设备已确认',
  failed: '失败',
  timed_out: '超时',
};

/** Whether a command status is final (no more changes to wait for). */
export function commandDone(status: string): boolean {
  return status === 'acknowledged' || status === 'failed' || status === 'timed_out';
}
