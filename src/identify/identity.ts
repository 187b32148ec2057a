/** Who made a request. Every audit record carries one (or null when identification failed). */
export interface Identity {
  /** Stable subject, e.g. "sa:ci-bot". */
  subject: string;
  kind: "service-account";
  groups: string[];
  auth_method: "api-key";
  /** Which credential was used (never the credential itself). */
  credential_id: string;
  owner?: string;
}
