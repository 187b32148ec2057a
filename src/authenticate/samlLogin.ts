// Browser sign-in with SAML 2.0, as a service provider, done by @node-saml/node-saml: the
// assertion must be signed by the IdP's certificate (from its metadata), name this gateway as
// audience and recipient, be within its time conditions, and answer a request this gateway made
// (InResponseTo, usable once). Each assertion id is also remembered until it could no longer be
// accepted anyway, so a captured response cannot be posted again.
import { readFile } from "node:fs/promises";
import { inflateRawSync } from "node:zlib";
import { SAML, ValidateInResponseTo, type CacheItem, type CacheProvider, type Profile } from "@node-saml/node-saml";
import { DOMParser } from "@xmldom/xmldom";
import type { SamlLoginConfig } from "../config/index.js";
import { ConfigError, GatewayError } from "../errors.js";
import { policyClaims, type Identity } from "../identify/index.js";
import { LOGIN_TRANSACTION_TTL_MS } from "./loginTransactions.js";
import type { SignInStore } from "./signInStore.js";

const METADATA_NS = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG_NS = "http://www.w3.org/2000/09/xmldsig#";
const HTTP_REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/** The parts of node-saml's parsed assertion (xml2js shape) read here. */
interface SignedAssertion {
  $?: { ID?: string };
  Subject?: Array<{ SubjectConfirmation?: Array<{ SubjectConfirmationData?: Array<{ $?: { Recipient?: string; InResponseTo?: string } }> }> }>;
}

export class SamlLogin {
  readonly kind = "saml";
  readonly acsUrl: string;
  readonly spEntityId: string;

  private constructor(
    readonly config: SamlLoginConfig,
    private readonly saml: SAML,
    private readonly store: SignInStore,
    urls: { acsUrl: string; spEntityId: string },
    private readonly idpEntityId: string | undefined,
  ) {
    this.acsUrl = urls.acsUrl;
    this.spEntityId = urls.spEntityId;
  }

  static async create(config: SamlLoginConfig, publicUrl: string, store: SignInStore): Promise<SamlLogin> {
    const idp = await readIdentityProvider(config);
    const base = publicUrl.replace(/\/$/, "");
    const acsUrl = `${base}/auth/saml/${config.id}/acs`;
    const spEntityId = config.sp_entity_id ?? `${base}/auth/saml/${config.id}/metadata`;
    const saml = new SAML({
      callbackUrl: acsUrl,
      entryPoint: idp.ssoUrl,
      issuer: spEntityId,
      audience: spEntityId,
      idpCert: idp.certificates,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: config.clock_skew_s * 1000,
      maxAssertionAgeMs: config.max_assertion_age_s * 1000,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: LOGIN_TRANSACTION_TTL_MS,
      cacheProvider: new OutstandingRequests(store),
      identifierFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
      disableRequestedAuthnContext: true,
    });
    return new SamlLogin(config, saml, store, { acsUrl, spEntityId }, idp.entityId);
  }

  get id(): string {
    return this.config.id;
  }

  /** The IdP URL (HTTP-Redirect binding, with a fresh AuthnRequest) to send the browser to, and
   * the AuthnRequest's ID, which the signed assertion must answer. */
  async start(relayState: string): Promise<{ redirect: string; requestId: string }> {
    const redirect = await this.saml.getAuthorizeUrlAsync(relayState, undefined, {});
    // SAML bindings §3.4.4.1: SAMLRequest is base64 of the DEFLATE-compressed AuthnRequest.
    const request = inflateRawSync(Buffer.from(new URL(redirect).searchParams.get("SAMLRequest") ?? "", "base64")).toString("utf8");
    const requestId = new DOMParser({ errorHandler: () => undefined }).parseFromString(request, "text/xml").documentElement?.getAttribute("ID");
    if (!requestId) throw new Error("node-saml produced an AuthnRequest without an ID");
    return { redirect, requestId };
  }

