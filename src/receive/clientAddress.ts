// The client's address: the socket's peer, unless that peer is a configured trusted proxy, in
// which case the hops it appended to X-Forwarded-For or Forwarded (RFC 7239) are walked from the
// right, as nginx's real_ip_recursive does, to the first address that is not a trusted proxy.
// From any other peer those headers are not believed; what was sent is kept for the record.
import type { IncomingMessage } from "node:http";
import { BlockList, isIP, type Socket } from "node:net";

interface ClientAddress {
  /** The address policy conditions and audit records use. */
  address: string | null;
  /** X-Forwarded-For / Forwarded as sent, when present (believed or not). */
  forwardedAsSent?: string;
  /** Whether the forwarding headers were believed (the peer is a trusted proxy). */
  forwardedBelieved?: boolean;
}

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  /** `header`: the one header the trusted proxies write. The other is never believed: most
   * balancers append to X-Forwarded-For and pass a client's own Forwarded through unchanged. */
  constructor(
    cidrs: readonly string[],
    private readonly header: "x-forwarded-for" | "forwarded" = "x-forwarded-for",
  ) {
    for (const cidr of cidrs) {
      const [address = "", prefix] = cidr.split("/");
      const family = isIP(address) === 6 ? "ipv6" : "ipv4";
      if (prefix === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, Number(prefix), family);
    }
    this.empty = cidrs.length === 0;
  }

  trusts(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 6 ? "ipv6" : "ipv4");
  }

  /** The connection's peer, as records name it (IPv4-mapped IPv6 as IPv4). */
  peerAddress(socket: Socket): string | null {
    return normalise(socket.remoteAddress) ?? null;
  }

  resolve(req: IncomingMessage): ClientAddress {
    const peer = normalise(req.socket?.remoteAddress);
    const sent = headerText(req.headers[this.header]);
    const other = headerText(req.headers[this.header === "forwarded" ? "x-forwarded-for" : "forwarded"]);
    if (!sent) return { address: peer ?? null, ...(other ? { forwardedAsSent: asSent(other), forwardedBelieved: false } : {}) };
    if (!peer || !this.trusts(peer)) return { address: peer ?? null, forwardedAsSent: asSent(sent), forwardedBelieved: false };
    const hops = this.header === "forwarded" ? forwardedFor(sent) : sent.split(",").map((hop) => normalise(hop.trim()));
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i];
      // A hop that is not an address (obfuscated, "unknown", garbage) ends the walk at the last
      // trusted hop: nothing left of it was appended by a proxy we trust.
      if (!hop || isIP(hop) === 0) break;
      client = hop;
      if (!this.trusts(hop)) break;
    }
    return { address: client, forwardedAsSent: asSent(sent), forwardedBelieved: true };
  }
}

/** `for=` values of a Forwarded header, in order (RFC 7239 §4, §6: quoted IPv6 with brackets, optional port). */
function forwardedFor(header: string): Array<string | undefined> {
  const hops: Array<string | undefined> = [];
  for (const element of header.split(",")) {
    const pair = element.split(";").map((part) => part.trim()).find((part) => part.toLowerCase().startsWith("for="));
    // An element without for= names no hop: the walk must stop there, not skip it.
    if (!pair) {
      hops.push(undefined);
      continue;
    }
    let value = pair.slice(4).trim().replace(/^"(.*)"$/, "$1");
    if (value.startsWith("[")) value = value.slice(1, value.indexOf("]"));
    else if (isIP(value) === 0) value = value.replace(/:\d+$/, "");
    hops.push(normalise(value));
  }
  return hops;
}

function headerText(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(", ") : value;
}

/** What the record keeps of the header: client-controlled text, so capped (the walk reads it whole). */
function asSent(text: string): string {
  return text.length > MAX_RECORDED_CHARS ? `${text.slice(0, MAX_RECORDED_CHARS)}…` : text;
}

const MAX_RECORDED_CHARS = 1024;

/** IPv4-mapped IPv6 (::ffff:10.0.0.1) as the IPv4 address, so one CIDR list covers both. */
function normalise(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}
