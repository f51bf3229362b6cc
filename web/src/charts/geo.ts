// GeoJSON from the API → the FeatureCollection ECharts' registerMap expects.

import type { Geometry } from '../api/types';

export interface Feature {
  type: 'Feature';
  properties: { code: string; name: string };
  geometry: Geometry;
}

export interface FeatureCollection {
  type: 'FeatureCollection';
  features: Feature[];
}

/** Anything with a code, a name and maybe a boundary: areas and unit grids. */
export interface Shape {
  code: string;
  name: string | null;
  boundary?: Geometry | null;
}

/**
 * Builds a FeatureCollection keyed by code (names repeat across levels, codes do not).
 * Shapes without a usable boundary are left out and returned in `missing`, so the
 * caller can say which areas cannot be drawn instead of silently dropping them.
 */
export function featureCollection(shapes: readonly Shape[]): { fc: FeatureCollection; missing: Shape[] } {
  const features: Feature[] = [];
  const missing: Shape[] = [];
  for (const s of shapes) {
    const g = s.boundary;
    if (g && (g.type === 'Polygon' || g.type === 'MultiPolygon') && Array.isArray(g.coordinates) && g.coordinates.length > 0) {
      features.push({ type: 'Feature', properties: { code: s.code, name: s.name ?? s.code }, geometry: g });
    } else {
      missing.push(s);
    }
  }
  return { fc: { type: 'FeatureCollection', features }, missing };
}

/** [minLon, minLat, maxLon, maxLat] of every ring in the collection, or null when empty. */
export function bounds(fc: FeatureCollection): [number, number, number, number] | null {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number' && typeof c[1] === 'number') {
      minX = Math.min(minX, c[0]);
      maxX = Math.max(maxX, c[0]);
      minY = Math.min(minY, c[1]);
      maxY = Math.max(maxY, c[1]);
    } else if (Array.isArray(c)) {
      c.forEach(visit);
    }
  };
  fc.features.forEach((f) => visit(f.geometry.coordinates));
  return Number.isFinite(minX) ? [minX, minY, maxX, maxY] : null;
}

/** A point inside-ish the shape for labels and tests: the centre of its largest ring's bounding box. */
export function labelPoint(g: Geometry): [number, number] | null {
  const polys = (g.type === 'Polygon' ? [g.coordinates] : g.coordinates) as number[][][][];
  let best: number[][] | null = null;
  for (const p of polys) {
    const ring = p[0];
    if (ring && (!best || ring.length > best.length)) best = ring;
  }
  if (!best || best.length === 0) return null;
  const b = bounds({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { code: '', name: '' }, geometry: { type: 'Polygon', coordinates: [best] } }] });
  return b ? [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] : null;
}

/** Ray casting over one ring ([lon, lat] pairs). */
function inRing(x: number, y: number, ring: readonly number[][]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i] as [number, number];
    const [xj, yj] = ring[j] as [number, number];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether a point lies in a polygon or multipolygon (holes excluded). */
export function pointInGeometry(lon: number, lat: number, g: Geometry): boolean {
  const polys = (g.type === 'Polygon' ? [g.coordinates] : g.coordinates) as number[][][][];
  return polys.some((p) => p.length > 0 && inRing(lon, lat, p[0]!) && !p.slice(1).some((h) => inRing(lon, lat, h)));
}

/** The code of the first feature holding the point, or null. */
export function featureAt(fc: FeatureCollection, lon: number, lat: number): string | null {
  for (const f of fc.features) if (pointInGeometry(lon, lat, f.geometry)) return f.properties.code;
  return null;
}