  /** Validates the posted SAMLResponse, which must answer `requestId`, and returns the person it vouches for. */
  async accept(form: { SAMLResponse?: string; RelayState?: string }, requestId: string): Promise<Identity> {
    if (typeof form.SAMLResponse !== "string" || form.SAMLResponse === "") throw rejected("the form carries no SAMLResponse");
    let profile: Profile | null;
    try {
      ({ profile } = await this.saml.validatePostResponseAsync({ SAMLResponse: form.SAMLResponse, ...(form.RelayState ? { RelayState: form.RelayState } : {}) }));
    } catch (error) {
      throw rejected(`the SAML response was not accepted (${(error as Error).message.slice(0, 200)})`, error);
    }
    if (!profile?.nameID) throw rejected("the assertion names no subject");
    this.checkAddressedToUs(profile, requestId);
    await this.rememberAssertion(profile);
    const attributes = (profile.attributes ?? {}) as Record<string, unknown>;
    const groups = attributes[this.config.groups_attribute];
    const name = attributes[this.config.name_attribute];
    return {
      subject: `saml:${this.config.id}:${profile.nameID}`,
      kind: "saml",
      groups: (Array.isArray(groups) ? groups : groups === undefined ? [] : [groups]).filter((g): g is string => typeof g === "string"),
      auth_method: "browser-session",
      credential_id: "",
      issuer: profile.issuer,
      ...(typeof name === "string" ? { name } : {}),
      claims: policyClaims(attributes),
    };
  }

  metadataXml(): string {
    return this.saml.generateServiceProviderMetadata(null);
  }

  // node-saml checks signature, audience, time and InResponseTo, but on login not the issuer nor
  // where the response was addressed; SAML profiles §4.1.4.3 requires both.
  // The InResponseTo node-saml checks is read from the Response, which need not be signed; the
  // signed assertion's own must name the request this sign-in made, or an IdP-initiated
  // assertion could be wrapped in a response claiming to answer it.
  private checkAddressedToUs(profile: Profile, requestId: string): void {
    if (this.idpEntityId && profile.issuer !== this.idpEntityId) throw rejected("the assertion was issued by another identity provider");
    const assertion = profile.getAssertion?.() as { Assertion?: SignedAssertion } | undefined;
    const confirmations = (assertion?.Assertion?.Subject?.[0]?.SubjectConfirmation ?? []).map((confirmation) => confirmation.SubjectConfirmationData?.[0]?.$ ?? {});
    if (!confirmations.some((data) => data.Recipient === this.acsUrl)) throw rejected("the assertion's Recipient is not this gateway's ACS URL");
    if (!confirmations.some((data) => data.InResponseTo === requestId)) throw rejected("the signed assertion does not answer this sign-in's request (InResponseTo)");
    const responseXml = profile.getSamlResponseXml?.();
    const destination = responseXml && new DOMParser({ errorHandler: () => undefined }).parseFromString(responseXml, "text/xml").documentElement?.getAttribute("Destination");
    if (destination && destination !== this.acsUrl) throw rejected("the response's Destination is not this gateway's ACS URL");
  }

  private async rememberAssertion(profile: Profile): Promise<void> {
    const assertion = profile.getAssertion?.() as { Assertion?: SignedAssertion } | undefined;
    const assertionId = assertion?.Assertion?.$?.ID;
    if (!assertionId) throw rejected("the assertion has no ID");
    const now = Date.now();
    // Older assertions fail max_assertion_age_s anyway, so ids need keeping only that long.
    const forgetAfter = now + (this.config.max_assertion_age_s + 2 * this.config.clock_skew_s) * 1000;
    if (!(await this.store.rememberSamlAssertion(this.config.id, assertionId, forgetAfter, now))) throw rejected("the assertion was already used (replayed)");
  }
}

/** node-saml's store of AuthnRequest ids awaiting a response (InResponseTo), kept with the sign-ins. */
class OutstandingRequests implements CacheProvider {
  constructor(private readonly store: SignInStore) {}

