// Every component of gateway state, in the order the migration runner applies them. Each
// component's DDL lives beside the store that uses it.
import { APPROVAL_TABLES } from "../approve/index.js";
import { SIGN_IN_TABLES, BROWSER_SESSION_TABLES } from "../authenticate/index.js";
import { RATE_LIMIT_TABLES } from "../authorize/index.js";
import { VAULT_TABLES } from "../mask/index.js";
import type { Component } from "./migrations.js";
import { SERVICE_ACCOUNT_TABLES } from "./serviceAccountStore.js";

/** Read when called, not when this module loads: each store imports this folder's index for the
 * migration runner, so a store's module may still be loading while this one does. */
export function stateTables(): readonly Component[] {
  return [SERVICE_ACCOUNT_TABLES, BROWSER_SESSION_TABLES, SIGN_IN_TABLES, APPROVAL_TABLES, RATE_LIMIT_TABLES, VAULT_TABLES];
}
