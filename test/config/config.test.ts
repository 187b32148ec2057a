import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { loadConfigFile, parseConfig, readSecret } from "../../src/config/load.js";
import { configJsonSchema } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { hashApiKey } from "../../src/identify/serviceAccounts.js";
import { CLI_ARGS } from "../support/cli.js";

const run = promisify(execFile);

async function configFile(yaml: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-config-"));
  const file = path.join(dir, "portcullis.yaml");
  await writeFile(file, yaml);
  return file;
}

describe("configuration", () => {
  test("a minimal file gets safe defaults", async () => {
    const config = await loadConfigFile(await configFile("upstream:\n  url: http://127.0.0.1:2024\n"));
    assert.equal(config.listen.host, "127.0.0.1");
    assert.equal(config.limits.max_body_bytes, 10 * 1024 * 1024);
    assert.deepEqual(config.identity.service_accounts, []);
    assert.deepEqual(config.cors.allow_origins, []);
  });

  test("an invalid field is named in the error", () => {
    assert.throws(
      () => parseConfig({ upstream: { url: "not a url" }, listen: { port: 70000 } }),
      (error: Error) => error instanceof ConfigError && /upstream\.url/.test(error.message) && /listen\.port/.test(error.message),
    );
  });

  test("an unknown key is an error, not silently ignored", () => {
    assert.throws(() => parseConfig({ upstream: { url: "http://x" }, upstrem: {} }), /upstrem/);
  });

  test("a service account key must be stored as a SHA-256, never in clear", () => {
    assert.throws(
      () => parseConfig({ upstream: { url: "http://x" }, identity: { service_accounts: [{ id: "bot", key_sha256: "pcsk_cleartext" }] } }),
      /identity\.service_accounts\[0\]\.key_sha256/,
    );
  });

  test("credential and framing headers cannot be allow-listed for forwarding", () => {
    for (const name of ["Authorization", "host", "transfer-encoding", "portcullis-request-id"]) {
      assert.throws(() => parseConfig({ upstream: { url: "http://x", forward_headers: [name] } }), /forward_headers/, name);
    }
  });

  test("the upstream credential may not travel in an x-* header the JS server copies into graph config", () => {
    const credential = (header: string) => ({ upstream: { url: "http://x", credential: { header, secret: { env: "K" } } } });
    assert.throws(() => parseConfig(credential("x-upstream-key")), /upstream\.credential\.header/);
    assert.equal(parseConfig(credential("x-api-key")).upstream.credential?.header, "x-api-key");
    assert.equal(parseConfig(credential("Gateway-Key")).upstream.credential?.header, "gateway-key");
  });

  test("broken YAML is reported with the file name", async () => {
    const file = await configFile("upstream: [\n");
    await assert.rejects(loadConfigFile(file), (error: Error) => error instanceof ConfigError && error.message.includes(file));
  });

  test("secrets come from the environment or a file, and a missing one is a clear error", async () => {
    process.env.PORTCULLIS_TEST_SECRET = "s3cret";
    assert.equal(await readSecret({ env: "PORTCULLIS_TEST_SECRET" }, "x"), "s3cret");
    const file = await configFile("from-file\n");
    assert.equal(await readSecret({ file }, "x"), "from-file");
    await assert.rejects(readSecret({ env: "PORTCULLIS_TEST_MISSING" }, "upstream.credential.secret"), /PORTCULLIS_TEST_MISSING is not set/);
  });

  test("the documented example configuration is valid", async () => {
    process.env.LANGGRAPH_API_KEY ??= "unused";
    const config = await loadConfigFile("docs/portcullis.example.yaml");
    assert.equal(config.upstream.credential?.header, "x-api-key");
  });

  test("the published JSON Schema is the one generated from the code", async () => {
    const published = JSON.parse(await readFile("schema/portcullis.config.schema.json", "utf8"));
    assert.deepEqual(published, configJsonSchema(), "run `npm run schema` to regenerate");
  });
});

describe("command line", () => {
  test("`keys create` prints a key once and a config entry holding only its hash", async () => {
    const { stdout } = await run(process.execPath, [...CLI_ARGS, "keys", "create", "--id", "ci-bot", "--groups", "ci,deploy"]);
    const key = /pcsk_[A-Za-z0-9_-]{43}/.exec(stdout)![0];
    assert.ok(stdout.includes(`key_sha256: ${hashApiKey(key)}`));
    assert.equal(stdout.split(key).length, 2, "the key appears exactly once");
    const entry = stdout.slice(stdout.indexOf("- id:")).replace(/^ {2}/gm, "");
    const config = parseConfig({ upstream: { url: "http://x" }, identity: { service_accounts: (await import("yaml")).parse(entry) } });
    assert.deepEqual(config.identity.service_accounts[0]!.groups, ["ci", "deploy"]);
  });

  test("`config check` names the bad field and exits 2", async () => {
    const file = await configFile("upstream:\n  url: 12\n");
    await assert.rejects(run(process.execPath, [...CLI_ARGS, "config", "check", "--config", file]), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr, /upstream\.url/);
      return true;
    });
  });

  test("`start` reads PORTCULLIS_CONFIG and refuses to start without the upstream secret", async () => {
    const file = await configFile("upstream:\n  url: http://127.0.0.1:9\n  credential:\n    secret: { env: PORTCULLIS_NOT_SET_ANYWHERE }\n");
    await assert.rejects(run(process.execPath, [...CLI_ARGS, "start"], { env: { ...process.env, PORTCULLIS_CONFIG: file } }), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr, /PORTCULLIS_NOT_SET_ANYWHERE is not set/);
      return true;
    });
  });
});
