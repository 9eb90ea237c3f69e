/** The webhook signature: HMAC-SHA256 over the timestamp and the body, so a receiver can reject both forgeries and replays. */
import { createHmac } from 'node:crypto'

/**
 * `v1=<hex>` of HMAC-SHA256(secret, `${timestamp}.${body}`). The timestamp is inside the signed
 * material, so a captured delivery cannot be re-sent later under a fresh timestamp (Stripe's scheme).
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}
