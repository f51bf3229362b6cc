// The map settings of this server (GET /api/v1/map/config): the optional tile
// layer under the maps. Asked once per page; a failure means "no tiles", never
// a broken map.

import { type MapConfig, type MapTiles, usableTiles } from '../charts/tiles';
import { api } from './client';

let asked: Promise<MapTiles | null> | null = null;

/** The tile layer, or null when the server has none (or could not say). */
export function mapTiles(): Promise<MapTiles | null> {
  asked ??= api.get<MapConfig>('/api/v1/map/config').then(
    (c) => usableTiles(c?.tiles),
    (e: unknown) => {
      console.warn('map config unavailable, drawing maps without tiles', e);
      return null;
    },
  );
  return asked;
}
