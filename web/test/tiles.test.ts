import { describe, expect, it } from 'vitest';
import { MapChart } from 'echarts/charts';
import { GeoComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';
import { gcj02ToWgs84, outOfChina, wgs84ToGcj02 } from '../src/charts/gcj02';
import { areaMapOption } from '../src/charts/map';
import { THEME } from '../src/charts/theme';
import {
  FILL_ALPHA_OVER_TILES,
  MAX_TILES,
  type MapTiles,
  affineFrom,
  lonLatAt,
  inverseMercator,
  lonLatToTile,
  mercator,
  placeTile,
  tileProjection,
  tileRange,
  tileToLonLat,
  tileUrl,
  tiledGeo,
  tilesForView,
  usableTiles,
  viewAffine,
  visibleWorld,
  withAlpha,
  zoomFor,
} from '../src/charts/tiles';

const close = (a: readonly number[], b: readonly number[], tol: number) =>
  a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= tol);

describe('GCJ-02', () => {
  // Printed by crates/geo/src/crs.rs (wgs84_to_gcj02 / gcj02_to_wgs84) for the same inputs.
  const RUST: [[number, number], [number, number], [number, number]][] = [
    // Yingtan: the centre of 月湖区, and the test city's devices.
    [[117.069, 28.26], [117.07427338316381, 28.256865229465717], [117.06373747816454, 28.26314208968109]],
    [[117.0293, 28.2417], [117.03445892023332, 28.238482852024415], [117.02415942620085, 28.2449311766586]],
    // Beijing: the pair of wandergis/coordtransform's test (WGS → GCJ).
    [[116.404, 39.915], [116.41024449916938, 39.91640428150164], [116.39775575457485, 39.913596235609404]],
  ];

  it('matches the Rust implementation to floating-point noise', () => {
    for (const [w, g, back] of RUST) {
      expect(close(wgs84ToGcj02(w[0], w[1]), g, 1e-11), `${w} → ${wgs84ToGcj02(w[0], w[1])}`).toBe(true);
      expect(close(gcj02ToWgs84(w[0], w[1]), back, 1e-11), `${w} ← ${gcj02ToWgs84(w[0], w[1])}`).toBe(true);
    }
  });

  it('round-trips across China to a millionth of a metre', () => {
    for (let lon = 74; lon <= 134; lon += 3.7) {
      for (let lat = 18; lat <= 53; lat += 2.9) {
        const [gx, gy] = wgs84ToGcj02(lon, lat);
        // The offset is real: tens to hundreds of metres.
        expect(Math.hypot(gx - lon, gy - lat)).toBeGreaterThan(1e-4);
        expect(close(gcj02ToWgs84(gx, gy), [lon, lat], 1e-9)).toBe(true);
      }
    }
  });

  it('leaves points outside China alone', () => {
    expect(outOfChina(2.35, 48.85)).toBe(true);
    expect(outOfChina(117.069, 28.26)).toBe(false);
    expect(wgs84ToGcj02(2.35, 48.85)).toEqual([2.35, 48.85]);
    expect(gcj02ToWgs84(-74, 40.7)).toEqual([-74, 40.7]);
  });
});

