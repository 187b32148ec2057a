// A2A agent cards (/.well-known/agent-card.json?assistant_id=…): the server names its own address
// as the agent's endpoint (from the Host it received). A client that followed it would leave the
// gateway, so the card names the gateway's origin as the client addressed it: https on the
// gateway's TLS listener, else http (behind a TLS-terminating balancer, clients reach the card's
// URL through the balancer's redirect or its own scheme rules).
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";

const PLAIN_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;
const CARD_ORIGIN = "portcullis-gateway-origin:";

/** Before masking: the upstream's origin in the card's URLs replaced by a marker (masking must
 * not take the upstream's address for personal data, nor the client see it). */
export function markAgentCardOrigin(card: string, upstreamUrl: URL): string {
  return card.replaceAll(`"${upstreamUrl.origin}/`, `"${CARD_ORIGIN}/`);
}

/** Once masked: the marker made the gateway's origin as the client addressed it; without a usable
 * Host, the card keeps gateway-relative paths. */
export function gatewayAgentCard(card: string, req: IncomingMessage): string {
  const host = req.headers.host ?? "";
  const origin = PLAIN_HOST.test(host) ? `${(req.socket as TLSSocket).encrypted ? "https" : "http"}://${host}` : "";
  return card.replaceAll(`"${CARD_ORIGIN}/`, `"${origin}/`);
}
