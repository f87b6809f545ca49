// The monitor tab and the status bar's figures: the round trips of the SDK's pings, the server's
// figures (`client.stats()`, operator keys only) and the connection log.
import { RunnelError } from "@runnel/client";
import type { ConnectionState, LatencyStats, RunnelClient, Stats } from "@runnel/client";
import { byId, svgById, clockTime, drawSparkline, formatDuration, formatMs } from "./dom.ts";

export type LogKind = "info" | "ok" | "warn" | "error";

export class MonitorView {
  private readonly el = {
    state: byId("monitor-state"),
    latCurrent: byId("lat-current"),
    latAverage: byId("lat-average"),
    latMinMax: byId("lat-minmax"),
    latThroughput: byId("lat-throughput"),
    latCount: byId("lat-count"),
    sparkline: svgById("sparkline"),
    sparkValues: byId("spark-values"),
    miniSpark: svgById("mini-spark"),
    statExecutions: byId("stat-executions"),
    statRunning: byId("stat-running"),
    statLanguages: byId("stat-languages"),
    statConnections: byId("stat-connections"),
    statSessions: byId("stat-sessions"),
    statUptime: byId("stat-uptime"),
    reconnectCount: byId("reconnect-count"),
    connLog: byId<HTMLOListElement>("conn-log"),
    statusPing: byId("status-ping"),
    statusStats: byId("status-stats"),
    serverVersion: byId("server-version"),
  };
  private reconnects = 0;

  /** One line of the connection log, newest first (the last 60 are kept). */
  log(text: string, kind: LogKind = "info"): void {
    const item = document.createElement("li");
    item.className = `log-${kind}`;
    const time = document.createElement("time");
    time.textContent = clockTime();
    const body = document.createElement("span");
    body.textContent = text;
    item.append(time, body);
    this.el.connLog.prepend(item);
    while (this.el.connLog.children.length > 60) this.el.connLog.lastElementChild?.remove();
  }

  /** The connection badge of the monitor tab. */
  showState(state: ConnectionState | "offline", label: string): void {
    this.el.state.dataset.state = state;
    this.el.state.textContent = label;
  }

  /** The client reconnected after `attempt` attempts. */
  reconnected(attempt: number): void {
    this.reconnects += 1;
    this.el.reconnectCount.textContent = `${this.reconnects} reconnect${this.reconnects === 1 ? "" : "s"}`;
    this.log(`reconnected after ${attempt} attempt${attempt === 1 ? "" : "s"}`, "ok");
  }

  showLatency(stats: LatencyStats): void {
    const el = this.el;
    el.latCurrent.textContent = formatMs(stats.current);
    el.latAverage.textContent = formatMs(stats.average);
    el.latMinMax.textContent =
      stats.min === null || stats.max === null ? "–" : `${short(stats.min)} / ${short(stats.max)}`;
    el.latThroughput.textContent = `${stats.messagesPerSecond.toFixed(0)} msg/s`;
    el.latCount.textContent = `${stats.count} ping${stats.count === 1 ? "" : "s"}`;
    el.latCount.dataset.count = String(stats.count);
    el.statusPing.textContent = formatMs(stats.current);
    drawSparkline(el.sparkline, stats.history, 300, 60);
    drawSparkline(el.miniSpark, stats.history, 60, 14);
    el.sparkValues.replaceChildren(
      ...stats.history.map((value) => {
        const span = document.createElement("span");
        span.textContent = short(value);
        return span;
      }),
    );
  }

  /** Read the server's figures with `client`'s key (none without a key). */
  async refreshStats(client: RunnelClient | null): Promise<void> {
    if (!client) return;
    let stats: Stats;
    try {
      stats = await client.stats();
    } catch (error) {
      if (error instanceof RunnelError && error.status === 403) {
        // Server-wide figures show every tenant's activity: only operator keys may read them.
        this.el.statusStats.textContent = "server figures need an operator key";
      }
      // Otherwise offline, or the key is refused: the connection state already says so.
      return;
    }
    this.showStats(stats);
  }

  private showStats(stats: Stats): void {
    const el = this.el;
    el.statExecutions.textContent = stats.executions.toLocaleString("en-US");
    el.statRunning.textContent = String(stats.running);
    el.statLanguages.textContent = String(stats.languages);
    el.statConnections.textContent = String(stats.connections);
    el.statSessions.textContent = String(stats.sessions);
    el.statUptime.textContent = formatDuration(stats.uptime_seconds);
    el.serverVersion.textContent = `v${stats.version}`;
    el.statusStats.textContent = `${stats.executions.toLocaleString("en-US")} runs · ${stats.languages} languages · up ${formatDuration(stats.uptime_seconds)}`;
  }
}

/** A round trip in ms without its unit, short enough for a card. */
function short(ms: number): string {
  return ms < 10 ? ms.toFixed(1) : ms.toFixed(0);
}