describe('tile math', () => {
  it('puts lon/lat on the slippy-map tile grid', () => {
    expect(lonLatToTile(0, 0, 1)).toEqual({ x: 1, y: 1 });
    const nw = lonLatToTile(-180, 85.0511287798066, 3);
    expect(close([nw.x, nw.y], [0, 0], 1e-9)).toBe(true);
    // San Francisco is on tile 12/655/1583 (OpenStreetMap).
    const sf = lonLatToTile(-122.4194, 37.7749, 12);
    expect([Math.floor(sf.x), Math.floor(sf.y)]).toEqual([655, 1583]);
    // Yingtan at zoom 11: the GCJ-02 shift moves it onto the next column.
    const w = lonLatToTile(117.069, 28.26, 11);
    expect([Math.floor(w.x), Math.floor(w.y)]).toEqual([1689, 856]);
    const [gx, gy] = wgs84ToGcj02(117.069, 28.26);
    const g = lonLatToTile(gx, gy, 11);
    expect([Math.floor(g.x), Math.floor(g.y)]).toEqual([1690, 856]);
    // Latitudes past Web Mercator's edge clamp to the first or last row.
    expect(lonLatToTile(0, 89.9, 2).y).toBeCloseTo(0, 9);
    expect(lonLatToTile(0, -89.9, 2).y).toBeCloseTo(4, 9);
  });

  it('inverts mercator and tile corners', () => {
    for (const [lon, lat] of [[117.069, 28.26], [-122.4194, 37.7749], [0, 0], [179.9, -60]] as const) {
      const [x, y] = mercator(lon, lat);
      expect(close(inverseMercator(x, y), [lon, lat], 1e-9)).toBe(true);
    }
    expect(close(tileToLonLat(0, 0, 0), [-180, 85.0511287798066], 1e-9)).toBe(true);
    expect(close(tileToLonLat(1, 1, 1), [0, 0], 1e-9)).toBe(true);
    const [lon, lat] = tileToLonLat(1689, 856, 11);
    const t = lonLatToTile(lon, lat, 11);
    expect(close([t.x, t.y], [1689, 856], 1e-7)).toBe(true);
  });

  it('chooses the zoom whose tiles are drawn nearest 256 px', () => {
    expect(zoomFor(1, 0, 18)).toBe(0);
    expect(zoomFor(2048, 0, 18)).toBe(11);
    expect(zoomFor(2048 * 1.4, 0, 18)).toBe(11);
    expect(zoomFor(2048 * 1.5, 0, 18)).toBe(12);
    expect(zoomFor(2048, 3, 10)).toBe(10);
    expect(zoomFor(0.01, 3, 18)).toBe(3);
    expect(zoomFor(Number.NaN, 3, 18)).toBe(3);
  });

  it('covers a box of world pixels with the tiles it touches, inside the world', () => {
    // At zoom 2 a tile is 64 world pixels.
    expect(tileRange([10, 70, 130, 127], 2)).toEqual({ z: 2, x0: 0, x1: 2, y0: 1, y1: 1 });
    // Ending exactly on an edge does not take the next tile.
    expect(tileRange([64, 64, 128, 128], 2)).toEqual({ z: 2, x0: 1, x1: 1, y0: 1, y1: 1 });
    // Beyond the world is clamped; outside it entirely is nothing.
    expect(tileRange([-50, -50, 300, 300], 1)).toEqual({ z: 1, x0: 0, x1: 1, y0: 0, y1: 1 });
    expect(tileRange([300, 10, 400, 20], 3)).toBeNull();
    expect(tileRange([10, 10, 10, 20], 3)).toBeNull();
    expect(tileRange([Number.NaN, 0, 1, 1], 3)).toBeNull();
    // Yingtan's bounding box at zoom 11: the columns and rows it spans.
    const [ax, ay] = mercator(116.69, 28.03);
    const [bx, by] = mercator(117.53, 28.69);
    expect(tileRange([ax, by, bx, ay], 11)).toEqual({ z: 11, x0: 1687, x1: 1692, y0: 853, y1: 857 });
  });

  it('fills URL templates, {s} by position and {-y} counted from the south', () => {
    expect(tileUrl('https://t.example.cn/{z}/{x}/{y}.png', '', 11, 1690, 856)).toBe('https://t.example.cn/11/1690/856.png');
    expect(tileUrl('https://{s}.t.cn/{z}/{x}/{y}.png', 'abc', 3, 1, 1)).toBe('https://c.t.cn/3/1/1.png');
    expect(tileUrl('https://{s}.t.cn/{z}/{x}/{y}.png', 'abc', 3, 1, 2)).toBe('https://a.t.cn/3/1/2.png');
    expect(tileUrl('https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}', '1234', 11, 1690, 856)).toBe(
      'https://webrd03.is.autonavi.com/appmaptile?style=8&x=1690&y=856&z=11',
    );
    expect(tileUrl('http://h/tms/{z}/{x}/{-y}.png', '', 2, 1, 0)).toBe('http://h/tms/2/1/3.png');
    // The same tile always comes from the same host (it stays cached).
    expect(tileUrl('https://{s}.t/{z}/{x}/{y}', 'ab', 5, 7, 9)).toBe(tileUrl('https://{s}.t/{z}/{x}/{y}', 'ab', 5, 7, 9));
  });
});

