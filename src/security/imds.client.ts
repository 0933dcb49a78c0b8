import { isIPv4 } from 'node:net';
import { sendSmallRequest } from '../storage/small-request.js';

/** Bounded so a machine without IMDS (a laptop, CI, a blocked container) delays the boot by at most this. */
const IMDS_TIMEOUT_MS = 2000;

/**
 * The instance's private IPv4 address (what EB's health checker and the load balancer send as Host), from the EC2
 * instance metadata service at `endpoint`, IMDSv2 only (the SDK reads credentials on its own).
 */
export async function localIpv4(endpoint: string): Promise<string> {
  const signal = AbortSignal.timeout(IMDS_TIMEOUT_MS);
  const read = async (method: string, path: string, headers: Record<string, string>) => {
    const answer = await sendSmallRequest(`${endpoint}${path}`, { method, headers, signal }).catch((error: unknown) => {
      throw new Error(
        signal.aborted
          ? `no answer from the instance metadata service at ${endpoint} within the time limit`
          : `the instance metadata service at ${endpoint} cannot be reached (${causeOf(error)})`,
        { cause: error },
      );
    });
    if (answer.status < 200 || answer.status > 299) {
      throw new Error(`the instance metadata service answered ${method} ${path} with ${answer.status}`);
    }
    return answer.body.trim();
  };
  const token = await read('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' });
  const ip = await read('GET', '/latest/meta-data/local-ipv4', { 'X-aws-ec2-metadata-token': token });
  if (!isIPv4(ip)) {
    throw new Error('the instance metadata service answered local-ipv4 with something that is not an IPv4 address');
  }
  return ip;
}

const causeOf = (error: unknown): string =>
  (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
