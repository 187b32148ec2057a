// The gateway under the egress benchmark, in its own process (as deployed): its config is a
// JSON file written by bench/egress.ts.
import { readFile } from "node:fs/promises";
import { pino } from "pino";
import { parseConfig } from "../src/config/load.js";
import { startGateway } from "../src/gateway.js";

const gateway = await startGateway(parseConfig(JSON.parse(await readFile(process.argv[2]!, "utf8"))), { logger: pino({ level: "silent" }) });
process.stdout.write(`${JSON.stringify({ ready: true, url: gateway.url })}\n`);
process.once("SIGTERM", () => void gateway.close().then(() => process.exit(0)));
