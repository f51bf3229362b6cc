// Types and calls of the IoT API (/api/v1/devices, alarms, commands, rules,
// packs, iot/overview), as the OpenAPI document describes them.

import { type Query, api } from './client';
import type { Paged } from './types';

export interface GeoPoint {
  lon: number;
  lat: number;
}

export type DataType = 'int' | 'float' | 'bool' | 'string' | 'enum' | 'geo_point';

export interface PropertyDef {
  id: string;
  name: string;
  data_type: DataType;
  unit?: string | null;
  min?: number | null;
  max?: number | null;
  enum_values?: string[];
}

export interface CommandDef {
  id: string;
  name: string;
  params?: PropertyDef[];
}

export interface Device {
  id: string;
  name: string;
  product_key: string;
  owner_department: string;
  terminal_id?: string | null;
  location?: GeoPoint | null;
  component_id?: string | null;
  tags?: string[];
  armed?: boolean;
}

export interface LatestState {
  device_id: string;
  values: Record<string, unknown>;
  last_seen: string;
  online: boolean;
  location?: GeoPoint | null;
}

export interface DeviceItem {
  device: Device;
  has_credential: boolean;
  latest?: LatestState | null;
  may_command: boolean;
  online: boolean;
}

export interface DeviceDetail extends DeviceItem {
  product_name?: string | null;
  commands: CommandDef[];
  properties: PropertyDef[];
}

export interface CreatedDevice {
  device: DeviceItem;
  secret?: string | null;
  token?: string | null;
}

export interface TelemetryBucket {
  start: string;
  property: string;
  count: number;
  avg: number;
  min: number;
  max: number;
  last: number;
}

export interface History {
  device_id: string;
  from: string;
  to: string;
  bucket?: number | null;
  samples: Record<string, unknown>[];
  buckets: TelemetryBucket[];
}

/** A GeoJSON Feature with a LineString (GET /devices/{id}/track). */
export interface TrackFeature {
  type: 'Feature';
  geometry: { type: 'LineString'; coordinates: number[][] } | null;
  properties?: Record<string, unknown> | null;
}

export type AlarmState = 'active' | 'acknowledged' | 'cleared';

export interface Alarm {
  id: string;
  key: { device_id: string; rule_id: string; subject?: string | null };
  type: string;
  level: string;
  state: AlarmState;
  first_at: string;
  last_at: string;
  count: number;
  value?: unknown;
  location?: GeoPoint | null;
  message: string;
  component_id?: string | null;
  acknowledged_by?: string;
  cleared_at?: string;
  clear_reason?: { by: string; user?: string } | null;
}

export interface AlarmItem {
  alarm: Alarm;
  case_id?: number | null;
  device_id: string;
  device_name?: string | null;
  owner_department: string;
  updated_at: string;
}

export type CommandStatus = 'queued' | 'sent' | 'acknowledged' | 'failed' | 'timed_out';

export interface CommandRecord {
  id: number;
  device_id: string;
  command: string;
  params: Record<string, unknown>;
  actor: string;
  status: CommandStatus;
  created_at: string;
  deadline_at: string;
  sent_at?: string | null;
  finished_at?: string | null;
  error?: string | null;
}

export interface RuleSetVersion {
  version: number;
  created_by: string;
  created_at?: string | null;
  note?: string | null;
  rule_count: number;
  rule_set?: { format_version?: number; rules?: Record<string, unknown>[] } | null;
}

export interface PackItem {
  key: string;
  name: string;
  description: string;
  enabled: boolean;
  products: string[];
  rules: number;
  alarm_types: string[];
}

export interface ProductOnline {
  product_key: string;
  name?: string | null;
  total: number;
  online: number;
  online_rate: number;
}

export interface IotOverview {
  devices_total: number;
  devices_online: number;
  online_rate: number;
  by_product: ProductOnline[];
  alarms_open: number;
  alarms_open_by_type: { alarm_type: string; open: number }[];
  components_total: number;
  components_connected: number;
  components_share: number;
  matter_classes_total: number;
  matter_classes_connected: number;
  matter_classes_share: number;
}

export interface Product {
  key: string;
  name: string;
  protocol: string;
}

const enc = encodeURIComponent;

export const iot = {
  devices: (query: Query, cursor?: string | null, limit = 50) => api.page<DeviceItem>('/api/v1/devices', query, cursor, limit),
  device: (id: string) => api.get<DeviceDetail>(`/api/v1/devices/${enc(id)}`),
  products: () => api.get<Product[]>('/api/v1/products'),
  telemetry: (id: string, from: string, to: string, bucket: number) =>
    api.get<History>(`/api/v1/devices/${enc(id)}/telemetry`, { from, to, bucket }),
  track: (id: string, from: string, to: string) => api.get<TrackFeature>(`/api/v1/devices/${enc(id)}/track`, { from, to }),
  alarms: (query: Query, cursor?: string | null, limit = 50) => api.page<AlarmItem>('/api/v1/alarms', query, cursor, limit),
  acknowledge: (id: string) => api.post<AlarmItem>(`/api/v1/alarms/${enc(id)}/acknowledge`),
  clear: (id: string) => api.post<AlarmItem>(`/api/v1/alarms/${enc(id)}/clear`),
  send: (id: string, command: string, params: Record<string, unknown>) =>
    api.post<CommandRecord>(`/api/v1/devices/${enc(id)}/commands`, { command, params }),
  command: (id: number) => api.get<CommandRecord>(`/api/v1/commands/${id}`),
  commands: (id: string, limit = 20) => api.page<CommandRecord>(`/api/v1/devices/${enc(id)}/commands`, {}, null, limit),
  rules: () => api.get<RuleSetVersion>('/api/v1/rules'),
  versions: () => api.get<RuleSetVersion[]>('/api/v1/rules/versions'),
  packs: () => api.get<PackItem[]>('/api/v1/packs'),
  enablePack: (key: string) => api.post<unknown>(`/api/v1/packs/${enc(key)}/enable`),
  overview: () => api.get<IotOverview>('/api/v1/iot/overview'),
};

export type { Paged };
