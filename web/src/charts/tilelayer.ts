// The tile layer on a page: <img> tiles in a layer under an ECharts map's
// transparent canvas, placed from the geo component's current view, and the
// attribution in the corner. The chart draws its geo with `tiledGeo` (Web
// Mercator, GCJ-02 shift for GCJ-02 tiles), so tile pixels and our boundaries
// line up. Tiles load asynchronously (they never hold up a frame of the map);
// one that fails (404, offline) is left empty. The math is in tiles.ts.

import type { ECharts } from 'echarts/core';
import { type Affine, type MapTiles, lonLatAt, placeTile, tileProjection, tileUrl, tilesForView, viewAffine } from './tiles';

interface Tile {
  img: HTMLImageElement;
  z: number;
  x: number;
  y: number;
  state: 'loading' | 'loaded' | 'error';
}

export interface TileLayerOptions {
  /** How much larger than CSS pixels the map is shown (the big screen's fit-to-window scale). */
  displayScale?: () => number;
  /** Font size of the attribution, CSS pixels. */
  creditSize?: number;
}

export class TileLayer {
  /** The tiles, under the chart's canvas. */
  readonly layer: HTMLDivElement;
  /** The attribution, over the chart in the bottom-right corner. */
  readonly credit: HTMLDivElement;
  private readonly tiles = new Map<string, Tile>();
  private readonly project: (p: number[]) => number[];
  private readonly displayScale: () => number;
  private view = '';
  private zoom = -1;
  private frame = 0;

  constructor(
    private readonly chart: ECharts,
    private readonly box: HTMLElement,
    private readonly config: MapTiles,
    options: TileLayerOptions = {},
  ) {
    this.project = tileProjection(config.crs).project;
    this.displayScale = options.displayScale ?? (() => 1);
    if (getComputedStyle(box).position === 'static') box.style.position = 'relative';
    this.layer = document.createElement('div');
    this.layer.className = 'map-tiles';
    // Its own stacking context (z-index 0), so the tiles' z-indexes stay inside it; as the
    // first child it paints before ECharts' own (positioned) root, which comes later.
    Object.assign(this.layer.style, { position: 'absolute', inset: '0', zIndex: '0', overflow: 'hidden', pointerEvents: 'none' });
    box.prepend(this.layer);
    this.credit = document.createElement('div');
    this.credit.className = 'map-attribution';
    this.credit.textContent = config.attribution;
    this.credit.title = config.attribution;
    this.credit.hidden = !config.attribution;
    Object.assign(this.credit.style, {
      position: 'absolute',
      right: '0',
      bottom: '0',
      zIndex: '2',
      maxWidth: '70%',
      overflow: 'hidden',
      textOverflow: 'ellipsis',
      whiteSpace: 'nowrap',
      padding: '2px 8px',
      fontSize: `${options.creditSize ?? 12}px`,
      lineHeight: '1.4',
      color: '#c8dcf5',
      background: 'rgba(4, 13, 33, 0.72)',
      borderTopLeftRadius: '4px',
    });
    box.append(this.credit);
    // Roaming, a new option (drill-down, redraw) and resizing all end in a render.
    chart.on('georoam', this.schedule);
    chart.on('rendered', this.schedule);
  }

