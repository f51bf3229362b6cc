// The report form's state, kept apart from the DOM so the rules are unit-tested.

import type { NewCase, Source } from '../api/cases';
import type { Location, Position } from '../api/types';

/** A matter class as picked from the list or from a suggestion. */
export interface PickedMatter {
  code: string;
  name: string;
  major_name?: string;
}

export interface ReportDraft {
  location: Location | null;
  matter: PickedMatter | null;
  description: string;
  /** Uploaded photo ids. */
  photos: string[];
}

/** Case intake (POST /api/v1/cases) exists on the server. */
export const intakeAvailable = true;

export function missing(d: Pick<ReportDraft, 'location' | 'matter'>): string[] {
  const out: string[] = [];
  if (!d.location) out.push('位置');
  else if (!d.location.grid && !d.location.district) out.push('城市范围内的位置');
  if (!d.matter) out.push('问题类别');
  return out;
}

export function canSubmit(d: Pick<ReportDraft, 'location' | 'matter'>, intake = intakeAvailable): boolean {
  return intake && missing(d).length === 0;
}

/** One line describing where a point lies, most specific first. */
export function locationText(l: Location): string {
  const parts = [l.district?.name, l.street?.name, l.community?.name].filter(Boolean) as string[];
  if (parts.length === 0) return '该位置不在本市管辖范围内';
  const grid = l.grid ? `单元网格 ${l.grid.code}` : '未落入单元网格';
  return `${parts.join(' · ')}（${grid}）`;
}

/** Inspectors report as 监督员上报; everyone else as a public report. */
export function sourceFor(roles: readonly Position[]): Source {
  return roles.includes('inspector') ? 'inspector' : 'public';
}

/** The intake body of a complete draft (call only when `canSubmit`). */
export function newCase(d: ReportDraft, roles: readonly Position[], reporterName: string): NewCase {
  const desc = d.description.trim();
  const place = d.location ? [d.location.district?.name, d.location.street?.name, d.location.community?.name].filter(Boolean).join('') : '';
  return {
    title: `${place}${d.matter?.name ?? ''}`.slice(0, 60),
    description: desc,
    matter_code: d.matter?.code ?? null,
    source: sourceFor(roles),
    lon: d.location?.lon ?? null,
    lat: d.location?.lat ?? null,
    crs: 'wgs84',
    address: place || null,
    reporter_name: reporterName,
    channel: 'app',
    attachments: [...d.photos],
  };
}
