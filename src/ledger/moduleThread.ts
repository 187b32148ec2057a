// Starts a module of src/ledger/ in a worker thread: through tsx when running from source (tests,
// the benchmarks, the demo), else the built file itself. In verify.mjs, which esbuild makes of the
// verifier's modules, import.meta.url is verify.mjs: the thread runs the whole file, and the module
// that asked recognises its role in workerData.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

export function startModuleThread(moduleUrl: string, workerData: unknown): Worker {
  if (path.extname(fileURLToPath(moduleUrl)) !== ".ts") return new Worker(new URL(moduleUrl), { workerData });
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  return new Worker(`import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(moduleUrl)}); });`, { eval: true, workerData });
}
