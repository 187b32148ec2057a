// Upstream authentication for the bundled server: only a caller holding the gateway's upstream
// key gets in, so Portcullis is the only path to LangGraph. The key comes from the environment
// of the process that Portcullis starts; clients never see it.
import { Auth, HTTPException } from "@langchain/langgraph-sdk/auth";
import { timingSafeEqual, createHash } from "node:crypto";

const expected = process.env.PORTCULLIS_UPSTREAM_KEY;
if (!expected) throw new Error("PORTCULLIS_UPSTREAM_KEY is not set: refusing to start an open LangGraph server");
const expectedDigest = createHash("sha256").update(expected).digest();

export const auth = new Auth().authenticate((request: Request) => {
  const presented = request.headers.get("x-api-key") ?? "";
  const digest = createHash("sha256").update(presented).digest();
  if (!timingSafeEqual(digest, expectedDigest)) {
    throw new HTTPException(401, { message: "missing or wrong upstream key" });
  }
  return { identity: "portcullis-gateway", permissions: [] };
});
