// ECharts, tree-shaken to what our pages draw (keeps the bundle lean).

import { BarChart, EffectScatterChart, LineChart, LinesChart, MapChart, PieChart, ScatterChart } from 'echarts/charts';
import { GeoComponent, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([
  MapChart, ScatterChart, EffectScatterChart, BarChart, LineChart, LinesChart, PieChart,
  GeoComponent, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent, CanvasRenderer,
]);

export { echarts };
