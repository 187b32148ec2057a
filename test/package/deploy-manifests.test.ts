// The deployment artifacts as specifications. The Kubernetes manifests are rendered as kustomize
// renders them and each object is validated against the Kubernetes API schema of its kind
// (kubernetes-models, generated from the Kubernetes OpenAPI spec). Then the properties that make
// Portcullis the only path to LangGraph, keep it unprivileged and let it drain are asserted on
// the rendered objects, on compose.yaml and on the Dockerfile. Every check also runs against a
// copy broken in the way it guards against, so none of them can pass vacuously.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { NetworkPolicy, type INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import { Secret, type ISecret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import type { PortcullisConfig } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";

const run = promisify(execFile);
const KUSTOMIZE_DIR = "deploy/kubernetes";
/** The label the LangGraph server's pods carry (deploy/kubernetes/kustomization.yaml says so). */
const LANGGRAPH_POD_LABELS = { "app.kubernetes.io/name": "langgraph" };
const GATEWAY_DATA_DIR = "/var/lib/portcullis";

type Labels = Record<string, string>;
interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

// ---------------------------------------------------------------- rendering

/**
 * Kubernetes reads manifests as YAML 1.1 (sigs.k8s.io/yaml), where `0440` is octal; the yaml
 * package defaults to 1.2, where it is decimal 440.
 */
