import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { bootstrapAdminKeyHash } from '../secret-values';
import { constantTimeEqual, sha256Hex } from '../secrets';
import { keys } from './keys';
import { tableName } from './table';

/** Stores an admin key's hash; storing the same key twice is harmless. */
export async function ensureAdminKey(plainKey: string, label = 'admin'): Promise<void> {
  await dynamo().send(
    new PutCommand({
      TableName: tableName(),
      Item: { ...keys.adminKey(sha256Hex(plainKey)), label, created_at: new Date().toISOString() },
    }),
  );
}

export async function isAdminKey(plainKey: string): Promise<boolean> {
  const hash = sha256Hex(plainKey);
  const bootstrap = await bootstrapAdminKeyHash();
  if (bootstrap && constantTimeEqual(bootstrap, hash)) return true;
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.adminKey(hash) }));
  return Item !== undefined;
}
