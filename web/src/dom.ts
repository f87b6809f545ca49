// Small DOM helpers.

/** The element with `id`; throws naming it when the page lacks it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`console markup lacks #${id}`);
  return element as T;
}

export function svgById(id: string): SVGSVGElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`console markup lacks #${id}`);
  return element as unknown as SVGSVGElement;
}

/** Milliseconds for people: 0.42 ms, 12.3 ms, 1.24 s. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (!bytes || !Number.isFinite(bytes)) return "–";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function clockTime(date = new Date()): string {
  return date.toTimeString().slice(0, 8);
}

/** Points of a polyline through `values`, scaled into a `width` x `height` box. */
export function sparkPoints(values: number[], width: number, height: number, pad = 2): string {
  if (values.length === 0) return "";
  const max = Math.max(...values, 0.001);
  const step = values.length > 1 ? (width - pad * 2) / (values.length - 1) : 0;
  return values
    .map((value, index) => {
      const x = values.length > 1 ? pad + index * step : width / 2;
      const y = height - pad - (value / max) * (height - pad * 2);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
}

const SVG = "http://www.w3.org/2000/svg";

export function drawSparkline(svg: SVGSVGElement, values: number[], width: number, height: number): void {
  svg.replaceChildren();
  if (values.length === 0) return;
  const points = sparkPoints(values, width, height);
  const area = document.createElementNS(SVG, "polygon");
  const first = points.split(" ")[0]?.split(",")[0] ?? "0";
  const last = points.split(" ").at(-1)?.split(",")[0] ?? String(width);
  area.setAttribute("points", `${first},${height} ${points} ${last},${height}`);
  area.setAttribute("class", "spark-area");
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points);
  line.setAttribute("class", "spark-line");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(area, line);
}

/** Errors as one line for people. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}

export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
