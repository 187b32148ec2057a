// A real, minimal SAML 2.0 identity provider for tests of the SAML service-provider login: metadata,
// an HTTP-Redirect single sign-on endpoint that answers with an auto-posting form, and responses
// signed by xml-crypto (RSA-SHA256, exclusive C14N, enveloped) with a self-signed certificate made
// at start. Tests can also build responses directly, signed or not, with their own key, to forge.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { inflateRawSync } from "node:zlib";
import { DOMParser } from "@xmldom/xmldom";
import { generate } from "selfsigned";
import { SignedXml } from "xml-crypto";

export interface SamlUser {
  nameId: string;
  email?: string;
  displayName?: string;
  groups: string[];
}

export interface ResponseOptions {
  user: SamlUser;
  /** Destination + SubjectConfirmationData Recipient. */
  acsUrl: string;
  /** AudienceRestriction/Audience (the SP entity id). */
  audience: string;
  /** Response/@InResponseTo and SubjectConfirmationData/@InResponseTo. */
  inResponseTo?: string;
  /** Default "_" + random hex; lets tests replay the same assertion. */
  assertionId?: string;
  /** Default now. */
  issueInstant?: Date;
  /** Default now - 1 min. */
  notBefore?: Date;
  /** Default now + 5 min (Conditions and SubjectConfirmationData). */
  notOnOrAfter?: Date;
  /** Default "assertion". */
  sign?: "assertion" | "response" | "both" | "none";
  /** Default the IdP's own key; tests pass a foreign key to simulate a forged signature. */
  signingKey?: SigningKey;
  /** Default the IdP entity id. */
  issuer?: string;
  /** Default Success. Any other status carries no assertion (SAML profiles §4.1.4.2). */
  status?: string;
}

export interface TestSamlIdp {
  /** `${url}/metadata`. */
  entityId: string;
  /** http://127.0.0.1:<port> */
  url: string;
  /** `${url}/sso`, the HTTP-Redirect binding endpoint. */
  ssoUrl: string;
  certPem: string;
  keyPem: string;
  /** EntityDescriptor with the signing certificate and the HTTP-Redirect SingleSignOnService. */
  metadataXml: string;
  /** Base64 of the (signed) <samlp:Response> XML, as posted in the SAMLResponse form field. */
  buildResponse(options: ResponseOptions): string;
  /** Raw XML of a response, for tests that tamper with it before encoding. */
  buildResponseXml(options: ResponseOptions): string;
  /** The user the browser flow logs in as next (default: the first in `users`). */
  setNextUser(user: SamlUser): void;
  /** AuthnRequests received at /sso: their ID, AssertionConsumerServiceURL, Issuer, RelayState. */
  readonly requests: Array<{ id: string; acsUrl: string; issuer: string; relayState: string | undefined }>;
  close(): Promise<void>;
}

interface SigningKey {
  keyPem: string;
  certPem: string;
}

interface AuthnRequestSummary {
  id: string;
  acsUrl: string;
  issuer: string;
}

const PROTOCOL_NS = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS = "urn:oasis:names:tc:SAML:2.0:assertion";
const STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success";
const NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

const DEFAULT_USER: SamlUser = {
  nameId: "alice@example.com",
  email: "alice@example.com",
  displayName: "Alice Example",
  groups: ["engineering"],
};

async function generateSigningKey(commonName: string): Promise<SigningKey> {
  const pems = await generate([{ name: "commonName", value: commonName }], {
    keyType: "rsa",
    keySize: 2048,
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true },
    ],
  });
  return { keyPem: pems.private, certPem: pems.cert };
}

/** A second, unrelated key and certificate, for forged-signature tests. */
export async function foreignSigningKey(): Promise<SigningKey> {
  return generateSigningKey("forger.saml-idp.test");
}

