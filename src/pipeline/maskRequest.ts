// mask (request): the body is scanned whole before anything is stored or forwarded. Under
// masking.requests: tokenize each value becomes its scope's token, the original kept in the
// vault, and the tokens this caller may read come back as values in what it is sent.
import { threadIdOf } from "../authorize/index.js";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import type { RunLink } from "../egress/index.js";
import { MaskingError, MaskingTally, restoreWhole, restoringMasker, type KeptValue, type Masker, type TokenEntry, type Vault, type VaultScope } from "../mask/index.js";

/** Request bodies are scanned whole before anything is stored or forwarded; one that cannot
 * be scanned is refused, never passed on. */
export function maskRequestBody(masker: Masker, text: string): ReturnType<Masker["mask"]> {
  try {
    return masker.mask(text);
  } catch (error) {
    throw unscannable(error);
  }
}

/** Where the values of a request belong in the vault: the caller's tenant, the thread the
 * request names (in its path or a threads.create body) or, without one, the request alone. */
export function vaultScope(exchange: Exchange, body: unknown): VaultScope {
  const operation = exchange.operation;
  const thread = operation ? threadIdOf(operation, body) : undefined;
  // A store item is written and read by its namespace: its values belong there.
  const namespace = operation && STORE_ITEM_ROUTES.has(operation.route) ? operation.namespace : undefined;
  const scope = thread ? `thread:${thread}` : namespace ? `store:${JSON.stringify(namespace)}` : `request:${exchange.id}`;
  return { tenant: exchange.resources?.tenant ?? "", scope, subject: exchange.identity?.subject ?? "" };
}

/** Each detected value becomes its scope's token; the originals are kept (encrypted) before
 * anything is forwarded, so every token LangGraph holds can be restored. */
export async function tokenizeRequestBody(vault: Vault, masker: Masker, text: string, scope: VaultScope): Promise<{ text: string; entries: TokenEntry[] }> {
  const tokenizer = vault.tokenizer(masker, scope);
  let tokenized: string;
  try {
    tokenized = tokenizer.masker.mask(text).text;
  } catch (error) {
    throw unscannable(error);
  }
  const entries = [...tokenizer.entries.values()];
  try {
    await vault.keep(scope, entries);
  } catch (error) {
    throw new GatewayError(503, "PC_VAULT_UNAVAILABLE", "Refused: the originals of the request's tokens could not be kept in the vault, so the request was not forwarded.", { cause: error });
  }
  return { text: tokenized, entries };
}

/** Which tokens this caller gets back as values (policy masking.restore_for): every one in the
 * scope, or by default those the caller sent, and all of them on a thread the caller owns. */
export async function prepareRestore(
  exchange: Exchange,
  { vault, masker }: { vault: Vault; masker: Masker },
  scope: VaultScope,
  tokenized: TokenEntry[],
  allowed: "all" | "own" | "none",
  threadOwner: string | undefined,
): Promise<void> {
  if (allowed === "none" || !exchange.identity) return;
  const subject = exchange.identity.subject;
  // A request's own scope (a stateless run, a search) holds only what it just tokenised; what
  // its answer holds from other scopes (a search's threads and store items) is looked up by
  // token once the answer is read. Only values the caller sent itself come back: a token is
  // text anyone can copy into a store item or a run, so "every value" (restore_for) stays
  // bound to a thread the caller reads. A token that stands for two values (tokens are unique
  // per scope, not across scopes) stays a token.
  if (scope.scope.startsWith("request:")) {
    const limits = masker.limits;
    const restorer = restoringMasker(tokenized, limits);
    if (restorer) exchange.masking!.restore = { masker: restorer, restored: new MaskingTally() };
    exchange.masking!.restoreFromVault = async (tokens) => {
      const own = (await vault.valuesWithTokens(scope.tenant, tokens)).filter((value) => value.subject === subject);
      return restoringMasker([...tokenized, ...unambiguous(own)], limits);
    };
    return;
  }
  let values: KeptValue[];
  try {
    values = await vault.valuesOf(scope.tenant, scope.scope);
  } catch (error) {
    // Without the vault the caller gets tokens, which is safe; the failure is logged.
    exchange.log.warn({ err: error }, "vault could not be read; tokens are not restored");
    return;
  }
  const own = allowed === "all" || (threadOwner !== undefined && threadOwner === subject) ? values : values.filter((value) => value.subject === subject);
  const restorer = restoringMasker(own, masker.limits);
  if (restorer) exchange.masking!.restore = { masker: restorer, restored: new MaskingTally() };
}

/** An egress call's body with the vault's tokens of the route's entity types (egress.routes.
 * <name>.restore) turned back into their originals: only tokens kept for the run's own thread
 * (or, for a stateless run, the request that started it) in the run's tenant, so a token from
 * another thread or tenant stays a token. Secrets are never tokenised, so never restored. The
 * recording keeps the tokens; the restorations are counted in the call's request record. */
export async function restoreForEgress(exchange: Exchange, { vault, masker }: { vault: Vault; masker: Masker }, body: string, run: RunLink, entities: readonly string[]): Promise<string> {
  const scope = run.thread_id ? `thread:${run.thread_id}` : `request:${run.request_id}`;
  const wanted = new Set(entities);
  let values: KeptValue[];
  try {
    values = (await vault.valuesOf(run.tenant ?? "", scope)).filter((value) => wanted.has(value.entity));
  } catch (error) {
    throw new GatewayError(503, "PC_VAULT_UNAVAILABLE", "Refused: the vault could not be read to restore the values this egress route receives, so the call was not sent.", { cause: error });
  }
  const restorer = restoringMasker(values, masker.limits);
  if (!restorer) return body;
  const result = restoreWhole(restorer, body);
  if (Object.keys(result.restored).length > 0) exchange.masking!.restoredDownstream = result.restored;
  return result.text;
}

function unscannable(error: unknown): unknown {
  if (!(error instanceof MaskingError)) return error;
  return new GatewayError(422, "PC_MASKING_FAILED", `Refused: the request body could not be scanned for PII and secrets (${error.message}).`, { cause: error });
}

/** The values whose token stands for one value only. */
function unambiguous(values: readonly KeptValue[]): KeptValue[] {
  const byToken = new Map<string, KeptValue[]>();
  for (const value of values) byToken.set(value.token, [...(byToken.get(value.token) ?? []), value]);
  return [...byToken.values()].filter((same) => new Set(same.map((value) => value.value)).size === 1).map((same) => same[0]!);
}

/** Store routes that name one namespace: the values they write and read are kept under it. */
const STORE_ITEM_ROUTES: ReadonlySet<string> = new Set(["store.put", "store.get", "store.delete"]);
