// deploy/kubernetes: every overlay renders with `kubectl kustomize`, every object passes the
// Kubernetes OpenAPI schema (kubernetes-models) and a strict unknown-key check, and the pod keeps
// the properties the egress lock depends on.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import type { IContainer } from 'kubernetes-models/v1/Container'
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import { onPath } from './helpers/netns.js'
import { strictKeyErrors, type ModelType } from './helpers/strict-keys.js'

// Real namespaces, processes and builds on a 2-core machine: well past tap's default per-file timeout.
t.setTimeout(300_000)
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
const K8S = join(ROOT, 'deploy/kubernetes')
const TARGETS = ['base', 'overlays/dev', 'overlays/prod'] as const

interface K8sObject { apiVersion: string; kind: string; metadata: { name: string } }
type Validator = { model: new (data: never) => { validate(): void }; type: ModelType }

/** Schema model and TypeScript interface for each kind the manifests may contain. */
const KINDS: Record<string, Validator> = {
  'apps/v1/Deployment': { model: Deployment, type: { module: 'kubernetes-models/apps/v1/Deployment', iface: 'IDeployment' } },
  'v1/Service': { model: Service, type: { module: 'kubernetes-models/v1/Service', iface: 'IService' } },
  'v1/ConfigMap': { model: ConfigMap, type: { module: 'kubernetes-models/v1/ConfigMap', iface: 'IConfigMap' } },
  'v1/Secret': { model: Secret, type: { module: 'kubernetes-models/v1/Secret', iface: 'ISecret' } },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    type: { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', iface: 'IServiceMonitor' },
  },
}

/** `kubectl kustomize DIR`, parsed. */
function render(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', join(K8S, dir)], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr}`)
  return parseAllDocuments(r.stdout).map(d => d.toJS() as K8sObject).filter(Boolean)
}

/** Schema errors for one object, or an empty list. */
function schemaErrors(obj: K8sObject): string[] {
  const v = KINDS[`${obj.apiVersion}/${obj.kind}`]
  if (!v) return [`no schema known for ${obj.apiVersion} ${obj.kind}`]
  try { new v.model(obj as never).validate(); return [] } catch (err) { return [(err as Error).message] }
}

function validateAll(t: Test, objects: K8sObject[]): void {
  for (const obj of objects) t.same(schemaErrors(obj), [], `${obj.kind}/${obj.metadata.name} passes the OpenAPI schema`)
  const typed = objects.map(o => ({ type: KINDS[`${o.apiVersion}/${o.kind}`]!.type, value: o }))
  t.same(strictKeyErrors(ROOT, typed), [], 'no unknown or mistyped keys')
}

const skip = onPath('kubectl') ? false : 'kubectl not installed'

t.test('the checks catch mistakes', { skip }, async t => {
  const [deployment] = render('base').filter(o => o.kind === 'Deployment') as unknown as IDeployment[]
  const broken = structuredClone(deployment!)
  const agent = broken.spec!.template.spec!.containers[0]! as IContainer & Record<string, unknown>
  agent.securityContext = { ...agent.securityContext, readOnlyRootFilesytem: true } as never
  t.same(schemaErrors(broken as unknown as K8sObject), [], 'the schema alone lets a misspelt key through')
  const errors = strictKeyErrors(ROOT, [{ type: KINDS['apps/v1/Deployment']!.type, value: broken }])
  t.match(errors.join('\n'), /readOnlyRootFilesytem/, 'the strict-key check names it')
  const wrongType = structuredClone(deployment!)
  ;(wrongType.spec as unknown as Record<string, unknown>).replicas = 'one'
  t.match(schemaErrors(wrongType as unknown as K8sObject).join(), /replicas must be integer/, 'the schema catches a wrong type')
})

for (const target of TARGETS) {
  t.test(`${target} renders and validates`, { skip }, async t => {
    const objects = render(target)
    t.same(objects.map(o => o.kind).sort(), ['ConfigMap', 'ConfigMap', 'ConfigMap', 'Deployment', 'Secret', 'Service', 'ServiceMonitor'])
    validateAll(t, objects)
    checkPod(t, objects.find(o => o.kind === 'Deployment') as unknown as IDeployment, objects)
  })
}

