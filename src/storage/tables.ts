// Every component of gateway state, in the order the migration runner applies them. Each
// component's DDL lives beside the store that uses it.
import { APPROVAL_TABLES } from "../approve/store.js";
import { SIGN_IN_TABLES } from "../authenticate/signInStore.js";
import { BROWSER_SESSION_TABLES } from "../authenticate/sessionStore.js";
import { RATE_LIMIT_TABLES } from "../authorize/tokenBuckets.js";
import { VAULT_TABLES } from "../mask/vault.js";
import type { Component } from "./migrations.js";
import { SERVICE_ACCOUNT_TABLES } from "./serviceAccountStore.js";

export const STATE_TABLES: readonly Component[] = [SERVICE_ACCOUNT_TABLES, BROWSER_SESSION_TABLES, SIGN_IN_TABLES, APPROVAL_TABLES, RATE_LIMIT_TABLES, VAULT_TABLES];