/** Escapes text and attribute values, in XML and in HTML alike. */
function escapeMarkup(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function samlId(): string {
  // xs:ID is an NCName, which cannot start with a digit.
  return `_${randomBytes(20).toString("hex")}`;
}

function certificateBody(certPem: string): string {
  return certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
}

function renderAttribute(name: string, values: string[]): string {
  // node-saml drops an Attribute without values, so an absent one says the same thing more plainly.
  if (values.length === 0) return "";
  const renderedValues = values
    .map(
      (value) =>
        `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${escapeMarkup(value)}</saml:AttributeValue>`,
    )
    .join("");
  return `<saml:Attribute Name="${escapeMarkup(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${renderedValues}</saml:Attribute>`;
}

interface ValidityWindow {
  issueInstant: string;
  notBefore: string;
  notOnOrAfter: string;
}

function renderAssertion(options: ResponseOptions, issuer: string, window: ValidityWindow): string {
  const { user } = options;
  const inResponseTo = options.inResponseTo === undefined ? "" : ` InResponseTo="${escapeMarkup(options.inResponseTo)}"`;
  const nameIdFormat = user.nameId.includes("@") ? NAMEID_EMAIL : NAMEID_UNSPECIFIED;
  const attributes = [
    renderAttribute("email", user.email === undefined ? [] : [user.email]),
    renderAttribute("displayName", user.displayName === undefined ? [] : [user.displayName]),
    renderAttribute("groups", user.groups),
  ].join("");
  return [
    `<saml:Assertion ID="${escapeMarkup(options.assertionId ?? samlId())}" Version="2.0" IssueInstant="${window.issueInstant}">`,
    `<saml:Issuer>${escapeMarkup(issuer)}</saml:Issuer>`,
    `<saml:Subject>`,
    `<saml:NameID Format="${nameIdFormat}">${escapeMarkup(user.nameId)}</saml:NameID>`,
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">`,
    // SAML profiles §4.1.4.2: bearer confirmation data carries no NotBefore.
    `<saml:SubjectConfirmationData NotOnOrAfter="${window.notOnOrAfter}" Recipient="${escapeMarkup(options.acsUrl)}"${inResponseTo}/>`,
    `</saml:SubjectConfirmation>`,
    `</saml:Subject>`,
    `<saml:Conditions NotBefore="${window.notBefore}" NotOnOrAfter="${window.notOnOrAfter}">`,
    `<saml:AudienceRestriction><saml:Audience>${escapeMarkup(options.audience)}</saml:Audience></saml:AudienceRestriction>`,
    `</saml:Conditions>`,
    `<saml:AuthnStatement AuthnInstant="${window.issueInstant}" SessionIndex="${samlId()}">`,
    `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>`,
    `</saml:AuthnStatement>`,
    attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : "",
    `</saml:Assertion>`,
  ].join("");
}

function renderResponse(options: ResponseOptions, issuer: string): string {
  const now = Date.now();
  const window: ValidityWindow = {
    issueInstant: (options.issueInstant ?? new Date(now)).toISOString(),
    notBefore: (options.notBefore ?? new Date(now - 60_000)).toISOString(),
    notOnOrAfter: (options.notOnOrAfter ?? new Date(now + 5 * 60_000)).toISOString(),
  };
  const status = options.status ?? STATUS_SUCCESS;
  const inResponseTo = options.inResponseTo === undefined ? "" : ` InResponseTo="${escapeMarkup(options.inResponseTo)}"`;
  return [
    `<samlp:Response xmlns:samlp="${PROTOCOL_NS}" xmlns:saml="${ASSERTION_NS}" ID="${samlId()}" Version="2.0"`,
    ` IssueInstant="${window.issueInstant}" Destination="${escapeMarkup(options.acsUrl)}"${inResponseTo}>`,
    `<saml:Issuer>${escapeMarkup(issuer)}</saml:Issuer>`,
    `<samlp:Status><samlp:StatusCode Value="${escapeMarkup(status)}"/></samlp:Status>`,
    // SAML profiles §4.1.4.2: an identity provider returning an error MUST NOT include assertions.
    status === STATUS_SUCCESS ? renderAssertion(options, issuer, window) : "",
    `</samlp:Response>`,
  ].join("");
}

/** Signs the Response, or its Assertion, with an enveloped signature placed where the schema wants it. */
function signElement(xml: string, element: "Response" | "Assertion", key: SigningKey): string {
  const elementPath = element === "Response" ? "/*" : "/*/*[local-name(.)='Assertion']";
  const signer = new SignedXml({
    privateKey: key.keyPem,
    // The default getKeyInfoContent puts this certificate in KeyInfo/X509Data.
    publicCert: key.certPem,
    signatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    canonicalizationAlgorithm: "http://www.w3.org/2001/10/xml-exc-c14n#",
  });
  signer.addReference({
    xpath: elementPath,
    transforms: ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", "http://www.w3.org/2001/10/xml-exc-c14n#"],
    digestAlgorithm: "http://www.w3.org/2001/04/xmlenc#sha256",
  });
  // SAML core §2.3.3 and §3.2.2: ds:Signature comes right after the element's own Issuer. §5.4.2:
  // the reference URI is "#" + the element's ID, which xml-crypto reads from the existing ID attribute.
  signer.computeSignature(xml, {
    prefix: "ds",
    location: { reference: `${elementPath}/*[local-name(.)='Issuer']`, action: "after" },
  });
  return signer.getSignedXml();
}

function renderMetadata(entityId: string, ssoUrl: string, certPem: string): string {
  return [
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${escapeMarkup(entityId)}">`,
    `<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="${PROTOCOL_NS}">`,
    `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certificateBody(certPem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
    `<md:NameIDFormat>${NAMEID_EMAIL}</md:NameIDFormat>`,
    `<md:NameIDFormat>${NAMEID_UNSPECIFIED}</md:NameIDFormat>`,
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeMarkup(ssoUrl)}"/>`,
    `</md:IDPSSODescriptor>`,
    `</md:EntityDescriptor>`,
  ].join("");
}

/** Decodes an HTTP-Redirect SAMLRequest (SAML bindings §3.4.4.1: raw DEFLATE, then base64). */
function readAuthnRequest(encoded: string | null): AuthnRequestSummary {
  if (!encoded) throw new Error("SAMLRequest is missing");
  const xml = inflateRawSync(Buffer.from(encoded, "base64")).toString("utf8");
  // xmldom reports errors to the handler and carries on; a throw from there gets wrapped and
  // repeated, so keep the first error and throw once parsing is done.
  let parseError: string | undefined;
  const doc = new DOMParser({
    errorHandler: (level, message) => {
      if (level !== "warning") parseError ??= String(message).split("\n")[0];
    },
  }).parseFromString(xml, "text/xml");
  if (parseError) throw new Error(`malformed XML: ${parseError}`);
  const root = doc.documentElement;
  if (!root || root.localName !== "AuthnRequest" || root.namespaceURI !== PROTOCOL_NS) {
    throw new Error("the document element is not a samlp:AuthnRequest");
  }
  const issuerElement = Array.from(root.getElementsByTagNameNS(ASSERTION_NS, "Issuer")).find((element) => element.parentNode === root);
  const request: AuthnRequestSummary = {
    id: root.getAttribute("ID") ?? "",
    acsUrl: root.getAttribute("AssertionConsumerServiceURL") ?? "",
    issuer: issuerElement?.textContent?.trim() ?? "",
  };
  if (!request.id) throw new Error("the AuthnRequest has no ID");
  // Without SP metadata, the request is the only place to learn where to post the response.
  if (!request.acsUrl) throw new Error("the AuthnRequest has no AssertionConsumerServiceURL");
  if (!request.issuer) throw new Error("the AuthnRequest has no Issuer");
  return request;
}

/** SAML bindings §3.5.4: the HTTP-POST binding's self-submitting form. */
function renderAutoPostForm(acsUrl: string, samlResponse: string, relayState: string | undefined): string {
  const relayStateInput = relayState === undefined ? "" : `<input type="hidden" name="RelayState" value="${escapeMarkup(relayState)}">`;
  return [
    `<!doctype html>`,
    `<html><head><meta charset="utf-8"><title>Signing in</title></head><body>`,
    `<form method="post" action="${escapeMarkup(acsUrl)}">`,
    `<input type="hidden" name="SAMLResponse" value="${escapeMarkup(samlResponse)}">`,
    relayStateInput,
    `<button type="submit">Continue</button>`,
    `</form>`,
    `<script>document.forms[0].submit()</script>`,
    `</body></html>`,
  ].join("\n");
}

export async function startTestSamlIdp(options: { users?: SamlUser[]; host?: string } = {}): Promise<TestSamlIdp> {
  const host = options.host ?? "127.0.0.1";
  let nextUser = options.users?.[0] ?? DEFAULT_USER;
  const ownKey = await generateSigningKey("saml-idp.test");
  const idp: TestSamlIdp = {
    entityId: "",
    url: "",
    ssoUrl: "",
    certPem: ownKey.certPem,
    keyPem: ownKey.keyPem,
    metadataXml: "",
    requests: [],
    buildResponseXml(responseOptions) {
      const sign = responseOptions.sign ?? "assertion";
      const key = responseOptions.signingKey ?? ownKey;
      const carriesAssertion = (responseOptions.status ?? STATUS_SUCCESS) === STATUS_SUCCESS;
      let xml = renderResponse(responseOptions, responseOptions.issuer ?? idp.entityId);
      // For "both" the assertion is signed first, so the response signature covers it.
      if ((sign === "assertion" || sign === "both") && carriesAssertion) xml = signElement(xml, "Assertion", key);
      if (sign === "response" || sign === "both") xml = signElement(xml, "Response", key);
      return xml;
    },
    buildResponse(responseOptions) {
      return Buffer.from(idp.buildResponseXml(responseOptions), "utf8").toString("base64");
    },
    setNextUser(user) {
      nextUser = user;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };

  const answerAuthnRequest = (url: URL, res: ServerResponse) => {
    let request: AuthnRequestSummary;
    try {
      request = readAuthnRequest(url.searchParams.get("SAMLRequest"));
    } catch (error) {
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      res.end(`invalid SAMLRequest: ${(error as Error).message}`);
      return;
    }
    const relayState = url.searchParams.get("RelayState") ?? undefined;
    idp.requests.push({ ...request, relayState });
    const samlResponse = idp.buildResponse({ user: nextUser, acsUrl: request.acsUrl, audience: request.issuer, inResponseTo: request.id });
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(renderAutoPostForm(request.acsUrl, samlResponse, relayState));
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", idp.url);
    if (req.method === "GET" && url.pathname === "/metadata") {
      res.writeHead(200, { "content-type": "application/samlmetadata+xml" });
      res.end(idp.metadataXml);
    } else if (req.method === "GET" && url.pathname === "/sso") {
      answerAuthnRequest(url, res);
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(0, host);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  idp.url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  idp.entityId = `${idp.url}/metadata`;
  idp.ssoUrl = `${idp.url}/sso`;
  idp.metadataXml = renderMetadata(idp.entityId, idp.ssoUrl, idp.certPem);
  return idp;
}