function parseKubernetesYaml(text: string, source: string): object[] {
  return parseAllDocuments(text, { version: "1.1" }).flatMap((document) => {
    assert.deepEqual(document.errors.map((error) => error.message), [], `${source} is not valid YAML`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return [];
    assert.equal(typeof value, "object", `${source}: every document is an object`);
    return [value as object];
  });
}

/** kustomize's rendering when the only feature used is `resources`: the listed files, in order. */
async function renderListedFiles(): Promise<object[]> {
  const kustomization = parseYaml(await readFile(path.join(KUSTOMIZE_DIR, "kustomization.yaml"), "utf8")) as Record<string, unknown>;
  // Any transformer (namePrefix, images, patches, generators) would make this rendering differ
  // from kustomize's; the base keeps to plain resources and overlays do the rest.
  assert.deepEqual(Object.keys(kustomization).sort(), ["apiVersion", "kind", "resources"]);
  const resources = kustomization.resources as string[];
  const objects: object[] = [];
  for (const file of resources) objects.push(...parseKubernetesYaml(await readFile(path.join(KUSTOMIZE_DIR, file), "utf8"), file));
  return objects;
}

async function renderWithKustomize(): Promise<object[] | undefined> {
  for (const [command, args] of [["kubectl", ["kustomize", KUSTOMIZE_DIR]], ["kustomize", ["build", KUSTOMIZE_DIR]]] as const) {
    try {
      const { stdout } = await run(command, [...args], { maxBuffer: 16 * 1024 * 1024 });
      return parseKubernetesYaml(stdout, `${command} ${args.join(" ")}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return undefined;
}

const listedObjects = await renderListedFiles();
const kustomizeObjects = await renderWithKustomize();

interface Manifests {
  objects: object[];
  exampleSecret: ISecret;
  kustomizationText: string;
}

const manifests: Manifests = {
  objects: kustomizeObjects ?? listedObjects,
  exampleSecret: parseKubernetesYaml(await readFile(path.join(KUSTOMIZE_DIR, "secret.example.yaml"), "utf8"), "secret.example.yaml")[0] as ISecret,
  kustomizationText: await readFile(path.join(KUSTOMIZE_DIR, "kustomization.yaml"), "utf8"),
};

// ---------------------------------------------------------------- reading the rendered objects

function key(object: object): string {
  const { kind, metadata } = object as { kind?: string; metadata?: { name?: string } };
  return `${kind}/${metadata?.name}`;
}

function theGateway(m: Manifests): IDeployment {
  const deployments = m.objects.filter(Deployment.is);
  assert.equal(deployments.length, 1, "one Deployment: the gateway");
  return deployments[0]!;
}

function gatewayContainer(deployment: IDeployment): IContainer {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === "portcullis");
  assert.ok(container, "the Deployment has a container named portcullis");
  return container;
}

function podLabels(deployment: IDeployment): Labels {
  const labels = deployment.spec?.template.metadata?.labels ?? {};
  assert.ok(Object.keys(labels).length > 0, "the pod template has labels");
  return labels;
}

/** The label-selector semantics of the Kubernetes API (an empty selector selects everything). */
function selects(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (!selector) return false;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([name, value]) => labels[name] === value);
  const byExpressions = (selector.matchExpressions ?? []).every(({ key: name, operator, values = [] }) => {
    const value = labels[name];
    if (operator === "In") return value !== undefined && values.includes(value);
    if (operator === "NotIn") return value === undefined || !values.includes(value);
    if (operator === "Exists") return value !== undefined;
    if (operator === "DoesNotExist") return value === undefined;
    throw new Error(`unknown label selector operator ${operator}`);
  });
  return byLabels && byExpressions;
}

/** The gateway configuration the Deployment starts with: its --config file, found through its mounts. */
function mountedConfig(m: Manifests): PortcullisConfig {
  const deployment = theGateway(m);
  const container = gatewayContainer(deployment);
  const args = container.args ?? [];
  const flag = args.indexOf("--config");
  const configPath = (flag >= 0 ? args[flag + 1] : undefined) ?? container.env?.find((e) => e.name === "PORTCULLIS_CONFIG")?.value;
  assert.ok(configPath !== undefined && configPath.startsWith("/"), "the container names its config file with --config or PORTCULLIS_CONFIG");
  const mount = container.volumeMounts?.find((vm) => configPath.startsWith(`${vm.mountPath}/`));
  assert.ok(mount, `${configPath} is on a volume mount`);
  const volume = deployment.spec?.template.spec?.volumes?.find((v) => v.name === mount.name);
  assert.ok(volume?.configMap, `the volume at ${mount.mountPath} is a ConfigMap`);
  const relative = path.posix.relative(mount.mountPath, configPath);
  const dataKey = volume.configMap.items ? volume.configMap.items.find((item) => item.path === relative)?.key : relative;
  const configMap = m.objects.filter(ConfigMap.is).find((c) => c.metadata?.name === volume.configMap?.name);
  assert.ok(configMap, `ConfigMap ${volume.configMap.name} is rendered`);
  const text = dataKey === undefined ? undefined : configMap.data?.[dataKey];
  assert.ok(text, `ConfigMap ${volume.configMap.name} holds ${relative}`);
  // The gateway parses its file as YAML 1.2 (the yaml package's default), like loadConfigFile.
  return parseConfig(parseYaml(text), `ConfigMap ${volume.configMap.name}`);
}

function containerPortOf(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === "number") return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

function upstreamPort(config: PortcullisConfig): number {
  const url = new URL(config.upstream.url);
  return Number(url.port || (url.protocol === "https:" ? 443 : 80));
}

/** Where the configuration reads its secrets from: `{ env: NAME }` or `{ file: PATH }` sources. */
function secretSources(value: unknown, kind: "env" | "file"): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => secretSources(item, kind));
  if (value === null || typeof value !== "object") return [];
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0]![0] === kind && typeof entries[0]![1] === "string") return [entries[0]![1]];
  return entries.flatMap(([, child]) => secretSources(child, kind));
}

/** Files the gateway writes, and files it reads, according to its configuration. */
function configFiles(config: PortcullisConfig): { path: string; access: "read" | "write" }[] {
  return [
    { path: config.storage.sqlite_file, access: "write" as const },
    ...(config.audit.store.kind === "sqlite" ? [{ path: config.audit.store.file, access: "write" as const }] : []),
    // Created on first start when missing; several replicas must be given the same one.
    { path: config.audit.signing_key_file, access: "read" as const },
    ...(config.policy.file ? [{ path: config.policy.file, access: "read" as const }] : []),
    ...secretSources(config, "file").map((file) => ({ path: file, access: "read" as const })),
  ];
}

// ---------------------------------------------------------------- Kubernetes checks

async function validateAgainstKubernetesSchemas(m: Manifests): Promise<void> {
  const problems: string[] = [];
  for (const object of m.objects) {
    const { apiVersion, kind } = object as { apiVersion?: string; kind?: string };
    let model: (new (data: object) => { validate(): void }) | undefined;
    try {
      const module = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, unknown>;
      model = module[kind ?? ""] as typeof model;
    } catch {
      model = undefined;
    }
    if (!model) {
      problems.push(`${key(object)}: no Kubernetes schema for ${apiVersion} ${kind}`);
      continue;
    }
    try {
      new model(object).validate();
    } catch (error) {
      problems.push(`${key(object)}: ${(error as Error).message}`);
    }
  }
  assert.deepEqual(problems, []);
}

function probesUseHealthEndpoints(m: Manifests): void {
  const container = gatewayContainer(theGateway(m));
  const config = mountedConfig(m);
  const expected = { readinessProbe: "/readyz", livenessProbe: "/healthz", startupProbe: "/healthz" } as const;
  for (const [probe, pathExpected] of Object.entries(expected) as [keyof typeof expected, string][]) {
    const httpGet = container[probe]?.httpGet;
    assert.ok(httpGet, `${probe} is an HTTP GET`);
    assert.equal(httpGet.path, pathExpected, `${probe} path`);
    assert.equal(containerPortOf(container, httpGet.port), config.listen.port, `${probe} reaches the gateway's listen.port`);
    assert.equal(container.ports?.some((p) => p.containerPort === config.listen.port), true, "the container declares listen.port");
  }
}

function runsUnprivileged(m: Manifests): void {
  const pod = theGateway(m).spec?.template.spec;
  gatewayContainer(theGateway(m));
  for (const container of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
    const sc = container.securityContext;
    const what = `container ${container.name}`;
    assert.equal(sc?.runAsNonRoot ?? pod?.securityContext?.runAsNonRoot, true, `${what}: runAsNonRoot`);
    for (const uid of [pod?.securityContext?.runAsUser, sc?.runAsUser]) assert.ok(uid === undefined || uid > 0, `${what}: a non-zero uid`);
    assert.equal(sc?.readOnlyRootFilesystem, true, `${what}: readOnlyRootFilesystem`);
    assert.equal(sc?.allowPrivilegeEscalation, false, `${what}: allowPrivilegeEscalation`);
    assert.notEqual(sc?.privileged, true, `${what}: not privileged`);
    assert.deepEqual(sc?.capabilities?.drop, ["ALL"], `${what}: every capability dropped`);
    assert.deepEqual(sc?.capabilities?.add ?? [], [], `${what}: no capability added`);
    assert.equal(sc?.seccompProfile?.type ?? pod?.securityContext?.seccompProfile?.type, "RuntimeDefault", `${what}: seccomp RuntimeDefault`);
  }
  assert.equal(pod?.automountServiceAccountToken, false, "no Kubernetes API token in the pod");
  assert.notEqual(pod?.hostNetwork, true, "not on the host network");
}

function filesLieOnVolumes(m: Manifests): void {
  const deployment = theGateway(m);
  const container = gatewayContainer(deployment);
  const volumes = deployment.spec?.template.spec?.volumes ?? [];
  const config = mountedConfig(m);
  const mountFor = (file: string) =>
    (container.volumeMounts ?? []).filter((vm) => file.startsWith(`${vm.mountPath}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  // With a read-only root filesystem, everything written must land on a volume, evidence exports
  // assembled for download included.
  const exportDir = config.console.export_dir ?? "/tmp";
  for (const { path: file, access } of [...configFiles(config), { path: `${exportDir}/export`, access: "write" as const }]) {
    assert.ok(path.posix.isAbsolute(file), `${file} is absolute (the working directory is not a volume)`);
    const mount = mountFor(file);
    assert.ok(mount, `${file} is on a volume mount`);
    const volume = volumes.find((v) => v.name === mount.name);
    assert.ok(volume, `volume ${mount.name} exists`);
    if (access === "write") {
      assert.notEqual(mount.readOnly, true, `${mount.mountPath} is writable for ${file}`);
      assert.ok(volume.emptyDir || volume.persistentVolumeClaim || volume.ephemeral, `${file} is on an emptyDir or a claim`);
    }
    const items = volume.secret?.items ?? volume.configMap?.items;
    if (items) assert.ok(items.some((item) => item.path === path.posix.relative(mount.mountPath, file)), `${file} is projected from ${mount.name}`);
  }
  assert.ok(mountFor(`${GATEWAY_DATA_DIR}/state.db`), `${GATEWAY_DATA_DIR} is a volume`);
}

/**
 * Replicas on one ledger sign with one key, or every start adds a key to the key history and
 * auditors cannot pin one. The gateway wants its key file private and writable, which a Secret
 * volume is not, so an init container copies it from the Secret, mode 0600.
 */
function everyReplicaSignsWithTheSecretKey(m: Manifests): void {
  const pod = theGateway(m).spec?.template.spec;
  const keyFile = mountedConfig(m).audit.signing_key_file;
  const copier = (pod?.initContainers ?? []).find((c) => c.command?.at(-1) === keyFile);
  assert.ok(copier, `an init container writes ${keyFile}`);
  const [program, modeFlag, mode, source] = copier.command ?? [];
  assert.equal(program, "install", "it copies with install, which sets the mode as it writes");
  assert.equal(modeFlag, "-m");
  assert.ok(mode !== undefined && /^0?[0-7]{3}$/.test(mode) && (parseInt(mode, 8) & 0o077) === 0, `the copy is private to the gateway's user (mode ${mode})`);
  const mountOf = (container: IContainer, file: string) => container.volumeMounts?.find((vm) => file.startsWith(`${vm.mountPath}/`));
  const from = source === undefined ? undefined : mountOf(copier, source);
  const volume = pod?.volumes?.find((v) => v.name === from?.name);
  assert.ok(source && from && volume?.secret, `${source} is on a Secret volume`);
  const item = volume.secret.items?.find((i) => i.path === path.posix.relative(from.mountPath, source));
  assert.ok(!volume.secret.items || item, `${source} is projected from the Secret`);
  const secretMode = item?.mode ?? volume.secret.defaultMode ?? 0o644;
  assert.equal(secretMode & ~0o440, 0, `the Secret's file is readable by its owner and group only (mode ${secretMode.toString(8)})`);
  assert.equal(mountOf(copier, keyFile)?.name, mountOf(gatewayContainer(theGateway(m)), keyFile)?.name, "the copy lands on the volume the gateway reads it from");
}

function secretsComeFromSecrets(m: Manifests): void {
  const container = gatewayContainer(theGateway(m));
  const config = mountedConfig(m);
  const names = secretSources(config, "env");
  assert.ok(names.length > 0, "the configuration reads secrets from the environment");
  for (const name of names) {
    const variable = container.env?.find((e) => e.name === name);
    assert.ok(variable?.valueFrom?.secretKeyRef, `${name} comes from a Secret (secretKeyRef), not a literal value`);
  }
  const documented = new Set(Object.keys({ ...m.exampleSecret.stringData, ...m.exampleSecret.data }));
  const references = [
    ...(container.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : [])),
    ...(theGateway(m).spec?.template.spec?.volumes ?? []).flatMap((v) => (v.secret ? (v.secret.items ?? []).map((item) => ({ name: v.secret?.secretName, key: item.key })) : [])),
  ];
  for (const reference of references) {
    assert.equal(reference.name, m.exampleSecret.metadata?.name, "every reference names the example's Secret");
    assert.ok(documented.has(reference.key), `secret.example.yaml documents the key ${reference.key}`);
  }
}

function shipsNoSecrets(m: Manifests): void {
  assert.deepEqual(m.objects.filter(Secret.is).map(key), [], "no Secret is rendered: values are created out of band");
  assert.ok(!(parseYaml(m.kustomizationText) as { resources: string[] }).resources.includes("secret.example.yaml"), "kustomization.yaml does not list the example Secret");
  for (const [name, value] of Object.entries(m.exampleSecret.stringData ?? {})) assert.match(value, /REPLACE_ME/, `the example's ${name} is a placeholder`);
  assert.deepEqual(m.exampleSecret.data ?? {}, {}, "the example carries no encoded values");
}

function outlivesTheDrain(m: Manifests): void {
  const deployment = theGateway(m);
  const config = mountedConfig(m);
  const preStopSeconds = gatewayContainer(deployment).lifecycle?.preStop?.sleep?.seconds ?? 0;
  const grace = deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 30;
  assert.ok(grace > preStopSeconds + config.shutdown.drain_ms / 1000, `terminationGracePeriodSeconds ${grace} > preStop ${preStopSeconds} s + drain ${config.shutdown.drain_ms / 1000} s`);
}

function replicasShareOneLedger(m: Manifests): void {
  const deployment = theGateway(m);
  const config = mountedConfig(m);
  assert.ok((deployment.spec?.replicas ?? 1) >= 2, "at least two replicas");
  assert.equal(config.audit.store.kind, "postgres", "several replicas need the PostgreSQL ledger (approvals and sessions live beside it)");
  assert.equal(config.listen.host, "0.0.0.0", "the gateway listens on the pod's addresses");
}

function serviceReachesTheGateway(m: Manifests): void {
  const deployment = theGateway(m);
  const container = gatewayContainer(deployment);
  const config = mountedConfig(m);
  const services = m.objects.filter(Service.is);
  assert.equal(services.length, 1, "one Service");
  const service = services[0]!;
  assert.ok(Object.keys(service.spec?.selector ?? {}).length > 0 && selects({ matchLabels: service.spec?.selector }, podLabels(deployment)), "the Service selects the gateway pods");
  for (const port of service.spec?.ports ?? []) assert.equal(containerPortOf(container, port.targetPort ?? port.port), config.listen.port, "the Service targets listen.port");
}

function disruptionBudgetLetsNodesDrain(m: Manifests): void {
  const deployment = theGateway(m);
  const budgets = m.objects.filter(PodDisruptionBudget.is);
  assert.equal(budgets.length, 1, "one PodDisruptionBudget");
  const spec = budgets[0]!.spec;
  assert.ok(selects(spec?.selector, podLabels(deployment)), "the budget selects the gateway pods");
  const replicas = deployment.spec?.replicas ?? 1;
  assert.equal(typeof spec?.minAvailable, "number", "minAvailable as a count");
  assert.ok((spec?.minAvailable as number) >= 1 && (spec?.minAvailable as number) < replicas, "one replica may be evicted, never all");
}

function onlyTheGatewayReachesLangGraph(m: Manifests): void {
  const gatewayLabels = podLabels(theGateway(m));
  const port = upstreamPort(mountedConfig(m));
  // NetworkPolicies add up: every policy that selects the LangGraph pods must keep to the gateway.
  const policies = m.objects.filter(NetworkPolicy.is).filter((np) => selects(np.spec?.podSelector, LANGGRAPH_POD_LABELS));
  assert.ok(policies.length > 0, "a NetworkPolicy selects the LangGraph pods");
  for (const np of policies) {
    const spec = np.spec!;
    assert.ok(Object.keys(spec.podSelector.matchLabels ?? {}).length > 0, `${key(np)} selects by label, not every pod`);
    assert.ok(!spec.policyTypes || spec.policyTypes.includes("Ingress"), `${key(np)} isolates ingress`);
    for (const rule of spec.ingress ?? []) {
      assert.ok(rule.from && rule.from.length > 0, `${key(np)}: every ingress rule names its sources`);
      for (const peer of rule.from) {
        assert.deepEqual(Object.keys(peer), ["podSelector"], `${key(np)}: sources are pods in this namespace only (no namespaceSelector, no ipBlock)`);
        assert.ok(selects(peer.podSelector, gatewayLabels), `${key(np)}: the source selector selects the gateway pods`);
        assert.ok(!selects(peer.podSelector, {}) && !selects(peer.podSelector, LANGGRAPH_POD_LABELS), `${key(np)}: the source selector selects only the gateway`);
      }
    }
  }
  const admitsGateway = policies.some((np) =>
    (np.spec?.ingress ?? []).some((rule) => (rule.from ?? []).some((peer) => selects(peer.podSelector, gatewayLabels)) && (!rule.ports || rule.ports.some((p) => p.port === port))),
  );
  assert.ok(admitsGateway, `the gateway may reach LangGraph on port ${port} (upstream.url)`);
}

function gatewayTrafficIsPinned(m: Manifests): void {
  const deployment = theGateway(m);
  const container = gatewayContainer(deployment);
  const config = mountedConfig(m);
  const policies = m.objects.filter(NetworkPolicy.is).filter((np) => selects(np.spec?.podSelector, podLabels(deployment)));
  assert.equal(policies.length, 1, "one NetworkPolicy selects the gateway pods");
  const spec = policies[0]!.spec!;
  assert.deepEqual([...(spec.policyTypes ?? [])].sort(), ["Egress", "Ingress"], "it isolates both directions");
  for (const rule of spec.ingress ?? []) {
    assert.ok(rule.ports && rule.ports.length > 0, "ingress rules name their ports");
    for (const p of rule.ports) assert.equal(containerPortOf(container, p.port), config.listen.port, "clients reach listen.port only");
  }
  const toLangGraph = (spec.egress ?? []).some(
    (rule) => (rule.to ?? []).some((peer) => selects(peer.podSelector, LANGGRAPH_POD_LABELS)) && (rule.ports ?? []).some((p) => p.port === upstreamPort(config)),
  );
  assert.ok(toLangGraph, "egress to the LangGraph pods on the upstream port");
}

// ---------------------------------------------------------------- compose checks

interface ComposeService {
  ports?: unknown[];
  volumes?: string[];
  environment?: Record<string, string> | string[];
  secrets?: string[];
  networks?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  read_only?: boolean;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  networks?: Record<string, { internal?: boolean } | null>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file: string }>;
}
interface ComposeProject {
  compose: ComposeFile;
  /** Files on the host by path, as compose.yaml mounts them. */
  files: Record<string, string>;
}

const composeText = await readFile("compose.yaml", "utf8");
const compose: ComposeProject = { compose: parseYaml(composeText) as ComposeFile, files: {} };
for (const volume of compose.compose.services.portcullis?.volumes ?? []) {
  const source = volume.split(":")[0]!;
  if (source.startsWith("./")) compose.files[source] = await readFile(source, "utf8");
}

function composeGateway(p: ComposeProject): ComposeService {
  const gateway = p.compose.services.portcullis;
  assert.ok(gateway, "a service named portcullis");
  return gateway;
}

function composeGatewayConfig(p: ComposeProject): PortcullisConfig {
  const gateway = composeGateway(p);
  const environment = Array.isArray(gateway.environment) ? Object.fromEntries(gateway.environment.map((e) => e.split("="))) : (gateway.environment ?? {});
  const configPath = (environment as Record<string, string>).PORTCULLIS_CONFIG ?? "/etc/portcullis/portcullis.yaml";
  const mount = (gateway.volumes ?? []).map((v) => v.split(":")).find(([, target]) => target === configPath);
  assert.ok(mount, `${configPath} is mounted into the gateway`);
  const text = p.files[mount[0]!];
  assert.ok(text !== undefined, `${mount[0]} exists`);
  return parseConfig(parseYaml(text), mount[0]);
}

function durationSeconds(text: string): number {
  let seconds = 0;
  for (const [, value, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) seconds += Number(value) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit as "ms" | "s" | "m" | "h"];
  return seconds;
}

function composeConfigIsValidAndShared(p: ComposeProject): void {
  const config = composeGatewayConfig(p);
  assert.equal(config.audit.store.kind, "postgres", "the ledger is in the postgres service");
  assert.equal(config.listen.host, "0.0.0.0", "the gateway listens on the container's addresses");
  assert.equal(new URL(config.upstream.url).hostname, "langgraph", "the upstream is the langgraph service");
}

function composeLangGraphIsBehindTheGateway(p: ComposeProject): void {
  const { services, networks = {} } = p.compose;
  const langgraph = services.langgraph;
  assert.ok(langgraph, "a service named langgraph");
  assert.deepEqual(langgraph.ports ?? [], [], "LangGraph publishes no port");
  const ownDependencies = Object.keys(langgraph.depends_on ?? {});
  for (const network of langgraph.networks ?? []) {
    assert.equal(networks[network]?.internal, true, `network ${network} is internal`);
    const members = Object.entries(services).filter(([, s]) => s.networks?.includes(network)).map(([name]) => name);
    for (const member of members) assert.ok(["langgraph", "portcullis", ...ownDependencies].includes(member), `${member} shares network ${network} with LangGraph`);
  }
  assert.ok((langgraph.networks ?? []).some((n) => composeGateway(p).networks?.includes(n)), "the gateway shares a network with LangGraph");
  for (const [name, service] of Object.entries(services)) if (name !== "portcullis") assert.deepEqual(service.ports ?? [], [], `${name} publishes no port`);
}

function composeStartsInOrderAndDrains(p: ComposeProject): void {
  const gateway = composeGateway(p);
  for (const dependency of ["postgres", "langgraph"]) {
    assert.equal(gateway.depends_on?.[dependency]?.condition, "service_healthy", `the gateway waits for ${dependency} to be healthy`);
    assert.ok(p.compose.services[dependency]?.healthcheck?.test.length, `${dependency} has a healthcheck`);
  }
  assert.ok(gateway.healthcheck?.test.some((part) => /\/(readyz|healthz)/.test(part)), "the gateway's healthcheck asks the gateway");
  const grace = durationSeconds(gateway.stop_grace_period ?? "10s");
  assert.ok(grace > composeGatewayConfig(p).shutdown.drain_ms / 1000, `stop_grace_period ${grace} s outlasts the drain`);
}

function composeSecretsAndDataAreMounted(p: ComposeProject): void {
  const gateway = composeGateway(p);
  const config = composeGatewayConfig(p);
  assert.deepEqual(secretSources(config, "env"), [], "secrets are files, not environment variables");
  for (const { path: file, access } of configFiles(config)) {
    if (file.startsWith("/run/secrets/")) {
      const name = path.posix.basename(file);
      assert.ok(gateway.secrets?.includes(name), `the gateway is given secret ${name}`);
      assert.ok(p.compose.secrets?.[name]?.file, `secret ${name} is defined from a file`);
      continue;
    }
    const volume = (gateway.volumes ?? []).map((v) => v.split(":")).find(([, target]) => file.startsWith(`${target}/`));
    assert.ok(volume, `${file} is on a volume`);
    if (access === "write") {
      assert.notEqual(volume[2], "ro", `${file} is writable`);
      assert.ok(volume[0]! in (p.compose.volumes ?? {}), `${file} is on a named volume (it keeps the image's ownership of ${volume[1]})`);
    }
  }
  assert.equal(gateway.read_only, true, "the root filesystem is read-only");
}

// ---------------------------------------------------------------- Dockerfile checks

interface Instruction {
  name: string;
  args: string;
}

function dockerfileStages(text: string): Instruction[][] {
  const logical = text
    .replace(/\\\r?\n(?:\s*#[^\n]*\n)*/g, " ")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const [, name = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { name: name.toUpperCase(), args };
    if (instruction.name === "FROM") stages.push([]);
    if (instruction.name === "ARG" && stages.length === 0) continue;
    assert.ok(stages.length > 0, `${instruction.name} before the first FROM`);
    stages.at(-1)!.push(instruction);
  }
  return stages;
}

const dockerfileText = await readFile("Dockerfile", "utf8");

function finalStage(text: string): Instruction[] {
  const stages = dockerfileStages(text);
  assert.ok(stages.length >= 2, "a multi-stage build");
  return stages.at(-1)!;
}

function finalStageRunsAsNumericNonRoot(text: string): void {
  const users = finalStage(text).filter((i) => i.name === "USER");
  assert.ok(users.length > 0, "the final stage sets USER");
  const [uid, gid] = users.at(-1)!.args.split(":");
  for (const id of [uid, gid]) if (id !== undefined) assert.match(id, /^[1-9]\d*$/, `USER ${users.at(-1)!.args} is numeric and not root`);
}

function finalStageChecksItsHealth(text: string): void {
  const stage = finalStage(text);
  const healthcheck = stage.find((i) => i.name === "HEALTHCHECK");
  assert.ok(healthcheck, "a HEALTHCHECK");
  assert.match(healthcheck.args, /CMD\s+\[\s*"node"/, "the health check runs node (no curl in the image)");
  assert.match(healthcheck.args, /\/healthz\b/, "it asks /healthz (liveness)");
  assert.equal(stage.find((i) => i.name === "STOPSIGNAL")?.args, "SIGTERM", "STOPSIGNAL SIGTERM starts the drain");
  assert.match(stage.find((i) => i.name === "ENTRYPOINT")?.args ?? "", /"start"\s*\]/, "the entrypoint is portcullis start");
  const volumes = stage.filter((i) => i.name === "VOLUME").map((i) => i.args).join(" ");
  for (const dir of ["/etc/portcullis", GATEWAY_DATA_DIR]) assert.ok(volumes.includes(`"${dir}"`), `VOLUME ${dir}`);
  assert.ok(stage.some((i) => i.name === "EXPOSE" && i.args.split(/\s+/).includes(String(composeGatewayConfig(compose).listen.port))), "EXPOSE the listen port");
}

function finalStageHasNoBuildTools(text: string): void {
  const stage = finalStage(text);
  for (const { args } of stage.filter((i) => i.name === "RUN")) {
    assert.doesNotMatch(args, /\b(apt-get|apt|apk|dnf|yum|microdnf)\b[^&;|]*\b(install|add)\b/, "the final stage installs no system package");
    assert.doesNotMatch(args, /\b(npm|npx|yarn|pnpm)\s+(install|ci|add|rebuild)\b/, "the final stage installs no npm package");
    assert.doesNotMatch(args, /(?<![\w-])(gcc|g\+\+|make|python3|build-essential|node-gyp)(?![\w-])/, "the final stage has no compiler toolchain");
  }
  for (const { args } of stage.filter((i) => i.name === "COPY" && i.args.includes("--from="))) {
    assert.doesNotMatch(args, /\/src\b|node_modules\/\.cache|\/root\/\.npm/, "only the installed release is copied in, not the build tree or npm caches");
  }
  const build = dockerfileStages(text).slice(0, -1).flat().filter((i) => i.name === "RUN").map((i) => i.args).join("\n");
  assert.match(build, /npm pack\b/, "the image installs the packed release");
  assert.match(build, /--omit=dev\b/, "without development dependencies");
}

// ---------------------------------------------------------------- the checks, and how each is broken

function replaceOnce(text: string, from: string | RegExp, to: string): string {
  const changed = text.replace(from, to);
  assert.notEqual(changed, text, `the mutation found ${String(from)}`);
  return changed;
}

function mutateGateway(m: Manifests, change: (deployment: IDeployment, container: IContainer) => void): Manifests {
  const copy = structuredClone(m);
  const deployment = theGateway(copy);
  change(deployment, gatewayContainer(deployment));
  return copy;
}

function mutateConfigMap(m: Manifests, change: (text: string) => string): Manifests {
  const copy = structuredClone(m);
  for (const configMap of copy.objects.filter(ConfigMap.is)) {
    if (configMap.data?.["portcullis.yaml"]) configMap.data["portcullis.yaml"] = change(configMap.data["portcullis.yaml"]);
  }
  return copy;
}

function mutatePolicy(m: Manifests, selector: Labels, change: (np: INetworkPolicy) => void): Manifests {
  const copy = structuredClone(m);
  const np = copy.objects.filter(NetworkPolicy.is).find((p) => selects(p.spec?.podSelector, selector));
  assert.ok(np, "the mutation found its NetworkPolicy");
  change(np);
  return copy;
}

interface Check<T> {
  name: string;
  check: (subject: T) => void | Promise<void>;
  brokenBy: Record<string, (subject: T) => T>;
}

const kubernetesChecks: Check<Manifests>[] = [
  {
    name: "every rendered object is valid against the Kubernetes schema of its apiVersion and kind",
    check: validateAgainstKubernetesSchemas,
    brokenBy: {
      "a container port written as a string": (m) => mutateGateway(m, (_, c) => {
        c.ports![0]!.containerPort = "8080" as unknown as number;
      }),
      "a Deployment without a pod selector": (m) => mutateGateway(m, (d) => {
        delete (d.spec as { selector?: unknown }).selector;
      }),
      "a kind the API does not have": (m) => ({ ...m, objects: [...m.objects, { apiVersion: "v1", kind: "Gateway", metadata: { name: "x" } }] }),
    },
  },
  {
    name: "the probes ask /readyz for readiness and /healthz for liveness and start-up, on the gateway's port",
    check: probesUseHealthEndpoints,
    brokenBy: {
      "readiness asked of /healthz": (m) => mutateGateway(m, (_, c) => {
        c.readinessProbe!.httpGet!.path = "/healthz";
      }),
      "liveness asked of /readyz": (m) => mutateGateway(m, (_, c) => {
        c.livenessProbe!.httpGet!.path = "/readyz";
      }),
      "no startup probe": (m) => mutateGateway(m, (_, c) => {
        delete c.startupProbe;
      }),
      "a probe on another port": (m) => mutateGateway(m, (_, c) => {
        c.livenessProbe!.httpGet!.port = 9090;
      }),
      "the gateway listening elsewhere": (m) => mutateConfigMap(m, (text) => replaceOnce(text, "port: 8080", "port: 9090")),
    },
  },
  {
    name: "the gateway runs as a non-root user on a read-only root filesystem without capabilities",
    check: runsUnprivileged,
    brokenBy: {
      "a writable root filesystem": (m) => mutateGateway(m, (_, c) => {
        c.securityContext!.readOnlyRootFilesystem = false;
      }),
      "root allowed": (m) => mutateGateway(m, (d, c) => {
        d.spec!.template.spec!.securityContext!.runAsNonRoot = false;
        c.securityContext!.runAsNonRoot = false;
      }),
      "capabilities kept": (m) => mutateGateway(m, (_, c) => {
        delete c.securityContext!.capabilities;
      }),
      "an init container with a writable root filesystem": (m) => mutateGateway(m, (d) => {
        d.spec!.template.spec!.initContainers![0]!.securityContext!.readOnlyRootFilesystem = false;
      }),
      "no seccomp profile": (m) => mutateGateway(m, (d, c) => {
        delete c.securityContext!.seccompProfile;
        delete d.spec!.template.spec!.securityContext!.seccompProfile;
      }),
      "privilege escalation allowed": (m) => mutateGateway(m, (_, c) => {
        c.securityContext!.allowPrivilegeEscalation = true;
      }),
    },
  },
  {
    name: "every file the configuration reads or writes is on a volume, writable where it is written",
    check: filesLieOnVolumes,
    brokenBy: {
      "no volume for the state directory": (m) => mutateGateway(m, (_, c) => {
        c.volumeMounts = c.volumeMounts!.filter((vm) => vm.mountPath !== GATEWAY_DATA_DIR);
      }),
      "the state directory mounted read-only": (m) => mutateGateway(m, (_, c) => {
        c.volumeMounts!.find((vm) => vm.mountPath === GATEWAY_DATA_DIR)!.readOnly = true;
      }),
      "no /tmp volume": (m) => mutateGateway(m, (_, c) => {
        c.volumeMounts = c.volumeMounts!.filter((vm) => vm.mountPath !== "/tmp");
      }),
      "a relative state file": (m) => mutateConfigMap(m, (text) => replaceOnce(text, "sqlite_file: /var/lib/portcullis/state.db", "sqlite_file: .portcullis/state.db")),
    },
  },
  {
    name: "every replica signs checkpoints with the one key from the Secret, copied private to the gateway",
    check: everyReplicaSignsWithTheSecretKey,
    brokenBy: {
      "no init container (a key per replica)": (m) => mutateGateway(m, (d) => {
        delete d.spec!.template.spec!.initContainers;
      }),
      "the Secret's key readable by everyone": (m) => mutateGateway(m, (d) => {
        d.spec!.template.spec!.volumes!.find((v) => v.secret)!.secret!.defaultMode = 0o444;
      }),
      "a copy readable by the group": (m) => mutateGateway(m, (d) => {
        d.spec!.template.spec!.initContainers![0]!.command![2] = "0640";
      }),
      "a copy on a volume the gateway does not read": (m) => mutateGateway(m, (d) => {
        d.spec!.template.spec!.initContainers![0]!.volumeMounts!.find((vm) => vm.name === "data")!.name = "tmp";
      }),
    },
  },
  {
    name: "the ConfigMap's portcullis.yaml passes the gateway's config validation and runs several replicas on one PostgreSQL ledger",
    check: replicasShareOneLedger,
    brokenBy: {
      "an unknown key": (m) => mutateConfigMap(m, (text) => `${text}\nunknown_section: {}\n`),
      "the SQLite ledger": (m) => mutateConfigMap(m, (text) => replaceOnce(text, /kind: postgres\n(\s*)url: \{ env: PORTCULLIS_POSTGRES_URL \}/, "kind: sqlite\n$1file: /var/lib/portcullis/ledger.db")),
      "one replica": (m) => mutateGateway(m, (d) => {
        d.spec!.replicas = 1;
      }),
      "listening on loopback": (m) => mutateConfigMap(m, (text) => replaceOnce(text, "host: 0.0.0.0", "host: 127.0.0.1")),
    },
  },
  {
    name: "secrets come from a Secret the example documents, never from literal values",
    check: secretsComeFromSecrets,
    brokenBy: {
      "the upstream key as a literal": (m) => mutateGateway(m, (_, c) => {
        const variable = c.env!.find((e) => e.name === "LANGGRAPH_API_KEY")!;
        delete variable.valueFrom;
        variable.value = "k";
      }),
      "a Secret key the example does not document": (m) => mutateGateway(m, (_, c) => {
        c.env!.find((e) => e.valueFrom?.secretKeyRef)!.valueFrom!.secretKeyRef!.key = "typo";
      }),
    },
  },
  {
    name: "no secret value ships: the example Secret holds placeholders and is not rendered",
    check: shipsNoSecrets,
    brokenBy: {
      "the example Secret listed": (m) => ({ ...m, objects: [...m.objects, m.exampleSecret], kustomizationText: `${m.kustomizationText}  - secret.example.yaml\n` }),
      "a real value in the example": (m) => ({ ...m, exampleSecret: { ...m.exampleSecret, stringData: { ...m.exampleSecret.stringData, "langgraph-api-key": "4f3c2a" } } }),
    },
  },
  {
    name: "terminationGracePeriodSeconds outlasts the preStop pause and shutdown.drain_ms",
    check: outlivesTheDrain,
    brokenBy: {
      "the default grace period": (m) => mutateGateway(m, (d) => {
        delete d.spec!.template.spec!.terminationGracePeriodSeconds;
      }),
      "a longer drain": (m) => mutateConfigMap(m, (text) => replaceOnce(text, "drain_ms: 30000", "drain_ms: 60000")),
    },
  },
  {
    name: "the Service sends clients to the gateway pods on the gateway's port",
    check: serviceReachesTheGateway,
    brokenBy: {
      "a selector matching other pods": (m) => {
        const copy = structuredClone(m);
        copy.objects.filter(Service.is)[0]!.spec!.selector = LANGGRAPH_POD_LABELS;
        return copy;
      },
      "a target port the container does not have": (m) => {
        const copy = structuredClone(m);
        copy.objects.filter(Service.is)[0]!.spec!.ports![0]!.targetPort = "metrics";
        return copy;
      },
    },
  },
  {
    name: "the PodDisruptionBudget keeps a replica serving and still lets a node drain",
    check: disruptionBudgetLetsNodesDrain,
    brokenBy: {
      "minAvailable equal to the replicas": (m) => {
        const copy = structuredClone(m);
        copy.objects.filter(PodDisruptionBudget.is)[0]!.spec!.minAvailable = 2;
        return copy;
      },
    },
  },
  {
    name: "a NetworkPolicy admits connections to the LangGraph pods only from the gateway's pods",
    check: onlyTheGatewayReachesLangGraph,
    brokenBy: {
      "no policy on the LangGraph pods": (m) => ({ ...m, objects: m.objects.filter((o) => !(NetworkPolicy.is(o) && selects(o.spec?.podSelector, LANGGRAPH_POD_LABELS))) }),
      "an address block admitted": (m) => mutatePolicy(m, LANGGRAPH_POD_LABELS, (np) => {
        np.spec!.ingress![0]!.from!.push({ ipBlock: { cidr: "0.0.0.0/0" } });
      }),
      "pods of any namespace admitted": (m) => mutatePolicy(m, LANGGRAPH_POD_LABELS, (np) => {
        np.spec!.ingress![0]!.from![0]!.namespaceSelector = {};
      }),
      "a rule without sources (everyone)": (m) => mutatePolicy(m, LANGGRAPH_POD_LABELS, (np) => {
        np.spec!.ingress!.push({ ports: [{ port: 8000 }] });
      }),
      "every pod of the namespace admitted": (m) => mutatePolicy(m, LANGGRAPH_POD_LABELS, (np) => {
        np.spec!.ingress![0]!.from![0]!.podSelector = {};
      }),
      "another port than upstream.url's": (m) => mutatePolicy(m, LANGGRAPH_POD_LABELS, (np) => {
        np.spec!.ingress![0]!.ports = [{ protocol: "TCP", port: 9000 }];
      }),
      "a second policy that opens LangGraph": (m) => ({
        ...m,
        objects: [...m.objects, { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "open" }, spec: { podSelector: {}, ingress: [{}] } }],
      }),
    },
  },
  {
    name: "the gateway's own NetworkPolicy admits clients on its port and lets it reach LangGraph",
    check: gatewayTrafficIsPinned,
    brokenBy: {
      "egress left open": (m) => mutatePolicy(m, { "app.kubernetes.io/name": "portcullis", "app.kubernetes.io/component": "gateway" }, (np) => {
        np.spec!.policyTypes = ["Ingress"];
      }),
      "no egress to LangGraph": (m) => mutatePolicy(m, { "app.kubernetes.io/name": "portcullis", "app.kubernetes.io/component": "gateway" }, (np) => {
        np.spec!.egress = np.spec!.egress!.filter((r) => !r.to?.some((peer) => selects(peer.podSelector, LANGGRAPH_POD_LABELS)));
      }),
      "clients admitted on any port": (m) => mutatePolicy(m, { "app.kubernetes.io/name": "portcullis", "app.kubernetes.io/component": "gateway" }, (np) => {
        np.spec!.ingress = [{}];
      }),
    },
  },
];

const composeChecks: Check<ComposeProject>[] = [
  {
    name: "the gateway's mounted configuration passes the gateway's config validation and uses PostgreSQL",
    check: composeConfigIsValidAndShared,
    brokenBy: {
      "an unknown key": (p) => ({ ...p, files: Object.fromEntries(Object.entries(p.files).map(([f, text]) => [f, `${text}\nunknown_section: {}\n`])) }),
      "the config not mounted": (p) => {
        const copy = structuredClone(p);
        copy.compose.services.portcullis!.volumes = copy.compose.services.portcullis!.volumes!.filter((v) => !v.includes("/etc/portcullis/"));
        return copy;
      },
    },
  },
  {
    name: "LangGraph publishes no port and shares internal networks only with the gateway and its own stores",
    check: composeLangGraphIsBehindTheGateway,
    brokenBy: {
      "a published LangGraph port": (p) => {
        const copy = structuredClone(p);
        copy.compose.services.langgraph!.ports = ["8000:8000"];
        return copy;
      },
      "LangGraph's network with a route out": (p) => {
        const copy = structuredClone(p);
        copy.compose.networks!.langgraph = {};
        return copy;
      },
      "another service on LangGraph's network": (p) => {
        const copy = structuredClone(p);
        copy.compose.services.postgres!.networks!.push("langgraph");
        return copy;
      },
      "LangGraph on the edge network": (p) => {
        const copy = structuredClone(p);
        copy.compose.services.langgraph!.networks!.push("edge");
        return copy;
      },
    },
  },
  {
    name: "the gateway starts after healthy PostgreSQL and LangGraph and is given longer than its drain to stop",
    check: composeStartsInOrderAndDrains,
    brokenBy: {
      "started before PostgreSQL is healthy": (p) => {
        const copy = structuredClone(p);
        copy.compose.services.portcullis!.depends_on!.postgres = { condition: "service_started" };
        return copy;
      },
      "LangGraph without a healthcheck": (p) => {
        const copy = structuredClone(p);
        delete copy.compose.services.langgraph!.healthcheck;
        return copy;
      },
      "Docker's default 10 s stop timeout": (p) => {
        const copy = structuredClone(p);
        delete copy.compose.services.portcullis!.stop_grace_period;
        return copy;
      },
    },
  },
  {
    name: "secrets are mounted files and the gateway's data is on a named volume under a read-only root",
    check: composeSecretsAndDataAreMounted,
    brokenBy: {
      "a secret not given to the gateway": (p) => {
        const copy = structuredClone(p);
        copy.compose.services.portcullis!.secrets = [];
        return copy;
      },
      "no data volume": (p) => {
        const copy = structuredClone(p);
        copy.compose.services.portcullis!.volumes = copy.compose.services.portcullis!.volumes!.filter((v) => !v.includes(GATEWAY_DATA_DIR));
        return copy;
      },
      "a writable root filesystem": (p) => {
        const copy = structuredClone(p);
        copy.compose.services.portcullis!.read_only = false;
        return copy;
      },
    },
  },
];

const dockerfileChecks: Check<string>[] = [
  {
    name: "the final stage runs as a numeric non-root USER",
    check: finalStageRunsAsNumericNonRoot,
    brokenBy: {
      "USER root": (text) => replaceOnce(text, /^USER .*$/m, "USER root"),
      "USER 0": (text) => replaceOnce(text, /^USER .*$/m, "USER 0:0"),
      "a user by name": (text) => replaceOnce(text, /^USER .*$/m, "USER node"),
      "no USER": (text) => replaceOnce(text, /^USER .*$/m, ""),
    },
  },
  {
    name: "the final stage has a node HEALTHCHECK on /healthz, STOPSIGNAL SIGTERM, the volumes and portcullis start",
    check: finalStageChecksItsHealth,
    brokenBy: {
      "no HEALTHCHECK": (text) => replaceOnce(text, /^HEALTHCHECK [^\n]*\\\n[^\n]*\n/m, ""),
      "a HEALTHCHECK on /readyz": (text) => replaceOnce(text, "8080/healthz", "8080/readyz"),
      "no data volume": (text) => replaceOnce(text, ', "/var/lib/portcullis"]', "]"),
    },
  },
  {
    name: "the final stage installs nothing and carries no compiler",
    check: finalStageHasNoBuildTools,
    brokenBy: {
      "a compiler installed at the end": (text) => `${text}RUN apt-get update && apt-get install -y g++\n`,
      "npm install in the final stage": (text) => `${text}RUN npm install --omit=dev\n`,
      "the build tree copied in": (text) => `${text}COPY --from=build /src /src\n`,
    },
  },
];

function specify<T>(title: string, subject: T, checks: Check<T>[]): void {
  describe(title, () => {
    for (const { name, check, brokenBy } of checks) {
      test(name, async () => {
        await check(subject);
      });
      for (const [breakage, mutate] of Object.entries(brokenBy)) {
        test(`${name} — refuses ${breakage}`, async () => {
          const broken = mutate(subject);
          await assert.rejects(async () => check(broken), (error) => error instanceof assert.AssertionError || error instanceof ConfigError);
        });
      }
    }
  });
}

specify("Kubernetes manifests (deploy/kubernetes)", manifests, kubernetesChecks);
specify("compose.yaml", compose, composeChecks);
specify("Dockerfile", dockerfileText, dockerfileChecks);

describe("rendering", () => {
  test("kustomize renders exactly the objects of the files kustomization.yaml lists", { skip: kustomizeObjects ? false : "neither kubectl nor kustomize is installed" }, () => {
    const byKey = (objects: object[]) => [...objects].sort((a, b) => key(a).localeCompare(key(b)));
    assert.deepEqual(byKey(kustomizeObjects ?? []), byKey(listedObjects));
  });

  test("every manifest file in deploy/kubernetes is listed, except the example Secret", async () => {
    const files = (await readdir(KUSTOMIZE_DIR)).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
    const listed = [...(parseYaml(manifests.kustomizationText) as { resources: string[] }).resources, "secret.example.yaml"].sort();
    assert.deepEqual(files, listed);
  });
});
