// Sends bytes exactly as written, for requests no well-behaved client library would send.
import { connect } from "node:net";

export async function rawRequest(url: string, request: string, timeoutMs = 5_000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let response = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(response);
    }, timeoutMs);
    socket.on("data", (chunk) => (response += chunk.toString("latin1")));
    socket.on("end", () => {
      clearTimeout(timer);
      resolve(response);
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      if (response) resolve(response);
      else reject(error);
    });
    socket.write(request);
  });
}

export function statusOf(rawResponse: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(rawResponse)?.[1] ?? 0);
}
