import path from 'node:path'
import { CertError } from './errors.js'

/** The few environment variables the default CA directory depends on. */
export interface CaDirEnv {
  readonly XDG_CONFIG_HOME?: string | undefined
  readonly HOME?: string | undefined
}

/** Where the CA certificate and key live inside a CA directory. */
export interface CaPaths {
  readonly dir: string
  readonly cert: string
  readonly key: string
}

/** `$XDG_CONFIG_HOME/guarded/ca`, else `$HOME/.config/guarded/ca`; the caller passes the environment. */
export function defaultCaDir(env: CaDirEnv): string {
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'guarded', 'ca')
  if (env.HOME && path.isAbsolute(env.HOME)) return path.join(env.HOME, '.config', 'guarded', 'ca')
  throw new CertError('GUARDED_CA_NO_HOME', 'neither XDG_CONFIG_HOME nor HOME is set to an absolute path; pass --ca-dir DIR')
}

/** The file names `ca init` writes and `serve` reads. */
export function caPaths(dir: string): CaPaths {
  const abs = path.resolve(dir)
  return Object.freeze({ dir: abs, cert: path.join(abs, 'ca.pem'), key: path.join(abs, 'ca-key.pem') })
}
