// HTTPS on the listener (listen.tls): modern defaults, and the certificate reloaded in place when
// its files change (cert-manager and similar tools rotate them on disk). A change that does not
// load keeps the last good certificate and is logged, as a bad policy change is.
import { readFileSync, statSync, unwatchFile, watchFile } from "node:fs";
import type { Server as HttpsServer } from "node:https";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "pino";
import { ConfigError } from "../errors.js";

interface ListenerTls {
  cert_file: string;
  key_file: string;
  min_version: "TLSv1.2" | "TLSv1.3";
}

/** Reads and checks the certificate and key; throws a ConfigError naming the file at fault. */
export function loadListenerCertificate(tls: ListenerTls): SecureContextOptions {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new ConfigError(`listen.tls.${what}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const options: SecureContextOptions = { cert: read(tls.cert_file, "cert_file"), key: read(tls.key_file, "key_file"), minVersion: tls.min_version };
  try {
    createSecureContext(options);
  } catch (error) {
    throw new ConfigError(`listen.tls: the certificate and key do not load together: ${(error as Error).message}`);
  }
  return options;
}

/** Watches both files; returns a function that stops watching. */
export function reloadCertificateOnChange(server: HttpsServer, tls: ListenerTls, log: Logger, intervalMs = 2_000): () => void {
  const stamp = () => [tls.cert_file, tls.key_file].map((file) => statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(":");
  let last = stamp();
  const check = () => {
    try {
      const now = stamp();
      if (now === last) return;
      last = now;
      server.setSecureContext(loadListenerCertificate(tls));
      log.info({ cert_file: tls.cert_file }, "listener certificate reloaded");
    } catch (error) {
      log.error({ err: error }, "listener certificate change rejected; the previous certificate stays in use");
    }
  };
  for (const file of [tls.cert_file, tls.key_file]) watchFile(file, { interval: intervalMs, persistent: false }, check);
  return () => {
    for (const file of [tls.cert_file, tls.key_file]) unwatchFile(file, check);
  };
}
