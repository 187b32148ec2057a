// What a user installs: `npm pack`, the tarball installed into an empty folder that cannot reach
// this checkout, then started with the README's minimal configuration in front of the real
// LangGraph server, called through the official SDK, and audited with the installed CLI.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client } from "@langchain/langgraph-sdk";
import semver from "semver";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { freePort } from "../support/ports.js";
import { startLangGraph, type Upstream } from "../support/stack.js";

const run = promisify(execFile);
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const manifest = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string; engines: { node: string }; devDependencies: Record<string, string> };
/** Development-only packages: the demo server and graphs, the demo IdP, build tools. */
const NOT_AT_RUNTIME = ["@langchain/langgraph-api", "@langchain/langgraph", "@langchain/core", "@langchain/openai", "openai", "oidc-provider", "tsx", "esbuild", "typescript", "@opentelemetry/sdk-trace-base"];

let work: string;
let app: string;
let installLog: string;
let upstream: Upstream;
let gateway: ChildProcess | undefined;

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), "portcullis-package-"));
  app = path.join(work, "app");
  // prepack builds dist/ first, as `npm publish` would.
  const packed = await run("npm", ["pack", "--silent", "--pack-destination", work], { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
  const tarball = path.join(work, packed.stdout.trim().split("\n").pop()!);
  await run("mkdir", ["-p", app]);
  await writeFile(path.join(app, "package.json"), JSON.stringify({ name: "portcullis-user", private: true }));
  const installed = await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=warn", tarball], { cwd: app, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: "false" } });
  installLog = `${installed.stdout}\n${installed.stderr}`;
  upstream = await startLangGraph();
});

after(async () => {
  gateway?.kill("SIGTERM");
  await upstream?.stop();
  await rm(work, { recursive: true, force: true });
});

const portcullis = (args: string[], env: Record<string, string> = {}) =>
  run(path.join(app, "node_modules/.bin/portcullis"), args, { cwd: app, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 });

/** Every package folder of the installed tree, nested ones included. */
function installedPackages(dir: string): Array<{ name: string; version: string; engines?: { node?: string } }> {
  const found: Array<{ name: string; version: string; engines?: { node?: string } }> = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const folder = path.join(dir, entry.name);
    if (entry.name.startsWith("@")) {
      found.push(...installedPackages(folder));
      continue;
    }
    const file = path.join(folder, "package.json");
    if (existsSync(file)) found.push(JSON.parse(readFileSync(file, "utf8")) as { name: string; version: string; engines?: { node?: string } });
    if (existsSync(path.join(folder, "node_modules"))) found.push(...installedPackages(path.join(folder, "node_modules")));
  }
  return found;
}

