import { createServer } from "node:net";

/** A port free right now on 127.0.0.1, for servers whose URL must be known before they start
 * (a sign-in redirect URI registered at the IdP names the gateway's port). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
