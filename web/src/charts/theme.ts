// The operations-centre palette shared by the big screen and the report map.

export const THEME = {
  background: '#040d21',
  panel: 'rgba(8, 30, 66, 0.72)',
  border: '#1d4f91',
  text: '#d7e8ff',
  muted: '#7f9cc5',
  accent: '#25d3ff',
  warn: '#ffb020',
  danger: '#ff5b5b',
  ok: '#3ddc97',
  /** Low → high shading of areas by a value. */
  ramp: ['#0b2a5b', '#11508f', '#1683c4', '#22b8e8', '#7fe7ff'],
  areaFill: '#0c2a57',
  areaBorder: '#3fa9ff',
} as const;
