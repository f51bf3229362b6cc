// The big screen's clock, in the city's time zone whatever the browser's is.

const DATE = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  weekday: 'long',
});
const TIME = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});

export function clockText(at: Date): { date: string; time: string } {
  return { date: DATE.format(at), time: TIME.format(at) };
}

/** Scale that fits a design canvas of `w`×`h` into a window, keeping its aspect. */
export function fitScale(windowW: number, windowH: number, w = 1920, h = 1080): number {
  if (windowW <= 0 || windowH <= 0) return 1;
  return Math.min(windowW / w, windowH / h);
}
