// mask: PII and secrets detected and replaced in requests, responses, live SSE streams and
// everything stored (masking.md). Built once from the configuration; the policy decides per
// request whether the client sees masked or clear responses and whether inputs are masked.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { PortcullisConfig } from "../config/index.js";
import { customPatternDetector, dictionaryDetector } from "./detect/custom.js";
import { piiDetectors } from "./detect/pii.js";
import { Scanner } from "./detect/scanner.js";
import { secretDetectors } from "./detect/secrets.js";
import { whereaboutsDetectors } from "./detect/whereabouts.js";
import type { Detector, DetectorSettings } from "./detect/types.js";
import { Masker } from "./masker.js";
import { Operators, type OperatorName } from "./operators.js";

export { Masker, MaskingError, MaskingTally, type Redactions } from "./masker.js";
export { SseStreamMasker } from "./events.js";
export { ProviderStreamMasker, type EventStreamMasker } from "./providerStreams.js";
export { TextStreamMasker } from "./stream.js";
export { maskedLogOptions } from "./logs.js";
export { TOKEN_PATTERN, type TokenEntry } from "./tokens.js";
export { openVault, PostgresVaultStore, restoreWhole, restoringMasker, SqliteVaultStore, VAULT_TABLES, type KeptValue, type Vault, type VaultScope, type VaultStore } from "./vault.js";

type MaskingSettings = PortcullisConfig["masking"];

/** All built-in detectors (tier 1, plus the tier-2 types opted in). */
export function builtInDetectors(settings: Partial<DetectorSettings> = {}): Detector[] {
  const full: DetectorSettings = {
    phoneRegions: settings.phoneRegions ?? ["US", "GB", "DE", "FR", "IL", "IN", "CA", "BR"],
    maskPrivateIps: settings.maskPrivateIps ?? true,
    optIn: settings.optIn ?? new Set(),
  };
  return [...piiDetectors(full), ...whereaboutsDetectors(), ...secretDetectors(full)];
}

/** The masker for a configuration; reads (or on first start creates) the pseudonym key. */
export async function createMasker(settings: MaskingSettings): Promise<Masker> {
  const detectors = builtInDetectors({ phoneRegions: settings.phone_regions, maskPrivateIps: settings.mask_private_ips, optIn: new Set(settings.opt_in) });
  for (const rule of settings.custom) {
    detectors.push(
      "pattern" in rule
        ? customPatternDetector({ entity: rule.entity, pattern: rule.pattern, ...(rule.prefix ? { prefix: rule.prefix } : {}), maxLength: rule.max_length, caseInsensitive: rule.case_insensitive })
        : dictionaryDetector({ entity: rule.entity, terms: rule.dictionary }),
    );
  }
  const pseudonymKey = settings.pseudonym_key_file ? await loadOrCreateKey(settings.pseudonym_key_file) : undefined;
  const operators = new Operators({
    defaultOperator: settings.operator,
    perEntity: new Map(Object.entries(settings.entities) as [string, OperatorName][]),
    ...(pseudonymKey ? { pseudonymKey } : {}),
  });
  return new Masker(new Scanner(detectors), operators, { maxFieldBytes: settings.max_field_bytes, budgetMs: settings.budget_ms }, {
    sensitiveKeys: settings.sensitive_keys,
    fieldPaths: settings.field_paths,
  });
}

/** The masker with built-in settings, for tools and tests. */
export function defaultMasker(options: { pseudonymKey?: Buffer; operator?: OperatorName } = {}): Masker {
  const operators = new Operators({ defaultOperator: options.operator ?? "redact", perEntity: new Map(), ...(options.pseudonymKey ? { pseudonymKey: options.pseudonymKey } : {}) });
  return new Masker(new Scanner(builtInDetectors()), operators, { maxFieldBytes: 1024 * 1024, budgetMs: 2_000 });
}

/** Reads a 32-byte (or longer) base64 key file, creating it (mode 0600) on first start. */
export async function loadOrCreateKey(file: string): Promise<Buffer> {
  try {
    const key = Buffer.from((await readFile(file, "utf8")).trim(), "base64");
    if (key.length < 32) throw new Error(`the key in ${file} is shorter than 32 bytes`);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    await mkdir(path.dirname(file), { recursive: true });
    // wx: two gateways starting at once cannot overwrite each other's key.
    await writeFile(file, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600, flag: "wx" }).catch((writeError: NodeJS.ErrnoException) => {
      if (writeError.code !== "EEXIST") throw writeError;
    });
    return loadOrCreateKey(file);
  }
}