  private lastPurge = 0;

  async saveAsync(key: string, value: string): Promise<CacheItem | null> {
    const createdAt = Date.now();
    if (createdAt - this.lastPurge >= 30_000) {
      this.lastPurge = createdAt;
      await this.store.purgeSamlRequests(createdAt - LOGIN_TRANSACTION_TTL_MS);
    }
    return (await this.store.saveSamlRequest(key, createdAt)) ? { value, createdAt } : null;
  }

  async getAsync(key: string): Promise<string | null> {
    const createdAt = await this.store.samlRequestCreatedAt(key, Date.now() - LOGIN_TRANSACTION_TTL_MS);
    return createdAt === undefined ? null : new Date(createdAt).toISOString();
  }

  async removeAsync(key: string | null): Promise<string | null> {
    if (key === null) return null;
    return (await this.store.removeSamlRequest(key)) ? key : null;
  }
}

async function readIdentityProvider(config: SamlLoginConfig): Promise<{ ssoUrl: string; certificates: string[]; entityId?: string }> {
  const where = `identity.login.saml ${config.id}`;
  if (!config.idp_metadata_file) {
    const certificate = await readFile(config.idp_certificate_file!, "utf8").catch((error: Error) => {
      throw new ConfigError(`${where}: cannot read idp_certificate_file: ${error.message}`);
    });
    return { ssoUrl: config.idp_sso_url!, certificates: [certificate], ...(config.idp_entity_id ? { entityId: config.idp_entity_id } : {}) };
  }
  const xml = await readFile(config.idp_metadata_file, "utf8").catch((error: Error) => {
    throw new ConfigError(`${where}: cannot read idp_metadata_file: ${error.message}`);
  });
  return parseIdpMetadata(xml, where, config.idp_entity_id);
}

/** Reads the signing certificates and HTTP-Redirect SSO URL from IdP metadata (SAML 2.0 metadata §2.4.3). */
function parseIdpMetadata(xml: string, where: string, expectedEntityId?: string): { ssoUrl: string; certificates: string[]; entityId: string } {
  const document = new DOMParser({ errorHandler: () => undefined }).parseFromString(xml, "text/xml");
  const entity = document.getElementsByTagNameNS(METADATA_NS, "EntityDescriptor")[0];
  const idp = entity?.getElementsByTagNameNS(METADATA_NS, "IDPSSODescriptor")[0];
  if (!entity || !idp) throw new ConfigError(`${where}: the metadata has no EntityDescriptor with an IDPSSODescriptor`);
  const entityId = entity.getAttribute("entityID") ?? "";
  if (expectedEntityId && entityId !== expectedEntityId) throw new ConfigError(`${where}: the metadata is for ${entityId}, not ${expectedEntityId}`);
  const certificates = Array.from(idp.getElementsByTagNameNS(METADATA_NS, "KeyDescriptor"))
    .filter((key) => key.getAttribute("use") !== "encryption")
    .flatMap((key) => Array.from(key.getElementsByTagNameNS(DSIG_NS, "X509Certificate")))
    .map((element) => (element.textContent ?? "").replace(/\s+/g, ""))
    .filter(Boolean)
    .map((body) => `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`);
  if (certificates.length === 0) throw new ConfigError(`${where}: the metadata has no signing certificate`);
  const sso = Array.from(idp.getElementsByTagNameNS(METADATA_NS, "SingleSignOnService")).find((service) => service.getAttribute("Binding") === HTTP_REDIRECT_BINDING);
  const ssoUrl = sso?.getAttribute("Location");
  if (!ssoUrl) throw new ConfigError(`${where}: the metadata has no HTTP-Redirect SingleSignOnService`);
  return { ssoUrl, certificates, entityId };
}

function rejected(why: string, cause?: unknown): GatewayError {
  return new GatewayError(401, "PC_SAML_REJECTED", `Sign-in failed: ${why}.`, { cause });
}
