// WGS-84 ↔ GCJ-02, the offset datum of maps published in China (AutoNavi,
// Tencent, …). The same public formula as crates/geo/src/crs.rs (its constants,
// its "out of China" box, its fixed-point inverse), so a point the server
// converted and a point converted here agree to floating-point noise.
// Our data is stored in WGS-84; GCJ-02 tiles need our points shifted onto them.

/** Semi-major axis of the Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it. */
const KRASOVSKY_A = 6378245.0;
/** First eccentricity squared of the Krasovsky 1940 ellipsoid. */
const KRASOVSKY_EE = 0.006693421622965943;
/** The inverse stops once a step moves less than this (degrees). */
const INVERSE_TOLERANCE = 1e-10;
const INVERSE_MAX_STEPS = 30;

/** Whether a point lies outside the box where GCJ-02 offsets are applied. */
export function outOfChina(lon: number, lat: number): boolean {
  return !(lon >= 72.004 && lon <= 137.8347) || !(lat >= 0.8293 && lat <= 55.8271);
}

function transformLat(x: number, y: number): number {
  let ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  ret += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  ret += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  ret += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320.0 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return ret;
}

function transformLon(x: number, y: number): number {
  let ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  ret += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  ret += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  ret += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return ret;
}

/** WGS-84 → GCJ-02 (identity outside China). */
export function wgs84ToGcj02(lon: number, lat: number): [number, number] {
  if (outOfChina(lon, lat)) return [lon, lat];
  let dlat = transformLat(lon - 105.0, lat - 35.0);
  let dlon = transformLon(lon - 105.0, lat - 35.0);
  const radlat = (lat / 180.0) * Math.PI;
  const magic = 1.0 - KRASOVSKY_EE * Math.sin(radlat) * Math.sin(radlat);
  const sqrtMagic = Math.sqrt(magic);
  dlat = (dlat * 180.0) / (((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrtMagic)) * Math.PI);
  dlon = (dlon * 180.0) / ((KRASOVSKY_A / sqrtMagic) * Math.cos(radlat) * Math.PI);
  return [lon + dlon, lat + dlat];
}

/**
 * GCJ-02 → WGS-84 by fixed-point iteration: the `w` with `wgs84ToGcj02(w) = g`.
 * The offset changes slowly, so three or four steps reach the tolerance
 * (the one-step formula most libraries use is off by up to ~1e-5°, about a metre).
 */
export function gcj02ToWgs84(lon: number, lat: number): [number, number] {
  if (outOfChina(lon, lat)) return [lon, lat];
  const [fx, fy] = wgs84ToGcj02(lon, lat);
  let wx = lon - (fx - lon);
  let wy = lat - (fy - lat);
  for (let i = 0; i < INVERSE_MAX_STEPS; i++) {
    const [gx, gy] = wgs84ToGcj02(wx, wy);
    const ex = gx - lon;
    const ey = gy - lat;
    wx -= ex;
    wy -= ey;
    if (Math.abs(ex) < INVERSE_TOLERANCE && Math.abs(ey) < INVERSE_TOLERANCE) break;
  }
  return [wx, wy];
}
