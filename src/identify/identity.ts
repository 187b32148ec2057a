/** Who made a request. Every audit record carries one (or null when identification failed). */
export interface Identity {
  /** Stable subject: "sa:<id>" for service accounts, "oidc:<issuer id>:<sub>" for tokens and
   * OIDC logins, "saml:<provider id>:<NameID>" for SAML logins. */
  subject: string;
  kind: "service-account" | "oidc" | "saml";
  groups: string[];
  auth_method: "api-key" | "oidc-bearer" | "oidc-introspection" | "browser-session";
  /** Which credential was used (never the credential itself). */
  credential_id: string;
  owner?: string;
  /** For tokens: the issuer that vouched for the subject. */
  issuer?: string;
  name?: string;
}
