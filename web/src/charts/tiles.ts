// The math of the optional raster tile layer (XYZ tiles, Web Mercator, 256 px):
// lon/lat ↔ tile coordinates, the ECharts geo projection that puts our
// boundaries on the tiles, the tiles a view needs at which zoom, URL templates.
// Pure; the DOM side is tilelayer.ts.
//
// Coordinates: "world pixels" are Web Mercator at zoom 0, x 0…256 from the
// antimeridian eastwards, y 0…256 from the north (so y grows downwards, as
// ECharts expects of a projection). At zoom z a tile spans 256 / 2^z of them.

import { gcj02ToWgs84, wgs84ToGcj02 } from './gcj02';

export const TILE_SIZE = 256;
/** Web Mercator stops here: the latitude where the world becomes a square. */
export const MAX_LATITUDE = 85.0511287798066;
/** A view needing more tiles than this draws none (a world view at a high min_zoom). */
export const MAX_TILES = 400;

/** What `GET /api/v1/map/config` answers for the tile layer. */
export interface MapTiles {
  url: string;
  subdomains: string;
  crs: 'wgs84' | 'gcj02';
  attribution: string;
  min_zoom: number;
  max_zoom: number;
}

/** `GET /api/v1/map/config`. */
export interface MapConfig {
  tiles: MapTiles | null;
}

/** WGS-84 or GCJ-02 lon/lat → world pixels (Web Mercator at zoom 0). */
export function mercator(lon: number, lat: number): [number, number] {
  const phi = (Math.max(-MAX_LATITUDE, Math.min(MAX_LATITUDE, lat)) * Math.PI) / 180;
  const x = ((lon + 180) / 360) * TILE_SIZE;
  const y = (0.5 - Math.log((1 + Math.sin(phi)) / (1 - Math.sin(phi))) / (4 * Math.PI)) * TILE_SIZE;
  return [x, y];
}

/** World pixels → lon/lat (the inverse of `mercator`). */
export function inverseMercator(x: number, y: number): [number, number] {
  const lon = (x / TILE_SIZE) * 360 - 180;
  const n = Math.PI * (1 - (2 * y) / TILE_SIZE);
  const lat = (Math.atan(Math.sinh(n)) * 180) / Math.PI;
  return [lon, lat];
}

/** The (fractional) tile coordinates of a lon/lat at zoom `z`; `Math.floor` gives the tile. */
export function lonLatToTile(lon: number, lat: number, z: number): { x: number; y: number } {
  const [wx, wy] = mercator(lon, lat);
  const n = 2 ** z / TILE_SIZE;
  return { x: wx * n, y: wy * n };
}

/** The north-west corner of tile (x, y) at zoom `z`, as lon/lat. */
export function tileToLonLat(x: number, y: number, z: number): [number, number] {
  const unit = TILE_SIZE / 2 ** z;
  return inverseMercator(x * unit, y * unit);
}

/**
 * The projection ECharts' geo component uses to draw our WGS-84 data on tiles
 * of `crs`: Web Mercator world pixels, through WGS-84 → GCJ-02 first for
 * GCJ-02 tiles. `unproject` inverts it (clicks on the map give WGS-84 back).
 */
export function tileProjection(crs: MapTiles['crs']) {
  const gcj = crs === 'gcj02';
  return {
    project: (p: number[]): number[] => {
      const [lon, lat] = gcj ? wgs84ToGcj02(p[0]!, p[1]!) : [p[0]!, p[1]!];
      return mercator(lon, lat);
    },
    unproject: (p: number[]): number[] => {
      const [lon, lat] = inverseMercator(p[0]!, p[1]!);
      return gcj ? gcj02ToWgs84(lon, lat) : [lon, lat];
    },
  };
}

/**
 * The zoom whose tiles are drawn closest to their own 256 px: `pxPerWorld` is
 * how many screen pixels one world pixel spans (times the display's scale).
 */
export function zoomFor(pxPerWorld: number, minZoom: number, maxZoom: number): number {
  const z = Number.isFinite(pxPerWorld) && pxPerWorld > 0 ? Math.round(Math.log2(pxPerWorld)) : minZoom;
  return Math.max(minZoom, Math.min(maxZoom, z));
}