  /** Lays the tiles out on the next animation frame (at most once a frame). */
  readonly schedule = (): void => {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.layout();
    });
  };

  /** World pixels → screen pixels of the current view. */
  private affine(): Affine | null {
    return currentAffine(this.chart, this.project);
  }

  /** Places the tiles the current view needs; keeps the previous zoom's until the new ones came. */
  layout(): void {
    if (!this.box.isConnected) return;
    const width = this.chart.getWidth();
    const height = this.chart.getHeight();
    const a = this.affine();
    this.layer.hidden = a === null;
    if (!a) return;
    const scale = this.displayScale();
    const view = [width, height, a.sx, a.sy, a.tx, a.ty, scale].map((v) => v.toFixed(4)).join(',');
    if (view === this.view) return;
    this.view = view;
    const { z, tiles } = tilesForView(a, width, height, this.config, scale);
    this.zoom = z;
    const wanted = new Set<string>();
    for (const p of tiles) {
      wanted.add(p.key);
      const t = this.tiles.get(p.key) ?? this.add(p.z, p.x, p.y, p.key);
      place(t.img, p);
      t.img.style.zIndex = '1';
    }
    for (const [key, t] of this.tiles) {
      if (wanted.has(key)) continue;
      if (t.z === z || t.state !== 'loaded') {
        this.remove(key);
      } else {
        // Another zoom's tile, drawn at this view's scale under the new ones until they load.
        place(t.img, placeTile(a, t.z, t.x, t.y));
        t.img.style.zIndex = '0';
      }
    }
    this.layer.dataset.zoom = String(z);
    this.layer.dataset.tiles = String(tiles.length);
    this.prune();
  }

  private add(z: number, x: number, y: number, key: string): Tile {
    const img = document.createElement('img');
    const t: Tile = { img, z, x, y, state: 'loading' };
    img.alt = '';
    img.draggable = false;
    img.decoding = 'async';
    img.dataset.tile = key;
    img.dataset.state = 'loading';
    Object.assign(img.style, { position: 'absolute', maxWidth: 'none', userSelect: 'none' });
    img.addEventListener('load', () => this.settle(t, 'loaded'));
    // A missing tile (404, offline) stays empty: the boundaries are still drawn.
    img.addEventListener('error', () => {
      img.style.visibility = 'hidden';
      this.settle(t, 'error');
    });
    img.src = tileUrl(this.config.url, this.config.subdomains, z, x, y);
    this.layer.append(img);
    this.tiles.set(key, t);
    return t;
  }

  private settle(t: Tile, state: Tile['state']): void {
    t.state = state;
    t.img.dataset.state = state;
    this.prune();
  }

  /** Once no tile of the current zoom is loading, the other zooms' tiles go. */
  private prune(): void {
    for (const t of this.tiles.values()) if (t.z === this.zoom && t.state === 'loading') return;
    for (const [key, t] of this.tiles) if (t.z !== this.zoom) this.remove(key);
  }

  private remove(key: string): void {
    const t = this.tiles.get(key);
    if (!t) return;
    t.img.remove();
    // Stop a download nobody will see.
    if (t.state === 'loading') t.img.removeAttribute('src');
    this.tiles.delete(key);
  }
}

function place(img: HTMLImageElement, p: { left: number; top: number; width: number; height: number }): void {
  img.style.left = `${p.left}px`;
  img.style.top = `${p.top}px`;
  img.style.width = `${p.width}px`;
  img.style.height = `${p.height}px`;
}

/** A TileLayer on `chart` when the server has tiles; nothing otherwise. */
export function attachTiles(chart: ECharts, box: HTMLElement, tiles: MapTiles | null, options?: TileLayerOptions): TileLayer | null {
  return tiles ? new TileLayer(chart, box, tiles, options) : null;
}

/** The affine map of the chart's geo 0 view, or null while nothing is drawn. */
function currentAffine(chart: ECharts, project: (p: number[]) => number[]): Affine | null {
  try {
    return viewAffine((p) => chart.convertToPixel({ geoIndex: 0 }, p) as number[] | undefined, project);
  } catch {
    // No geo drawn (yet): nothing to align to.
    return null;
  }
}

/**
 * The lon/lat (WGS-84) under a pixel of the chart's geo 0. With tiles the map
 * is projected and ECharts' convertFromPixel gets it wrong (apache/echarts#16771),
 * so the pixel is taken back through the view and our own projection.
 */
export function lonLatAtPixel(chart: ECharts, tiles: MapTiles | null, px: number[]): number[] | undefined {
  if (!tiles) return chart.convertFromPixel({ geoIndex: 0 }, px) as number[] | undefined;
  const projection = tileProjection(tiles.crs);
  const a = currentAffine(chart, projection.project);
  return a ? lonLatAt(a, projection.unproject, px) : undefined;
}
