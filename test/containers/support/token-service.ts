/**
 * A token service for a real Distribution registry behind `auth.token`, as auth.docker.io is
 * for Docker Hub: `GET /token?service=…&scope=repository:<name>:<actions>` answers
 * `{"token": <JWT>}`, signed ES256 with a key whose self-signed certificate (in the JWT's `x5c`)
 * is the registry's `rootcertbundle`. Anonymous requests get `pull` on every repository but the
 * private ones; Basic credentials get whatever they ask for.
 */
import { randomUUID, sign } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenAuth } from './registry';
import { exec } from './processes';

export interface TokenService {
  /** What the registry's config needs to trust this service. */
  readonly auth: TokenAuth;
  /** Every request it answered: scope, whether it came with credentials, what it granted. */
  readonly issued: { scope: string; withCredentials: boolean; granted: string[] }[];
  /** A token for `actions` on `name`, as a client with credentials would get one. */
  tokenFor(name: string, actions: string[]): string;
  stop(): Promise<void>;
}

export interface TokenServiceOptions {
  username: string;
  password: string;
  /** Repositories an anonymous token may not pull. */
  privateNames?: string[];
}

const SERVICE = 'fleet-test-registry';
const ISSUER = 'fleet-test-token-service';

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

export async function startTokenService(options: TokenServiceOptions): Promise<TokenService> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-token-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=fleet-test-token-service'], process.env);
  const key = await readFile(keyPath, 'utf8');
  const certificate = (await readFile(certPath, 'utf8')).replace(/-----[A-Z ]+-----|\s/g, '');

  function jwt(name: string, actions: string[]): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certificate] };
    const claims = { iss: ISSUER, sub: 'fleet-test', aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access: actions.length > 0 ? [{ type: 'repository', name, actions }] : [] };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${base64url(signature)}`;
  }

  const basic = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  const issued: TokenService['issued'] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://token.test');
    const withCredentials = request.headers.authorization === basic;
    if (url.pathname !== '/token' || url.searchParams.get('service') !== SERVICE) return void response.writeHead(404).end();
    if (request.headers.authorization !== undefined && !withCredentials) return void response.writeHead(401).end();
    const scope = url.searchParams.get('scope') ?? '';
    const [type, name = '', wanted = ''] = scope.split(':');
    const asked = type === 'repository' ? wanted.split(',').filter(Boolean) : [];
    const granted = withCredentials ? asked : options.privateNames?.includes(name) ? [] : asked.filter((action) => action === 'pull');
    issued.push({ scope, withCredentials, granted });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ token: jwt(name, granted), expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return {
    auth: { realm, service: SERVICE, issuer: ISSUER, rootCertBundle: certPath },
    issued,
    tokenFor: jwt,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
