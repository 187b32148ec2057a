// A real PostgreSQL for the tests: PORTCULLIS_TEST_POSTGRES_URL when set, otherwise a throwaway
// cluster of the machine's PostgreSQL (initdb into a temp dir, a free port, trust auth on
// loopback), stopped and deleted afterwards. initdb refuses to run as root, so as root the
// cluster runs as the `postgres` user.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./ports.js";

const run = promisify(execFile);

export interface TestPostgres {
  url: string;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<TestPostgres> {
  const given = process.env.PORTCULLIS_TEST_POSTGRES_URL;
  if (given) return { url: given, stop: async () => undefined };
  const bin = await postgresBin();
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-pg-"));
  const asRoot = userInfo().uid === 0;
  const owner = asRoot ? await run("id", ["-u", "postgres"]).then((r) => Number(r.stdout.trim())) : undefined;
  const group = asRoot ? await run("id", ["-g", "postgres"]).then((r) => Number(r.stdout.trim())) : undefined;
  if (asRoot) await chown(dir, owner!, group!);
  const as = (command: string, args: string[]) => (asRoot ? run("runuser", ["-u", "postgres", "--", path.join(bin, command), ...args]) : run(path.join(bin, command), args));
  const data = path.join(dir, "data");
  await as("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  await as("pg_ctl", ["-D", data, "-l", path.join(dir, "log"), "-w", "-t", "60", "-o", `-p ${port} -k ${dir} -h 127.0.0.1 -c fsync=on -c max_connections=100`, "start"]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await as("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgresBin(): Promise<string> {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? (await readdir(root)).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const bin = path.join(root, version, "bin");
    if (existsSync(path.join(bin, "initdb"))) return bin;
  }
  throw new Error(
    "PostgreSQL tests need a PostgreSQL server: set PORTCULLIS_TEST_POSTGRES_URL, or install it (Debian: apt-get install -y postgresql; .ci/run does this)",
  );
}