describe('placing tiles in a view', () => {
  // A view showing world pixels 200…201 × 100…100.5 on 1024×512 screen pixels.
  const a = { sx: 1024, sy: 1024, tx: -200 * 1024, ty: -100 * 1024 };

  it('finds the affine map through two points and the box a view shows', () => {
    const b = affineFrom([200, 100], [0, 0], [201, 100.5], [1024, 512]);
    expect(b).toEqual(a);
    expect(visibleWorld(a, 1024, 512)).toEqual([200, 100, 201, 100.5]);
    expect(affineFrom([1, 1], [0, 0], [1, 2], [5, 5])).toBeNull();
    expect(affineFrom([1, 1], [5, 5], [2, 2], [0, 0])).toBeNull();
  });

  it('places tiles edge to edge at the zoom for the scale', () => {
    const v = tilesForView(a, 1024, 512, { min_zoom: 3, max_zoom: 18 });
    // 1024 screen px per world px → zoom 10, tiles of 256 px.
    expect(v.z).toBe(10);
    expect(v.tiles.map((t) => t.key)).toEqual(
      [400, 401].flatMap((y) => [800, 801, 802, 803].map((x) => `10/${x}/${y}`)),
    );
    for (const t of v.tiles) {
      expect([t.width, t.height]).toEqual([256, 256]);
      expect(t.left).toBe((t.x - 800) * 256);
      expect(t.top).toBe((t.y - 400) * 256);
    }
    // A display scale (the big screen on a 4K wall) takes the next zoom.
    expect(tilesForView(a, 1024, 512, { min_zoom: 3, max_zoom: 18 }, 2).z).toBe(11);
    // Clamped to max_zoom, the tiles are drawn larger.
    const big = tilesForView(a, 1024, 512, { min_zoom: 3, max_zoom: 9 });
    expect(big.z).toBe(9);
    expect(big.tiles[0]!.width).toBe(512);
  });

  it('rounds edges so neighbours meet without seams', () => {
    const odd = { sx: 1000.3, sy: 1000.3, tx: -200.17 * 1000.3, ty: -100.11 * 1000.3 };
    const t1 = placeTile(odd, 10, 800, 801);
    const t2 = placeTile(odd, 10, 801, 801);
    expect(t1.left + t1.width).toBe(t2.left);
  });

  it('draws no tiles when a view would need too many', () => {
    // The whole world at a server whose lowest zoom is 12.
    const world = { sx: 4, sy: 4, tx: 0, ty: 0 };
    const v = tilesForView(world, 1024, 1024, { min_zoom: 12, max_zoom: 18 });
    expect(v.z).toBe(12);
    expect(v.tiles).toEqual([]);
    expect(MAX_TILES).toBeGreaterThanOrEqual(100);
  });
});

const TILES: MapTiles = {
  url: 'http://127.0.0.1:9/{z}/{x}/{y}.png',
  subdomains: '',
  crs: 'gcj02',
  attribution: '测试瓦片',
  min_zoom: 3,
  max_zoom: 18,
};

