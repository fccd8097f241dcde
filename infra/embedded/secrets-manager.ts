/**
 * The local twin of AWS Secrets Manager, for the registries' secrets that must be kept as they
 * are (kinds that check an HMAC: lib/registries/secrets.ts): enough of its JSON API for the SDK
 * v3 client (`CreateSecret`, `PutSecretValue`, `GetSecretValue`, `DeleteSecret`), reached through
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`, so the functions run the code they run on AWS.
 *
 * The secrets are kept in the data dir (`secrets-manager.json`, mode 0600, rewritten whole on
 * each change), beside the table; `:memory:` keeps them in memory only.
 *
 * Deviations from AWS, and why they are harmless here:
 * - Values are stored as they are, not encrypted with a KMS key: the file is the user's own, like
 *   the table and the admin key beside it.
 * - Each secret keeps its current and previous versions only (AWS also keeps unlabelled ones for a
 *   while); the code reads the version its registry names, which is always one of the two.
 * - A delete without `ForceDeleteWithoutRecovery` marks the secret deleted for good (AWS lets it
 *   be restored within the recovery window; nothing here restores one).
 * - `SecretBinary`, tags, rotation, replication and resource policies are not implemented, and
 *   IAM is not checked.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { accountId, region } from './aws-identity';
import type { Logger } from './logger';

export interface SecretsManagerTwinOptions {
  /** Where the secrets are kept; ':memory:' keeps them in memory only. */
  dataDir: string;
  logger: Logger;
}

export interface SecretsManagerTwin {
  endpoint: string;
  /** The names of the secrets not deleted. */
  names(): string[];
  close(): Promise<void>;
}

interface Version {
  id: string;
  value: string;
  created: number;
}

interface Secret {
  name: string;
  arn: string;
  description?: string;
  current: Version;
  previous?: Version;
  created: number;
  deleted?: number;
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const fileName = 'secrets-manager.json';
/** Secrets Manager's own bound on a name. */
const namePattern = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

async function readBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const parsed: unknown = text === '' ? {} : JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new ApiError('InvalidRequestException', 'the request body is not a JSON object');
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

const text = (body: Record<string, unknown>, field: string): string | undefined => {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ApiError('InvalidParameterException', `${field} must be a string`);
  return value;
};

const required = (body: Record<string, unknown>, field: string): string => {
  const value = text(body, field);
  if (value === undefined || value === '') throw new ApiError('InvalidParameterException', `${field} is required`);
  return value;
};

export async function startSecretsManagerTwin(options: SecretsManagerTwinOptions): Promise<SecretsManagerTwin> {
  const { logger } = options;
  const path = options.dataDir === ':memory:' ? undefined : join(options.dataDir, fileName);
  const secrets = new Map<string, Secret>();
  if (path) {
    try {
      for (const secret of JSON.parse(await readFile(path, 'utf8')) as Secret[]) secrets.set(secret.name, secret);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path} cannot be read: ${(error as Error).message}`);
    }
  }

  // Writes run one after another, each of the whole map as it is then.
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    if (!path) return Promise.resolve();
    saving = saving.then(async () => {
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify([...secrets.values()]), { mode: 0o600 });
      await rename(temporary, path);
    });
    return saving;
  };

  const arnOf = (name: string) => `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${randomBytes(3).toString('hex')}`;

  /** A secret by name or ARN; deleted ones only when asked for. */
  function find(id: string, includeDeleted = false): Secret {
    const secret = secrets.get(id) ?? [...secrets.values()].find((s) => s.arn === id);
    if (!secret || (secret.deleted !== undefined && !includeDeleted)) {
      if (secret?.deleted !== undefined) throw new ApiError('InvalidRequestException', `You can't perform this operation on the secret because it was marked for deletion.`);
      throw new ApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    return secret;
  }

  function versionOf(body: Record<string, unknown>): string {
    const token = text(body, 'ClientRequestToken');
    if (token !== undefined && !/^[A-Za-z0-9-]{32,64}$/.test(token)) throw new ApiError('InvalidParameterException', 'ClientRequestToken must be 32 to 64 letters, digits or dashes');
    return token ?? randomUUID();
  }

  const operations: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
    async CreateSecret(body) {
      const name = required(body, 'Name');
      if (!namePattern.test(name)) throw new ApiError('InvalidParameterException', 'Name must be 1 to 512 of A-Z a-z 0-9 / _ + = . @ -');
      const value = required(body, 'SecretString');
      const existing = secrets.get(name);
      if (existing?.deleted !== undefined) throw new ApiError('InvalidRequestException', `You can't create this secret because a secret with this name is already scheduled for deletion.`);
      if (existing) throw new ApiError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
      const now = Date.now();
      const secret: Secret = { name, arn: arnOf(name), current: { id: versionOf(body), value, created: now }, created: now, ...(text(body, 'Description') ? { description: text(body, 'Description')! } : {}) };
      secrets.set(name, secret);
      await save();
      return { ARN: secret.arn, Name: name, VersionId: secret.current.id };
    },
    async PutSecretValue(body) {
      const secret = find(required(body, 'SecretId'));
      const value = required(body, 'SecretString');
      const id = versionOf(body);
      // A retried request (same token) is idempotent; the same token for another value is refused, as on AWS.
      const same = [secret.current, secret.previous].find((v) => v?.id === id);
      if (same && same.value !== value) throw new ApiError('ResourceExistsException', `A version with ClientRequestToken ${id} already exists with a different value.`);
      if (!same) {
        secret.previous = secret.current;
        secret.current = { id, value, created: Date.now() };
        await save();
      }
      return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [secret.current.id === id ? 'AWSCURRENT' : 'AWSPREVIOUS'] };
    },
    async GetSecretValue(body) {
      const secret = find(required(body, 'SecretId'));
      const wanted = text(body, 'VersionId');
      const stage = text(body, 'VersionStage');
      const version = wanted !== undefined ? [secret.current, secret.previous].find((v) => v?.id === wanted) : stage === 'AWSPREVIOUS' ? secret.previous : secret.current;
      if (!version) throw new ApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret value for the given version.");
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        SecretString: version.value,
        VersionStages: [version === secret.current ? 'AWSCURRENT' : 'AWSPREVIOUS'],
        CreatedDate: version.created / 1000,
      };
    },
    async DeleteSecret(body) {
      const secret = find(required(body, 'SecretId'), true);
      const now = Date.now();
      if (body.ForceDeleteWithoutRecovery === true) secrets.delete(secret.name);
      else secret.deleted ??= now;
      await save();
      return { ARN: secret.arn, Name: secret.name, DeletionDate: now / 1000 };
    },
  };

  const server = createServer((request, response) => {
    void (async () => {
      try {
        const target = String(request.headers['x-amz-target'] ?? '');
        const operation = operations[target.replace(/^secretsmanager\./, '')];
        if (request.method !== 'POST' || !target.startsWith('secretsmanager.') || !operation) {
          throw new ApiError('UnknownOperationException', `${target || request.method} is not implemented by the embedded Secrets Manager`);
        }
        send(response, 200, await operation(await readBody(request)));
      } catch (error) {
        if (error instanceof ApiError) {
          send(response, 400, { __type: error.type, message: error.message });
          return;
        }
        logger.error('embedded Secrets Manager failed', { error });
        send(response, 500, { __type: 'InternalServiceError', message: 'internal error' });
      }
    })();
  });
  await new Promise<void>((ready, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => ready());
  });

  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    names: () => [...secrets.values()].filter((s) => s.deleted === undefined).map((s) => s.name),
    async close() {
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      await saving;
    },
  };
}
