// Token verification cost with a warm JWKS cache, against the service-account key check
// (one SHA-256 and a map lookup) measured in the same run.
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { parseConfig } from "../src/config/load.js";
import { OidcBearerVerifier } from "../src/identify/oidc.js";
import { BrowserSessions } from "../src/authenticate/sessions.js";
import { openStateFile, sqliteStores } from "../src/stateStores.js";
import { generateApiKey, ServiceAccountKeys } from "../src/identify/serviceAccounts.js";

const ITERATIONS = Number(process.env.BENCH_TOKENS ?? "20000");
const AUDIENCE = "https://portcullis.bench";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(label: string, run: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < 2000; i += 1) await run(i); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS; i += 1) {
    const started = performance.now();
    await run(i);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const p50 = percentile(samples, 50);
  console.log(`  ${label.padEnd(34)} p50 ${(p50 * 1000).toFixed(1)} µs  p99 ${(percentile(samples, 99) * 1000).toFixed(1)} µs`);
  return p50;
}

const algorithms = ["RS256", "ES256", "EdDSA"] as const;
const keys = await Promise.all(algorithms.map(async (alg) => ({ alg, ...(await generateKeyPair(alg)) })));
const jwks = { keys: await Promise.all(keys.map(async (k) => ({ ...(await exportJWK(k.publicKey)), kid: k.alg, alg: k.alg, use: "sig" }))) };
const server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks)));
server.listen(0, "127.0.0.1");
await once(server, "listening");
const jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;

const config = parseConfig({
  upstream: { url: "http://127.0.0.1:1" },
  identity: { oidc: { issuers: [{ id: "bench", issuer: "https://idp.bench", audiences: [AUDIENCE], jwks_uri: jwksUri, algorithms: [...algorithms] }] } },
});
const verifier = new OidcBearerVerifier(config.identity.oidc.issuers);

console.log(`Token verification, ${ITERATIONS} verifications each, warm JWKS cache (node ${process.version}):`);
const account = generateApiKey();
const serviceAccounts = new ServiceAccountKeys([{ id: "bench", key_sha256: account.sha256, groups: [] }]);
const baseline = await measure("service-account key (baseline)", () => serviceAccounts.identify(account.key));

// The state database on disk, as deployed (WAL): a CLI-made key, and a browser session cookie.
const { mkdtemp, rm } = await import("node:fs/promises");
const { tmpdir } = await import("node:os");
const stateDir = await mkdtemp(`${tmpdir()}/portcullis-bench-`);
const state = sqliteStores(openStateFile(`${stateDir}/state.db`));
const stored = generateApiKey();
await state.serviceAccounts.create({ id: "bench-stored", key_sha256: stored.sha256, groups: ["ci"] });
const storedAccounts = new ServiceAccountKeys([], state.serviceAccounts);
const storedKey = await measure("service-account key (state db)", () => storedAccounts.identify(stored.key));
const sessions = new BrowserSessions(state.sessions, { idleTimeoutS: 1800, absoluteTimeoutS: 43200 });
const { secret } = await sessions.create({ subject: "oidc:bench:alice", kind: "oidc", groups: ["analysts"], auth_method: "browser-session", credential_id: "" }, "bench");
const session = await measure("browser session cookie", () => sessions.resume(secret));
console.log(`  ${"".padEnd(34)} ${(storedKey / baseline).toFixed(1)}× / ${(session / baseline).toFixed(1)}× the key check`);
await state.close();
await rm(stateDir, { recursive: true, force: true });
for (const { alg, privateKey } of keys) {
  const token = await new SignJWT({ sub: "alice", groups: ["analysts"] })
    .setProtectedHeader({ alg, kid: alg })
    .setIssuer("https://idp.bench")
    .setAudience(AUDIENCE)
    .setExpirationTime("1h")
    .sign(privateKey);
  const tokens = await Promise.all(
    Array.from({ length: ITERATIONS + 2000 }, (_, i) =>
      new SignJWT({ sub: `user-${i}`, groups: ["analysts"] }).setProtectedHeader({ alg, kid: alg }).setIssuer("https://idp.bench").setAudience(AUDIENCE).setExpirationTime("1h").sign(privateKey),
    ),
  );
  const firstSight = await measure(`OIDC ${alg}, each token new`, (i) => verifier.verify(tokens[i]!));
  const repeat = await measure(`OIDC ${alg}, same token again`, () => verifier.verify(token));
  console.log(`  ${"".padEnd(34)} ${(firstSight / baseline).toFixed(1)}× / ${(repeat / baseline).toFixed(1)}× the key check`);
}
server.close();