function checkPod(t: Test, deployment: IDeployment, objects: K8sObject[]): void {
  const pod = deployment.spec!.template
  const spec = pod.spec!
  const [init, proxy, ...moreInit] = spec.initContainers ?? []
  const [agent, ...moreContainers] = spec.containers
  t.same([init?.name, proxy?.name, moreInit.length], ['egress-init', 'guarded-proxy', 0], 'egress-init runs before the proxy')
  t.same([agent?.name, moreContainers.length], ['agent', 0], 'one agent container')
  t.equal(spec.shareProcessNamespace, false, 'no shared process namespace')
  t.equal(spec.automountServiceAccountToken, false, 'no API token in the pod')

  // Capabilities: only egress-init gets NET_ADMIN; it is the only root container.
  for (const c of [init!, proxy!, agent!]) {
    const sc = c.securityContext ?? {}
    t.equal(sc.allowPrivilegeEscalation, false, `${c.name}: no privilege escalation`)
    t.same(sc.capabilities?.drop, ['ALL'], `${c.name}: drops ALL capabilities`)
    t.equal(sc.readOnlyRootFilesystem, true, `${c.name}: read-only root`)
  }
  t.same(init!.securityContext?.capabilities?.add, ['NET_ADMIN'], 'egress-init: NET_ADMIN and nothing else')
  t.equal(init!.securityContext?.runAsUser, 0, 'egress-init: root, as iptables needs effective NET_ADMIN')
  for (const c of [proxy!, agent!]) {
    t.equal(c.securityContext?.runAsNonRoot, true, `${c.name}: runAsNonRoot`)
    t.notOk(c.securityContext?.capabilities?.add, `${c.name}: adds no capability`)
  }
  const env = (c: IContainer, name: string): string | undefined => c.env?.find(e => e.name === name)?.value
  const proxyUid = proxy!.securityContext?.runAsUser
  t.equal(proxyUid, 1337, 'proxy runs as 1337')
  t.equal(env(init!, 'PROXY_UID'), String(proxyUid), 'egress-init lets exactly the proxy UID out')
  t.not(agent!.securityContext?.runAsUser, proxyUid, 'agent UID differs from the proxy UID')
  t.notOk(agent!.securityContext?.runAsUser === 0, 'agent is not root')

  // The proxy: native sidecar, loopback listeners, separate metrics, probes on admin.
  const args = proxy!.args ?? []
  const arg = (flag: string): string | undefined => args[args.indexOf(flag) + 1]
  t.equal(proxy!.restartPolicy, 'Always', 'proxy is a native sidecar')
  t.equal(arg('--listen'), `127.0.0.1:${env(init!, 'PROXY_PORT')}`, 'proxy listens on the port egress-init opens, loopback only')
  t.match(arg('--admin'), /^127\.0\.0\.1:/, 'admin bound to loopback')
  t.equal(arg('--metrics'), '0.0.0.0:9090', 'metrics on their own listener')
  t.equal(arg('--policy'), '/etc/guarded/policy.yaml')
  t.equal(arg('--requirements'), '/etc/guarded/requirements.yaml')
  t.match(arg('--admin-token-file'), /^\/etc\/guarded-secrets\//)
  const adminPort = arg('--admin')!.split(':')[1]
  t.match(proxy!.readinessProbe?.exec?.command?.join(' '), new RegExp(`127\\.0\\.0\\.1:${adminPort}/readyz`), 'readiness: /readyz')
  t.match(proxy!.startupProbe?.exec?.command?.join(' '), /\/readyz/, 'startup gates the agent on /readyz')
  t.match(proxy!.livenessProbe?.exec?.command?.join(' '), new RegExp(`127\\.0\\.0\\.1:${adminPort}/healthz`), 'liveness: /healthz')
  for (const c of [init!, proxy!, agent!]) t.ok(c.resources?.limits?.memory && c.resources.requests?.cpu, `${c.name}: resources set`)
  t.ok(proxy!.envFrom?.some(e => e.configMapRef?.name?.startsWith('guarded-settings') === true), 'settings (OTEL endpoint, mode) come from a ConfigMap')

  // Mounts: config as a directory (hot reload), read-only; secrets only in the proxy.
  const mounts = proxy!.volumeMounts ?? []
  for (const m of mounts) t.notOk(m.subPath, `${m.mountPath}: no subPath (subPath mounts never update)`)
  const config = mounts.find(m => m.mountPath === '/etc/guarded')
  t.equal(config?.readOnly, true, 'config mounted read-only')
  t.equal(mounts.find(m => m.mountPath === '/etc/guarded-secrets')?.readOnly, true, 'secrets mounted read-only')
  const volume = spec.volumes?.find(v => v.name === config?.name)
  const sources = volume?.projected?.sources?.map(s => s.configMap?.name ?? '') ?? []
  t.ok(sources.some(n => n.startsWith('guarded-policy-')) && sources.some(n => n.startsWith('guarded-requirements-')), 'policy and requirements ConfigMaps projected')
  const secretVolumes = new Set(spec.volumes?.filter(v => v.secret).map(v => v.name))
  t.same(agent!.volumeMounts?.filter(m => secretVolumes.has(m.name)), [], 'the agent mounts no secret')
  t.same(agent!.envFrom ?? [], [], 'the agent gets no settings or secrets through envFrom')

  // The agent's way out.
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) {
    t.equal(env(agent!, name), `http://${arg('--listen')}`, `agent ${name} points at the proxy`)
  }

  // Metrics: annotations, Service and ServiceMonitor agree on the port.
  t.same(pod.metadata?.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090', 'prometheus.io/path': '/metrics' })
  const service = objects.find(o => o.kind === 'Service') as unknown as { spec: { ports: Array<{ port: number; targetPort: string }>; selector: Record<string, string> } }
  t.same(service.spec.ports.map(p => [p.port, p.targetPort]), [[9090, 'metrics']], 'Service exposes metrics only')
  t.match(pod.metadata?.labels, service.spec.selector, 'Service selects the pod')
  t.same(proxy!.ports?.map(p => [p.name, p.containerPort]), [['metrics', 9090]], 'only the metrics port is declared')
}

t.test('overlays differ where they should', { skip }, async t => {
  const settings = (target: string): Record<string, string> =>
    (render(target).find(o => o.kind === 'ConfigMap' && o.metadata.name.startsWith('guarded-settings')) as unknown as { data: Record<string, string> }).data
  const policyOf = (target: string): string =>
    (render(target).find(o => o.kind === 'ConfigMap' && o.metadata.name.startsWith('guarded-policy')) as unknown as { data: Record<string, string> }).data['policy.yaml'] ?? ''
  t.match(policyOf('overlays/dev'), /^mode: audit$/m, 'dev audits: the policy the proxy loads says mode: audit')
  t.match(policyOf('overlays/prod'), /^mode: enforce$/m, 'prod enforces')
  const prodPolicy = (render('overlays/prod').find(o => o.metadata.name.startsWith('guarded-policy')) as unknown as { data: Record<string, string> }).data['policy.yaml']
  t.match(prodPolicy, /approvers: \[webhook\][\s\S]*secret_env: GUARDED_WEBHOOK_SECRET/, 'prod policy names the webhook approver and its secret variable')
  const proxyEnv = (render('overlays/prod').find(o => o.kind === 'Deployment') as unknown as IDeployment).spec!.template.spec!.initContainers![1]!.env
  t.match(proxyEnv?.find(e => e.name === 'GUARDED_WEBHOOK_SECRET')?.valueFrom?.secretKeyRef?.name, /^guarded-secrets-/, 'the proxy gets the webhook secret from the Secret')
  t.ok(settings('overlays/prod').OTEL_EXPORTER_OTLP_ENDPOINT, 'OTLP endpoint survives the merge')
  const proxyOf = (target: string): IContainer =>
    (render(target).find(o => o.kind === 'Deployment') as unknown as IDeployment).spec!.template.spec!.initContainers![1]!
  t.equal(proxyOf('overlays/prod').resources?.limits?.memory, '1Gi', 'prod raises the proxy limits')
  t.equal(proxyOf('overlays/prod').securityContext?.runAsUser, 1337, 'the patch left the security context alone')
})
