// The timer light (亮灯) and remaining time, as queues and detail pages show them.
// Green up to 80 % of the limit, yellow up to 100 %, red past it (the server decides
// the colour; these helpers only format what it sent).

import type { TimerColour } from '../api/cases';
import { COLOUR_ZH } from './labels';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A duration in words, largest two units: "2天3小时", "5小时12分钟", "8分钟", "不足1分钟". */
export function durationZh(ms: number): string {
  const a = Math.abs(ms);
  if (a < MINUTE) return '不足1分钟';
  const d = Math.floor(a / DAY);
  const h = Math.floor((a % DAY) / HOUR);
  const m = Math.floor((a % HOUR) / MINUTE);
  if (d > 0) return h > 0 ? `${d}天${h}小时` : `${d}天`;
  if (h > 0) return m > 0 ? `${h}小时${m}分钟` : `${h}小时`;
  return `${m}分钟`;
}

/**
 * Remaining time to a deadline, in wall-clock time: "剩余 3小时20分钟" or
 * "已超时 1天2小时"; "已暂停（挂账）" when the clock is paused; "—" without a deadline.
 */
export function remainingText(deadline: string | null | undefined, now: Date, paused = false): string {
  if (paused) return '已暂停（挂账）';
  if (!deadline) return '—';
  const t = Date.parse(deadline);
  if (!Number.isFinite(t)) return '—';
  const left = t - now.getTime();
  return left >= 0 ? `剩余 ${durationZh(left)}` : `已超时 ${durationZh(left)}`;
}

/**
 * The colour a list row shows. The server's colour wins; a row without one
 * (no running clock) is grey, except that a passed deadline is always red.
 */
export function rowColour(colour: TimerColour | null | undefined, deadline: string | null | undefined, now: Date): TimerColour | null {
  if (deadline && Date.parse(deadline) < now.getTime()) return 'red';
  return colour ?? null;
}

/** The label beside the dot. */
export function colourText(c: TimerColour | null): string {
  return c ? COLOUR_ZH[c] : '无计时';
}

/** Share of the limit used, as a percentage for a progress bar (0–100, capped). */
export function usedPercent(fraction: number): number {
  if (!Number.isFinite(fraction) || fraction < 0) return 0;
  return Math.min(100, Math.round(fraction * 100));
}
