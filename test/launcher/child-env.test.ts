import { spawn } from 'node:child_process'
import { createServer, request, type Server } from 'node:http'
import { connect } from 'node:net'
import t from 'tap'
import { buildChildEnv, defaultPreloadPath, GIT_SSH_REFUSAL, removedEnvNames } from '../../launcher/child-env.js'

const plan = { proxyPort: 3128, keepEnv: ['ANTHROPIC_API_KEY'], preloadPath: '/opt/g/use-env-proxy.cjs' }

t.test('variables: kept, removed, set', async (t) => {
  const parent = {
    PATH: '/usr/bin', HOME: '/home/u', TERM: 'xterm', GIT_AUTHOR_NAME: 'U', AWS_REGION: 'eu-west-1',
    GITHUB_TOKEN: 'x', AWS_SECRET_ACCESS_KEY: 'x', AWS_ACCESS_KEY_ID: 'x', AWS_SESSION_TOKEN: 'x', DB_PASSWORD: 'x',
    GOOGLE_APPLICATION_CREDENTIALS: '/k.json', AZURE_CLIENT_ID: 'x', OPENAI_API_KEY: 'x', ANTHROPIC_API_KEY: 'kept',
    SSH_AUTH_SOCK: '/run/ssh', GUARDED_ADMIN_TOKEN: 'x', HTTP_PROXY: 'http://corp:8080', no_proxy: '*', NODE_OPTIONS: '--max-old-space-size=4096',
  }
  const env = buildChildEnv(parent, plan)
  const rows: [string, string | undefined, string][] = [
    ['PATH', '/usr/bin', 'ordinary variables pass'],
    ['GIT_AUTHOR_NAME', 'U', 'AUTHOR is not a secret word'],
    ['AWS_REGION', 'eu-west-1', 'region is not a credential'],
    ['GITHUB_TOKEN', undefined, '*TOKEN*'], ['AWS_SECRET_ACCESS_KEY', undefined, '*SECRET*'], ['AWS_ACCESS_KEY_ID', undefined, 'AWS keys'],
    ['AWS_SESSION_TOKEN', undefined, 'AWS session'], ['DB_PASSWORD', undefined, '*PASSWORD*'],
    ['GOOGLE_APPLICATION_CREDENTIALS', undefined, '*CREDENTIAL*'], ['AZURE_CLIENT_ID', undefined, 'AZURE_*'],
    ['OPENAI_API_KEY', undefined, 'not kept by this profile'], ['ANTHROPIC_API_KEY', 'kept', 'kept by profile or --keep-env'],
    ['SSH_AUTH_SOCK', undefined, 'no ssh-agent'], ['GUARDED_ADMIN_TOKEN', undefined, "the proxy's admin token never enters"],
    ['HTTP_PROXY', 'http://127.0.0.1:3128', 'the forwarder replaces any proxy'], ['http_proxy', 'http://127.0.0.1:3128', 'lower case too'],
    ['HTTPS_PROXY', 'http://127.0.0.1:3128', ''], ['https_proxy', 'http://127.0.0.1:3128', ''],
    ['ALL_PROXY', 'http://127.0.0.1:3128', ''], ['all_proxy', 'http://127.0.0.1:3128', ''],
    ['NO_PROXY', 'localhost,127.0.0.1,::1', ''], ['no_proxy', 'localhost,127.0.0.1,::1', "the parent's * is gone"],
    ['NODE_USE_ENV_PROXY', '1', 'Node 24+'], ['NODE_OPTIONS', '--require /opt/g/use-env-proxy.cjs --max-old-space-size=4096', 'preload first, user options kept'],
    ['GIT_SSH_COMMAND', GIT_SSH_REFUSAL, 'git over ssh explains itself'], ['TMPDIR', '/tmp', 'the private /tmp'],
  ]
  for (const [name, want, why] of rows) t.equal(env[name], want, `${name}: ${why}`)
  t.same(removedEnvNames(parent, plan.keepEnv), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AZURE_CLIENT_ID', 'DB_PASSWORD',
    'GITHUB_TOKEN', 'GOOGLE_APPLICATION_CREDENTIALS', 'GUARDED_ADMIN_TOKEN', 'OPENAI_API_KEY', 'SSH_AUTH_SOCK'])
})

t.test('a preload path with spaces is quoted for NODE_OPTIONS; null skips it', async (t) => {
  t.equal(buildChildEnv({}, { ...plan, preloadPath: '/a b/p.cjs' }).NODE_OPTIONS, '--require "/a b/p.cjs"')
  t.equal(buildChildEnv({}, { ...plan, preloadPath: null }).NODE_OPTIONS, undefined)
})

t.test('GIT_SSH_COMMAND refuses with an explanation, through the shell git uses', async (t) => {
  const child = spawn('sh', ['-c', `${GIT_SSH_REFUSAL} "$@"`, 'sh', 'git@github.com', 'git-upload-pack'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  t.equal(code, 1)
  t.match(err, /git over SSH is not supported.*https:\/\//)
})

t.test('the preload makes Node 20 global fetch use HTTP_PROXY (npm undici and bundled undici share the dispatcher)', { timeout: 20_000 }, async (t) => {
  const seen: string[] = []
  const proxy = createServer({ keepAlive: false }, (req, res) => {
    seen.push(`${req.method} ${req.url}`)
    const url = new URL(req.url ?? '')
    const up = request({ host: '127.0.0.1', port: origin.port, path: url.pathname }, (r) => r.pipe(res))
    up.end()
  })
  // undici 7 tunnels even http:// through CONNECT (proxyTunnel defaults to true)
  proxy.on('connect', (req, client) => {
    seen.push(`CONNECT ${req.url}`)
    const up = connect(origin.port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      up.pipe(client)
      client.pipe(up)
    })
  })
  const originServer = createServer((_req, res) => res.end('via proxy'))
  const origin = { port: await listen(originServer) }
  const proxyPort = await listen(proxy)
  t.teardown(() => { proxy.closeAllConnections(); proxy.close(); originServer.closeAllConnections(); originServer.close() })
  const env = buildChildEnv({ PATH: process.env.PATH }, { proxyPort, keepEnv: [], preloadPath: defaultPreloadPath() })
  // not 127.0.0.1 (NO_PROXY): a name only the proxy can reach
  const script = `fetch('http://origin.test:${origin.port}/p').then(r => r.text()).then(t => { console.log(t); process.exit(0) }, e => { console.log('ERR', e.cause?.code); process.exit(3) })`
  const out = await run(process.execPath, ['-e', script], env)
  t.equal(out.trim(), 'via proxy')
  t.same(seen, [`CONNECT origin.test:${origin.port}`], 'the request went through the proxy, by name')
})

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address()
    resolve(typeof a === 'object' && a !== null ? a.port : 0)
  }))
}

function run(file: string, args: string[], env: Record<string, string>): Promise<string> {
  const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  return new Promise((resolve) => child.on('close', () => resolve(out)))
}
