/** `guarded-proxy ca init|show`: make the inspection CA, or print its fingerprint and how to trust it. */
import { parseArgs } from 'node:util'
import { CertError, defaultCaDir, describeCa, initCa, readCaInfo } from '../certs/index.js'

export const CA_USAGE = `usage: guarded-proxy ca <init|show> [options]

  init   create the CA that inspection signs leaf certificates with (ca.pem, ca-key.pem 0600)
  show   print the CA's fingerprint, validity and how to make clients trust it

  --dir DIR     CA directory, the same default serve --ca-dir uses [$XDG_CONFIG_HOME/guarded/ca]
  --days N      init: validity in days, 1 to 3650 [365]
  --force       init: replace an existing CA (clients that trusted the old one stop trusting the proxy)
`

const FLAGS = { dir: { type: 'string' }, days: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const

/** Runs `ca init` or `ca show`; resolves with the exit status. */
export async function caCommand(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [action, ...rest] = args
  let values: { dir?: string; days?: string; force?: boolean; help?: boolean }
  try {
    values = parseArgs({ args: rest, options: FLAGS, strict: true, allowPositionals: false }).values
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${CA_USAGE}`, 2)
  }
  if (values.help || action === '--help' || action === '-h') return void process.stdout.write(CA_USAGE), 0
  if (action !== 'init' && action !== 'show') return fail(`expected init or show\n\n${CA_USAGE}`, 2)
  if (values.days !== undefined && !/^\d{1,4}$/.test(values.days)) return fail(`--days ${values.days}: expected a whole number of days`, 2)
  try {
    const dir = values.dir ?? defaultCaDir(env)
    const info = action === 'init' ? await initCa(dir, { ...(values.days && { validityDays: Number(values.days) }), force: values.force === true }) : await readCaInfo(dir)
    if (action === 'init') process.stdout.write(`created ${info.paths.cert} and ${info.paths.key} (0600)\n\n`)
    process.stdout.write(describeCa(info))
    return 0
  } catch (err) {
    if (err instanceof CertError) return fail(err.message, 1)
    throw err
  }
}

function fail(message: string, code: number): number {
  process.stderr.write(`guarded-proxy ca: ${message}\n`)
  return code
}
