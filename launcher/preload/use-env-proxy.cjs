'use strict'
// Preloaded into every Node process in the sandbox (NODE_OPTIONS=--require).
// Node 24+ routes fetch and http through HTTP(S)_PROXY by itself when
// NODE_USE_ENV_PROXY=1; older Node ignores the proxy variables, so fetch would
// try to connect directly and fail. Installing undici's EnvHttpProxyAgent as the
// global dispatcher fixes fetch: Node's bundled undici and the npm package share
// the dispatcher through Symbol.for('undici.globalDispatcher.1').
// Plain CommonJS on purpose: it is outside tsc and must load under any Node.
const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  try {
    const { EnvHttpProxyAgent, setGlobalDispatcher } = require('undici')
    setGlobalDispatcher(new EnvHttpProxyAgent())
  } catch (err) {
    process.stderr.write(`guarded-run: could not route fetch() through the proxy: ${err && err.message}\n`)
  }
}
