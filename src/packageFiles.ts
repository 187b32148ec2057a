// Files the package ships beside its code: the default policy, the evidence verifier built at
// release time, and the package's own version. They are found from the package root, which is
// one folder above this module in a checkout (src/) and two in the build (dist/src/).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** The standalone verifier each evidence bundle carries (`npm run build` writes it). */
export const BUILT_VERIFIER_FILE = path.join(PACKAGE_ROOT, "dist", "verify.mjs");

export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "portcullis") return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the portcullis package root above ${from}`);
  }
}
