// `npm run build`: compiles src/ to dist/src/ (tsc), copies the console's static assets beside
// the compiled console, and bundles the standalone evidence verifier into dist/verify.mjs once,
// so that every evidence bundle carries the same file, whose sha256 an auditor can compare with
// the release's.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const require = createRequire(import.meta.url);

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" });
cpSync(path.join(root, "src/console/assets"), path.join(dist, "src/console/assets"), { recursive: true });

const verifier = await build({
  entryPoints: [path.join(root, "src/ledger/standaloneVerifier.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  write: false,
  legalComments: "none",
  banner: { js: "#!/usr/bin/env node\n// Portcullis evidence verifier: node verify.mjs [bundle dir]. Needs only Node.js 20+." },
});
const verifierFile = path.join(dist, "verify.mjs");
writeFileSync(verifierFile, verifier.outputFiles[0].contents, { mode: 0o755 });
const version = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version;
const sha256 = createHash("sha256").update(readFileSync(verifierFile)).digest("hex");
process.stdout.write(`built portcullis ${version} in dist/ (verify.mjs sha256 ${sha256})\n`);
