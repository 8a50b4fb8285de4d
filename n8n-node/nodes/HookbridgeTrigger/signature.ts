// Verifies that a request on the trigger's webhook URL is a Hookbridge
// delivery: the Standard Webhooks signature (webhook-id, webhook-timestamp,
// webhook-signature) over the exact raw body, keyed with the subscription's
// secret, and a timestamp close to now (an old, replayed request is refused).
import { createHmac, timingSafeEqual } from 'crypto';

// How far a delivery's signing time may be from now, as Standard Webhooks'
// own libraries allow.
export const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;

type Headers = Record<string, string | string[] | undefined>;

export type Verdict = { verified: true } | { verified: false; reason: string };

// `whsec_` secrets carry their key in base64; any other secret is the key itself.
const signingKey = (secret: string): Buffer =>
	secret.startsWith('whsec_')
		? Buffer.from(secret.slice('whsec_'.length), 'base64')
		: Buffer.from(secret, 'utf8');

const headerText = (value: string | string[] | undefined): string =>
	Array.isArray(value) ? value.join(' ') : (value ?? '');

const sameText = (left: string, right: string): boolean => {
	const a = Buffer.from(left);
	const b = Buffer.from(right);
	return a.length === b.length && timingSafeEqual(a, b);
};

export function verifyDelivery(
	headers: Headers,
	rawBody: Buffer | undefined,
	secret: string | undefined,
	nowSeconds: number = Math.floor(Date.now() / 1000),
): Verdict {
	if (!secret) return { verified: false, reason: 'the subscription has no signing secret' };
	const id = headerText(headers['webhook-id']);
	const timestamp = headerText(headers['webhook-timestamp']);
	const signatures = headerText(headers['webhook-signature']);
	if (!rawBody || !id || !timestamp || !signatures) {
		return { verified: false, reason: 'the signature headers or the body are missing' };
	}
	const signedAt = Number(timestamp);
	if (
		!Number.isInteger(signedAt) ||
		Math.abs(nowSeconds - signedAt) > TIMESTAMP_TOLERANCE_SECONDS
	) {
		return { verified: false, reason: 'the timestamp is outside the tolerance' };
	}
	const expected =
		'v1,' +
		createHmac('sha256', signingKey(secret))
			.update(`${id}.${timestamp}.`)
			.update(rawBody)
			.digest('base64');
	const matches = signatures.split(' ').some((candidate) => sameText(candidate, expected));
	return matches ? { verified: true } : { verified: false, reason: 'the signature does not match' };
}