describe('the map option with and without tiles', () => {
  const square = { type: 'Polygon' as const, coordinates: [[[117, 28.2], [117.1, 28.2], [117.1, 28.3], [117, 28.3], [117, 28.2]]] };
  const input = {
    mapName: 'm',
    fc: { type: 'FeatureCollection' as const, features: [{ type: 'Feature' as const, properties: { code: '360602', name: '月湖区' }, geometry: square }] },
    values: new Map([['360602', 3]]),
    metricLabel: '在办案件',
    unit: '件',
  };

  it('is unchanged without tiles: no projection, opaque fills', () => {
    const o = areaMapOption(input);
    expect(o.geo).not.toHaveProperty('projection');
    expect(o.geo.itemStyle.areaColor).toBe(THEME.areaFill);
    expect(o.visualMap.inRange.color).toEqual([...THEME.ramp]);
    expect(JSON.stringify(areaMapOption({ ...input, tiles: null }))).toBe(JSON.stringify(o));
    const geo = { map: 'x', itemStyle: { areaColor: '#0c2a57' } };
    expect(tiledGeo(geo, null)).toBe(geo);
  });

  it('projects to Web Mercator through GCJ-02 and lets the tiles show through', () => {
    const o = areaMapOption({ ...input, tiles: TILES }) as ReturnType<typeof areaMapOption> & {
      geo: { projection: ReturnType<typeof tileProjection> };
    };
    const p = o.geo.projection.project([117.069, 28.26]);
    const [gx, gy] = wgs84ToGcj02(117.069, 28.26);
    expect(p).toEqual(mercator(gx, gy));
    expect(close(o.geo.projection.unproject(p), [117.069, 28.26], 1e-9)).toBe(true);
    expect(o.geo.itemStyle.areaColor).toBe(withAlpha(THEME.areaFill, FILL_ALPHA_OVER_TILES));
    expect(o.geo.itemStyle.borderColor).toBe(THEME.areaBorder);
    expect(o.geo.emphasis.itemStyle.areaColor).toBe(withAlpha('#2a7de1', FILL_ALPHA_OVER_TILES));
    expect(o.visualMap.inRange.color).toEqual(THEME.ramp.map((c) => withAlpha(c, FILL_ALPHA_OVER_TILES)));
    expect(withAlpha('#0c2a57', 0.45)).toBe('rgba(12, 42, 87, 0.45)');
    // WGS-84 tiles: plain Web Mercator.
    const w = tiledGeo({ map: 'x' }, { ...TILES, crs: 'wgs84' }) as unknown as { projection: ReturnType<typeof tileProjection> };
    expect(w.projection.project([117.069, 28.26])).toEqual(mercator(117.069, 28.26));
  });

  it('aligns tiles with what ECharts draws (convertToPixel through the projection)', () => {
    echarts.use([MapChart, GeoComponent, SVGRenderer]);
    echarts.registerMap('tiles-test', input.fc as unknown as Parameters<typeof echarts.registerMap>[1]);
    const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: 800, height: 600 });
    chart.setOption({
      animation: false,
      geo: tiledGeo({ map: 'tiles-test', layoutCenter: ['50%', '50%'], layoutSize: '90%', itemStyle: { areaColor: '#0c2a57' } }, TILES),
    });
    const toPixel = (p: number[]) => chart.convertToPixel({ geoIndex: 0 }, p) as number[];
    const { project, unproject } = tileProjection('gcj02');
    const a = viewAffine(toPixel, project)!;
    expect(a).not.toBeNull();
    // Web Mercator keeps its aspect: one scale for both axes.
    expect(a.sy / a.sx).toBeCloseTo(1, 9);
    // Any of our points is drawn where the affine puts its tile-space position.
    for (const [lon, lat] of [[117.0, 28.2], [117.1, 28.3], [117.069, 28.26], [117.03, 28.27]]) {
      const [wx, wy] = project([lon, lat]);
      const px = toPixel([lon, lat]);
      expect(close(px, [a.sx * wx! + a.tx, a.sy * wy! + a.ty], 1e-6), `${lon},${lat}`).toBe(true);
      // And a pixel goes back to the lon/lat drawn there (a tap on the report map).
      expect(close(lonLatAt(a, unproject, px), [lon, lat], 1e-9), `${lon},${lat} back`).toBe(true);
    }
    // The map is drawn inside the view, north up.
    const [x0, y0] = toPixel([117.0, 28.3]);
    const [x1, y1] = toPixel([117.1, 28.2]);
    expect(x0).toBeGreaterThan(0);
    expect(y0).toBeGreaterThan(0);
    expect(x1).toBeLessThan(800);
    expect(y1).toBeLessThan(600);
    // The tile under 月湖区's centre holds that point at its fractional position.
    const v = tilesForView(a, 800, 600, TILES);
    const [gx, gy] = wgs84ToGcj02(117.069, 28.26);
    const t = lonLatToTile(gx, gy, v.z);
    const tile = v.tiles.find((p) => p.x === Math.floor(t.x) && p.y === Math.floor(t.y))!;
    expect(tile).toBeDefined();
    const px = toPixel([117.069, 28.26]);
    expect(Math.abs(tile.left + (t.x - tile.x) * tile.width - px[0]!)).toBeLessThan(1);
    expect(Math.abs(tile.top + (t.y - tile.y) * tile.height - px[1]!)).toBeLessThan(1);
    chart.dispose();
  });
});

describe('usableTiles', () => {
  it('accepts what the server answers and refuses what it could not draw', () => {
    expect(usableTiles(TILES)).toEqual(TILES);
    expect(usableTiles(null)).toBeNull();
    expect(usableTiles({ ...TILES, url: 'ftp://x/{z}/{x}/{y}' })).toBeNull();
    expect(usableTiles({ ...TILES, url: 'http://x/{z}/{x}.png' })).toBeNull();
    expect(usableTiles({ ...TILES, url: 'http://x/{z}/{x}/{-y}.png' })).not.toBeNull();
    expect(usableTiles({ ...TILES, url: 'http://{s}.x/{z}/{x}/{y}.png' })).toBeNull();
    expect(usableTiles({ ...TILES, crs: 'bd09' })).toBeNull();
    expect(usableTiles({ ...TILES, min_zoom: 12, max_zoom: 4 })).toBeNull();
    expect(usableTiles({ ...TILES, attribution: undefined })?.attribution).toBe('');
  });
});
