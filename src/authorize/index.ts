// authorize: Identity x Operation -> Decision. Until the policy engine lands (issue "Least-privilege
// policy"), every identified service account may use every classified route; unknown routes were
// already refused by classify, so the gateway stays deny-by-default.
import type { Operation } from "../classify/index.js";
import type { Identity } from "../identify/identity.js";

export interface Decision {
  effect: "allow" | "deny";
  /** The rule that decided, recorded with the request. */
  rule: string;
  reason?: string;
}

export function authorizeOperation(_identity: Identity, _operation: Operation): Decision {
  return { effect: "allow", rule: "builtin:service-account-full-access" };
}
