/** Who made a request. Every audit record carries one (or null when identification failed). */
export interface Identity {
  /** Stable subject: "sa:<id>" for service accounts, "oidc:<issuer id>:<sub>" for tokens and
   * OIDC logins, "saml:<provider id>:<NameID>" for SAML logins. */
  subject: string;
  kind: "service-account" | "oidc" | "saml";
  groups: string[];
  /** approval-execution: the gateway sending an approved deferred request as its requester. */
  auth_method: "api-key" | "oidc-bearer" | "oidc-introspection" | "browser-session" | "approval-execution";
  /** Which credential was used (never the credential itself). */
  credential_id: string;
  owner?: string;
  /** Service accounts: when the key expires (absent: it does not), so evidence can name keys without expiry. */
  expires_at?: string;
  /** For tokens: the issuer that vouched for the subject. */
  issuer?: string;
  name?: string;
  /** Claims (OIDC) or attributes (SAML) the IdP vouched for, for policy conditions and tenants.
   * Scalars and string lists only; kept out of audit records. */
  claims?: Record<string, string | number | boolean | string[]>;
}

/** The claims policy conditions may read: top-level scalars and string lists, nothing nested. */
export function policyClaims(source: Record<string, unknown>): Record<string, string | number | boolean | string[]> {
  const claims: Record<string, string | number | boolean | string[]> = {};
  for (const [name, value] of Object.entries(source)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") claims[name] = value;
    else if (Array.isArray(value) && value.every((item) => typeof item === "string")) claims[name] = value as string[];
  }
  return claims;
}
