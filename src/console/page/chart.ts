// The console's charts (uPlot): a line per series over time, sized to their container.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"];

export interface SeriesSpec {
  label: string;
  color: string;
  /** Scale key: series on another scale get a right-hand axis. */
  scale?: string;
  bars?: boolean;
}

export class TimeChart {
  private readonly plot: uPlot;
  private readonly columns: (number | null)[][];

  constructor(private readonly host: HTMLElement, series: SeriesSpec[], options: { height: number; keepSeconds?: number; unit?: string; rightUnit?: string; padSeconds?: number }) {
    const scales = [...new Set(series.map((s) => s.scale ?? "y"))];
    const axes: uPlot.Axis[] = [{ stroke: "#555" }, { stroke: "#555", scale: "y", label: options.unit, size: 56 }];
    if (scales.length > 1) axes.push({ stroke: "#555", scale: scales[1], side: 1, grid: { show: false }, label: options.rightUnit, size: 64 });
    this.columns = [[], ...series.map(() => [])];
    this.keepSeconds = options.keepSeconds ?? Infinity;
    this.plot = new uPlot(
      {
        width: this.width(),
        height: options.height,
        // Padded so bars at the edges show whole, and a single point is not spread over years.
        scales: { x: { time: true, range: (_u: uPlot, min: number, max: number) => [min - (options.padSeconds ?? 0), max + (options.padSeconds ?? 0)] as [number, number] }, ...Object.fromEntries(scales.map((k) => [k, { range: (_u: uPlot, _min: number, max: number) => [0, Math.max(1, max * 1.1)] as [number, number] }])) },
        axes,
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            points: { show: false },
            scale: s.scale ?? "y",
            ...(s.bars ? { paths: uPlot.paths.bars!({ size: [0.6, 40] }), fill: `${s.color}55` } : {}),
          })),
        ],
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
      },
      this.columns as uPlot.AlignedData,
      host,
    );
    new ResizeObserver(() => this.plot.setSize({ width: this.width(), height: options.height })).observe(host);
  }

  private readonly keepSeconds: number;

  private width(): number {
    return Math.max(240, this.host.clientWidth || 600);
  }

  /** Replaces every point. */
  set(t: number[], values: (number | null)[][]): void {
    this.columns[0] = [...t];
    values.forEach((v, i) => (this.columns[i + 1] = [...v]));
    this.plot.setData(this.columns as uPlot.AlignedData);
  }

  /** Adds one point per series and drops the ones older than keepSeconds. */
  append(t: number, values: (number | null)[]): void {
    this.columns[0]!.push(t);
    values.forEach((v, i) => this.columns[i + 1]!.push(v));
    while (this.columns[0]!.length && this.columns[0]![0]! < t - this.keepSeconds) for (const c of this.columns) c.shift();
    this.plot.setData(this.columns as uPlot.AlignedData);
  }
}
