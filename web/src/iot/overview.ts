// /api/v1/iot/overview → the big screen's IoT KPI cards; alarm labels.

import type { IotOverview } from '../api/iot';
import type { Kpi } from '../charts/kpi';

const pct = (share: number) => (Number.isFinite(share) ? share * 100 : null);

/**
 * The IoT cards: devices online, online rate, share of component classes and
 * matter classes connected. Rates are shares (0..1) in the API, percents here;
 * a rate over an empty whole is not shown (null), never faked as 0 %.
 */
export function iotKpis(o: IotOverview): Kpi[] {
  return [
    { key: 'devices_online', label: '在线设备', value: o.devices_online, unit: '台', hint: `共 ${o.devices_total} 台` },
    { key: 'online_rate', label: '设备在线率', value: o.devices_total ? pct(o.online_rate) : null, unit: '%', hint: `${o.devices_online} / ${o.devices_total}` },
    {
      key: 'components_rate', label: '部件接入率', value: o.components_total ? pct(o.components_share) : null, unit: '%',
      hint: `有设备监测的部件 ${o.components_connected} / ${o.components_total}`,
    },
    {
      key: 'matters_rate', label: '事件类接入率', value: o.matter_classes_total ? pct(o.matter_classes_share) : null, unit: '%',
      hint: `可由告警立案的事件小类 ${o.matter_classes_connected} / ${o.matter_classes_total}`,
    },
    { key: 'alarms_open', label: '未结告警', value: o.alarms_open, unit: '条' },
  ];
}

export const ALARM_STATE_ZH: Record<string, string> = { active: '告警中', acknowledged: '已确认', cleared: '已解除' };
export const ALARM_LEVEL_ZH: Record<string, string> = { info: '提示', minor: '一般', major: '重要', critical: '紧急' };
export const ALARM_CHANGE_ZH: Record<string, string> = { raised: '新告警', updated: '告警更新', acknowledged: '告警已确认', cleared: '告警解除' };