export interface TileRange {
  z: number;
  /** First and last column and row, inclusive. */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** The tiles at zoom `z` covering a box of world pixels [minX, minY, maxX, maxY], inside the world. */
export function tileRange(box: readonly [number, number, number, number], z: number): TileRange | null {
  const n = 2 ** z;
  const unit = TILE_SIZE / n;
  const [minX, minY, maxX, maxY] = box;
  if (![minX, minY, maxX, maxY].every(Number.isFinite) || maxX <= minX || maxY <= minY) return null;
  const x0 = Math.max(0, Math.floor(minX / unit));
  const y0 = Math.max(0, Math.floor(minY / unit));
  // A box ending exactly on a tile edge does not need the tile beyond it.
  const x1 = Math.min(n - 1, Math.ceil(maxX / unit) - 1);
  const y1 = Math.min(n - 1, Math.ceil(maxY / unit) - 1);
  if (x1 < x0 || y1 < y0) return null;
  return { z, x0, x1, y0, y1 };
}

export function tileCount(r: TileRange): number {
  return (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1);
}

/**
 * The URL of one tile: `{z}`, `{x}`, `{y}`, `{-y}` (TMS rows, counted from the
 * south) and `{s}` (one of `subdomains`, chosen by position so a tile always
 * comes from the same host and stays cached).
 */
export function tileUrl(template: string, subdomains: string, z: number, x: number, y: number): string {
  const s = subdomains.length ? subdomains[Math.abs(x + y) % subdomains.length]! : '';
  const tms = 2 ** z - 1 - y;
  return template.replace(/\{(z|x|y|-y|s)\}/g, (_, k: string) =>
    k === 'z' ? String(z) : k === 'x' ? String(x) : k === 'y' ? String(y) : k === '-y' ? String(tms) : s,
  );
}

/** World pixels → screen pixels: `px = sx · wx + tx`, `py = sy · wy + ty`. */
export interface Affine {
  sx: number;
  sy: number;
  tx: number;
  ty: number;
}

/** The affine map through two (world, screen) pairs; null when they do not span both axes. */
export function affineFrom(
  w1: readonly number[],
  p1: readonly number[],
  w2: readonly number[],
  p2: readonly number[],
): Affine | null {
  const dx = w2[0]! - w1[0]!;
  const dy = w2[1]! - w1[1]!;
  if (!(Math.abs(dx) > 1e-12 && Math.abs(dy) > 1e-12)) return null;
  const sx = (p2[0]! - p1[0]!) / dx;
  const sy = (p2[1]! - p1[1]!) / dy;
  if (![sx, sy].every((v) => Number.isFinite(v) && v > 0)) return null;
  return { sx, sy, tx: p1[0]! - sx * w1[0]!, ty: p1[1]! - sy * w1[1]! };
}

/** Two lon/lat points that pin the affine map down (any two with distinct projections do). */
const PIN_A = [100, 20];
const PIN_B = [120, 40];

/**
 * World pixels → screen pixels of a map's current view. ECharts draws
 * `project(lon/lat)` through one scale and a translation, so where two points
 * land (`toPixel`: ECharts' convertToPixel on geo 0) pins both down.
 * (Not convertFromPixel: with a projection it unprojects before undoing the
 * view transform, apache/echarts#16771; `lonLatAt` is its replacement.)
 */
export function viewAffine(toPixel: (lonLat: number[]) => number[] | null | undefined, project: (p: number[]) => number[]): Affine | null {
  const pa = toPixel(PIN_A);
  const pb = toPixel(PIN_B);
  if (!pa || !pb) return null;
  return affineFrom(project(PIN_A), pa, project(PIN_B), pb);
}

/** The lon/lat under a screen pixel of a view drawn with `projection`. */
export function lonLatAt(a: Affine, unproject: (p: number[]) => number[], px: readonly number[]): number[] {
  return unproject([(px[0]! - a.tx) / a.sx, (px[1]! - a.ty) / a.sy]);
}

/** The world-pixel box a `width`×`height` view shows. */
export function visibleWorld(a: Affine, width: number, height: number): [number, number, number, number] {
  return [-a.tx / a.sx, -a.ty / a.sy, (width - a.tx) / a.sx, (height - a.ty) / a.sy];
}

export interface PlacedTile {
  key: string;
  z: number;
  x: number;
  y: number;
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where tile (z, x, y) goes on screen; edges rounded to whole pixels so neighbours meet without seams. */
export function placeTile(a: Affine, z: number, x: number, y: number): PlacedTile {
  const unit = TILE_SIZE / 2 ** z;
  const left = Math.round(a.sx * x * unit + a.tx);
  const top = Math.round(a.sy * y * unit + a.ty);
  const right = Math.round(a.sx * (x + 1) * unit + a.tx);
  const bottom = Math.round(a.sy * (y + 1) * unit + a.ty);
  return { key: `${z}/${x}/${y}`, z, x, y, left, top, width: right - left, height: bottom - top };
}

/**
 * The tiles a view needs: the zoom for its scale (times `displayScale`, the
 * CSS scale and device pixels) and every tile of that zoom it shows, placed.
 * Empty when the view is degenerate or would need more than MAX_TILES.
 */
export function tilesForView(a: Affine, width: number, height: number, tiles: Pick<MapTiles, 'min_zoom' | 'max_zoom'>, displayScale = 1): { z: number; tiles: PlacedTile[] } {
  const z = zoomFor(a.sx * displayScale, tiles.min_zoom, tiles.max_zoom);
  const r = tileRange(visibleWorld(a, width, height), z);
  if (!r || tileCount(r) > MAX_TILES) return { z, tiles: [] };
  const out: PlacedTile[] = [];
  for (let y = r.y0; y <= r.y1; y++) for (let x = r.x0; x <= r.x1; x++) out.push(placeTile(a, z, x, y));
  return { z, tiles: out };
}

/** `#rrggbb` → `rgba(r, g, b, alpha)`: area fills let the tiles show through. */
export function withAlpha(hex: string, alpha: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return hex;
  return `rgba(${parseInt(m[1]!, 16)}, ${parseInt(m[2]!, 16)}, ${parseInt(m[3]!, 16)}, ${alpha})`;
}

/** How opaque area fills are over tiles: the shading stays readable, the streets show. */
export const FILL_ALPHA_OVER_TILES = 0.45;

interface GeoStyle {
  itemStyle?: { areaColor?: string; [k: string]: unknown };
  emphasis?: { itemStyle?: { areaColor?: string; [k: string]: unknown }; [k: string]: unknown };
  [k: string]: unknown;
}

/** A style's area fill made see-through (fills that are not `#rrggbb` stay as they are). */
function seeThrough<S extends { areaColor?: string } | undefined>(style: S): S {
  return style?.areaColor ? { ...style, areaColor: withAlpha(style.areaColor, FILL_ALPHA_OVER_TILES) } : style;
}

/**
 * A geo component option for a map with tiles under it: the Web Mercator
 * projection (through GCJ-02 for GCJ-02 tiles) and see-through area fills.
 * Without tiles the option comes back unchanged, so the maps look as they did.
 */
export function tiledGeo<G extends GeoStyle>(geo: G, tiles: MapTiles | null | undefined): G {
  if (!tiles) return geo;
  return {
    ...geo,
    projection: tileProjection(tiles.crs),
    ...(geo.itemStyle ? { itemStyle: seeThrough(geo.itemStyle) } : {}),
    ...(geo.emphasis?.itemStyle ? { emphasis: { ...geo.emphasis, itemStyle: seeThrough(geo.emphasis.itemStyle) } } : {}),
  };
}

/**
 * The tile layer from a `/api/v1/map/config` answer, or null when there is
 * none or it is not usable (the page then draws the map without tiles).
 */
export function usableTiles(v: unknown): MapTiles | null {
  if (typeof v !== 'object' || v === null) return null;
  const t = v as Partial<Record<keyof MapTiles, unknown>>;
  const zoom = (z: unknown): z is number => Number.isInteger(z) && (z as number) >= 0 && (z as number) <= 24;
  if (typeof t.url !== 'string' || !/^https?:\/\//i.test(t.url)) return null;
  if (!t.url.includes('{z}') || !t.url.includes('{x}') || !(t.url.includes('{y}') || t.url.includes('{-y}'))) return null;
  if (t.crs !== 'wgs84' && t.crs !== 'gcj02') return null;
  if (!zoom(t.min_zoom) || !zoom(t.max_zoom) || t.min_zoom > t.max_zoom) return null;
  const subdomains = typeof t.subdomains === 'string' ? t.subdomains : '';
  if (t.url.includes('{s}') && !subdomains) return null;
  return {
    url: t.url,
    subdomains,
    crs: t.crs,
    attribution: typeof t.attribution === 'string' ? t.attribution : '',
    min_zoom: t.min_zoom,
    max_zoom: t.max_zoom,
  };
}
