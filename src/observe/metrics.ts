// Where stages, the ledger, identify and approvals reach the metrics: `metrics()?.…` is one
// undefined check while metrics are off, so the data path pays nothing for them, and prom-client
// (registry.ts) is loaded only when they are turned on.
import type { GatewayMetrics } from "./registry.js";

export type { GatewayMetrics } from "./registry.js";

let current: GatewayMetrics | undefined;

/** The process's metrics, or undefined while they are off. */
export function metrics(): GatewayMetrics | undefined {
  return current;
}

/** Turns metrics on for this process (idempotent: one registry however many gateways start). */
export async function enableMetrics(): Promise<GatewayMetrics> {
  current ??= new (await import("./registry.js")).GatewayMetrics();
  return current;
}