describe("the packed package", () => {
  test("installs the gateway alone: no demo server, demo IdP or build tools, and no engine warning", () => {
    const names = new Set(installedPackages(path.join(app, "node_modules")).map((p) => p.name));
    assert.ok(names.has("portcullis") && names.has("better-sqlite3"));
    for (const name of NOT_AT_RUNTIME) assert.ok(!names.has(name), `${name} is installed with the package`);
    assert.doesNotMatch(installLog, /EBADENGINE/);
  });

  test("every installed package's engines cover every Node version the package claims", () => {
    const claim = manifest.engines.node;
    const narrower = installedPackages(path.join(app, "node_modules"))
      .filter((p) => p.engines?.node && !semver.subset(claim, p.engines.node))
      .map((p) => `${p.name}@${p.version} (${p.engines!.node})`);
    assert.deepEqual(narrower, [], `dependencies whose engines exclude part of ${claim}`);
    assert.ok(semver.satisfies(process.version, claim), `the Node running the tests (${process.version}) is one the package claims`);
  });

  test("ships compiled JavaScript, the default policy and the built evidence verifier", async () => {
    const root = path.join(app, "node_modules/portcullis");
    assert.ok(existsSync(path.join(root, "dist/src/cli/main.js")));
    assert.ok(existsSync(path.join(root, "policies/default.yaml")));
    assert.ok(existsSync(path.join(root, "LICENSE")));
    assert.ok(!existsSync(path.join(root, "src")), "TypeScript sources are not shipped");
    assert.ok(!existsSync(path.join(root, "demo")), "the demo is not shipped");
    const { stdout: version } = await portcullis(["--version"]);
    assert.equal(version.trim(), manifest.version);
    await assert.rejects(portcullis(["demo"]), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr, /not part of the installed package.*npm install && npm start/);
      return true;
    });
  });

  test("starts with the README's minimal config, serves the SDK, and its verify and export accept the ledger", async () => {
    const readme = await readFile(path.join(REPO, "README.md"), "utf8");
    const minimal = /A minimal `portcullis\.yaml`[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme);
    assert.ok(minimal, "the README shows a minimal portcullis.yaml");
    const config = parseYaml(minimal[1]!) as { listen: { host: string; port: number }; upstream: { url: string; credential: { secret: { env: string } } }; identity: { service_accounts: Array<{ id: string; key_sha256: string }> } };
    const { key, sha256 } = generateApiKey();
    config.listen = { host: "127.0.0.1", port: await freePort() };
    config.upstream.url = upstream.url;
    config.identity.service_accounts[0]!.key_sha256 = sha256;
    const configFile = path.join(app, "portcullis.yaml");
    await writeFile(configFile, toYaml(config));
    const env = { [config.upstream.credential.secret.env]: upstream.key };

    const checked = await portcullis(["config", "check", "--config", configFile], env);
    assert.match(checked.stdout, /is valid; checked: policy \(built-in default\)/);
    // Without its secret the check fails and names it, before any file is created.
    await assert.rejects(portcullis(["config", "check", "--config", configFile]), /LANGGRAPH_API_KEY is not set/);
    await assert.rejects(portcullis(["start", "--config", configFile]), /LANGGRAPH_API_KEY is not set/);
    assert.ok(!existsSync(path.join(app, ".portcullis")), "a refused start creates no file");
    // Tracing's OpenTelemetry packages are optional peers: asking for tracing without them is a
    // clear refusal that says what to install.
    const tracingFile = path.join(app, "tracing.yaml");
    await writeFile(tracingFile, toYaml({ ...config, observability: { tracing: { enabled: true, otlp_endpoint: "http://127.0.0.1:4318/v1/traces" } } }));
    await assert.rejects(portcullis(["config", "check", "--config", tracingFile], env), /OpenTelemetry packages are not installed.*npm install @opentelemetry\/api/s);

    gateway = spawn(path.join(app, "node_modules/.bin/portcullis"), ["start", "--config", configFile], { cwd: app, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      gateway!.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const listening = /"url":"([^"]+)"[^\n]*"msg":"portcullis listening"/.exec(out);
        if (listening) resolve(listening[1]!);
      });
      gateway!.once("exit", (code) => reject(new Error(`the installed gateway exited with ${code}: ${out}`)));
    });
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);

    const client = new Client({ apiUrl: url, apiKey: key });
    const thread = await client.threads.create();
    const result = (await client.runs.wait(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: "hello from the package" }] } })) as { messages: Array<{ content: unknown }> };
    assert.ok(result.messages.length >= 2, "the agent answered through the installed gateway");
    gateway.kill("SIGTERM");
    await new Promise((resolve) => gateway!.once("exit", resolve));
    gateway = undefined;

    const verified = await portcullis(["verify", "--config", configFile], env);
    assert.match(verified.stdout, /valid/i);
    const bundle = path.join(work, "evidence");
    await portcullis(["export", "--config", configFile, "--out", bundle], env);
    const offline = await run(process.execPath, [path.join(bundle, "verify.mjs"), bundle], { cwd: work });
    assert.match(offline.stdout, /valid/i);
    // The bundle's verifier is the release's: the same bytes, named by hash in the manifest.
    const shipped = createHash("sha256").update(await readFile(path.join(app, "node_modules/portcullis/dist/verify.mjs"))).digest("hex");
    const bundled = JSON.parse(await readFile(path.join(bundle, "manifest.json"), "utf8")) as { verifier: { sha256: string; portcullis_version: string } };
    assert.deepEqual(bundled.verifier, { path: "verify.mjs", portcullis_version: manifest.version, sha256: shipped });
  });
});
