/**
 * The single table: every key format, index name and key attribute lives here, and nothing else
 * builds a key. `infra/` reads the table definition from here too.
 *
 * Attributes: pk, sk (base table); gsi1pk/gsi1sk (index `byKind`, projection ALL);
 * gsi2pk/gsi2sk (index `byStatus`, projection ALL); gsi3pk/gsi3sk (index `deviceList`, KEYS_ONLY);
 * `expires_at` (TTL, epoch seconds).
 *
 * Items                        pk                              sk
 * ---------------------------  ------------------------------  -------------------------------
 * device                       DEVICE#<uuid>                   DEVICE
 * repository membership        REPO#<repository>               DEVICE#<uuid>#APP#<app>
 * policy                       POLICY#<id>                     POLICY
 * rollout                      ROLLOUT#<id>                    ROLLOUT
 * batch counters (per shard)   ROLLOUT#<id>#S#<shard>          BATCH#<nnn>
 * device in rollout            ROLLOUT#<id>#S#<shard>          DEVICE#<seq, 9 digits>
 * event                        ROLLOUT#<id>#S#<shard>          EVENT#<event id>
 * shard swept after an ending  ROLLOUT#<id>#S#<shard>          SWEPT#<ending status>
 * paced scheduler's state      ROLLOUT#<id>#S#0                PACE  (lease, position, rate group)
 * newest push started          PUSHES#<repository>             NEWEST_STARTED  (its rollout's rank)
 * a policy's rollout of a repo  PUSHES#<repository>             POLICY#<policy id>#<rollout rank>  (id, tag)
 * webhook delivery             DELIVERY#<registry>#<id>        DELIVERY          (TTL)
 * admin key, configured        ADMINKEY#<sha256 of key>        ADMINKEY   (the embedded host's own)
 * admin key, named             ADMINKEY#<id> (ak_…)            ADMINKEY   (holds the key's sha256)
 * admin key name, claimed      ADMINKEYNAME#<lower-cased name> ADMINKEYNAME (the unrevoked key holding it)
 * provisioning key             PROVKEY#<id>                    PROVKEY   (holds the key's sha256)
 * notification subscription    SUBSCRIPTION#<id>               SUBSCRIPTION (with its last delivery outcome)
 * configured registry          REGISTRY#<name>                 REGISTRY  (kind, aliases, limit, its secret's
 *                                                                         SHA-256 or where the secret is kept)
 * registry's rate bucket       RATELIMIT#<registry name>       RATELIMIT (full_at, TTL)
 *
 * A rollout whose ending sweep is unfinished is also listed in `deviceList` (gsi3pk = SWEEP,
 * gsi3sk = its id): the index is overloaded, and the sparse listing holds only those rollouts.
 *
 * Rollout-level events live in shard 0; device events in the device's shard. A rollout's devices
 * are spread over `shard_count` partitions (chosen at planning from the fleet size) so that no
 * partition takes more than a few hundred writes a second when a large batch reports at once.
 * Each device of a rollout has a sequence number; batch n is the sequence range
 * [first_seq, first_seq + size), so a batch's rows are one range query per shard.
 *
 * Access patterns
 * ---------------
 * device state poll / report (hot path)   GetItem / UpdateItem device
 * move an app's target for a rollout      conditional UpdateItem device (target version, target_set_by rank)
 * register device                         PutItem device + PutItem membership per app
 * list devices                            Query deviceList (gsi3pk = DEVICE), BatchGet devices; a label
 *                                         filter is applied to the devices read (the index has keys only)
 * change a device (name, ip, labels)      conditional UpdateItem device, SET / REMOVE of just those
 * devices running a repository            Query REPO#<repository> (planning a rollout; BatchGet their
 *                                         devices for labels; once per batch_order group)
 * create / read / update / delete policy  Put / Get / Update / Delete POLICY#<id>
 * list policies, match a push             Query byKind (gsi1pk = POLICY)
 * create / read / transition rollout      Put / Get / conditional Put ROLLOUT#<id> (version), with the
 *                                         change's events in `outbox`, then PutItem each event and a
 *                                         conditional UpdateItem that clears the outbox
 * finish endings cut short (the tick)     Query deviceList (gsi3pk = SWEEP), GetItem each rollout;
 *                                         GetItem SWEPT#<status> per shard, PutItem one when a shard
 *                                         sweep found nothing left
 * list rollouts (newest first)            Query byKind (gsi1pk = ROLLOUT), filter image_name
 * rollouts by status (filter, tick,       Query byStatus (gsi2pk = ROLLOUT#STATUS#<status>)
 *   supersede)
 * what a policy runs for a               Query PUSHES#<repository>, sk begins_with POLICY#<id>#, newest
 *   repository (a push under a            first, a page at a time; GetItem each rollout until one counts
 *   non-glob tag policy)                  (lib/rollouts/tag-policies.ts); the item is PutItem before
 *                                         its rollout is created
 * a push starts its rollout               conditional UpdateItem PUSHES#<repository> (rank not older);
 *                                         GetItem it when a newer push's rollout started first
 * batch progress                          Query each shard, sk begins_with BATCH#
 * count a device's move                   UpdateItem ADD on its shard's BATCH#<nnn>
 * recount a batch shard                   Query its rows, conditional PutItem BATCH#<nnn> (revision)
 * schedule a paced batch                  conditional UpdateItem PACE (lease free or its own), then
 *                                         UpdateItem PACE conditioned on holding the lease per claim
 *                                         and position; a device report of a paced batch: UpdateItem
 *                                         PACE (ADD wakes, while the lease is held)
 * devices of a batch                      Query each shard, sk BETWEEN DEVICE#<first> AND DEVICE#<last>
 * devices of a rollout                    Query each shard, sk begins_with DEVICE#
 * one device in a rollout (admin)         Query its shard, sk begins_with DEVICE#, filter device_uuid
 * the row of the rollout that set a       GetItem DEVICE#<seq> (the device keeps target_set_seq)
 *   device's target
 * rollout events, time-ordered            Query each shard, sk begins_with EVENT#, merged by id
 * claim a webhook delivery                conditional PutItem DELIVERY#..., TTL 7 days; GetItem when
 *                                         another copy claimed it; UpdateItem its outcome
 * authenticate an admin                   the bootstrap key's hash (Secrets Manager, cached), else
 *                                         GetItem ADMINKEY#<id> when the key names one (fra_<ulid>.…),
 *                                         else GetItem ADMINKEY#<hash>
 * create a named admin key                conditional PutItem ADMINKEYNAME#<name> (not claimed, or a
 *                                         stale claim taken over), then PutItem ADMINKEY#<id>
 * list named admin keys                   Query byKind (gsi1pk = ADMINKEY)
 * revoke a named admin key                conditional UpdateItem ADMINKEY#<id> (revoked_at), then
 *                                         conditional DeleteItem ADMINKEYNAME#<name> (still its own)
 * delete a device                         per app: GetItem the rollout its pointer / target_set_by
 *                                         names and its row, conditional UpdateItem the row (skipped);
 *                                         DeleteItem each membership; conditional DeleteItem the
 *                                         device (target version as read) last
 * rotate a device token                   conditional UpdateItem device (token_hash as read)
 * create / revoke provisioning key        PutItem / conditional UpdateItem PROVKEY#<id>
 * list provisioning keys                  Query byKind (gsi1pk = PROVKEY)
 * create / read / update / delete         Put / Get / conditional Update / Delete SUBSCRIPTION#<id>
 *   notification subscription
 * list subscriptions; match events to     Query byKind (gsi1pk = SUBSCRIPTION); appendEvents' read is
 *   them                                  cached a few seconds per process (lib/notifications)
 * record a delivery's outcome             conditional UpdateItem SUBSCRIPTION#<id> (exists)
 * create a registry                       conditional PutItem REGISTRY#<name> (not there: a name is taken once)
 * read / list registries; resolve the     GetItem REGISTRY#<name>; Query byKind (gsi1pk = REGISTRY, gsi1sk =
 *   registry of a webhook or ECR event      its name); the intake's read is cached briefly per process
 * change / rotate / delete a registry     conditional UpdateItem REGISTRY#<name> (version as read) /
 *                                         conditional DeleteItem, then DeleteItem its RATELIMIT#<name>
 * take a webhook delivery's token         conditional UpdateItem RATELIMIT#<name> (full, else a token
 *                                         left: no read); GetItem it only when refused, for Retry-After
 * provision a device                      GetItem PROVKEY#<id> (the key names its id), GetItem the
 *                                         device, conditional UpdateItem ADD uses (not revoked,
 *                                         not expired, uses < max_uses), then register device
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export const indexes = {
  byKind: { name: 'byKind', pk: 'gsi1pk', sk: 'gsi1sk', projection: 'ALL' },
  byStatus: { name: 'byStatus', pk: 'gsi2pk', sk: 'gsi2sk', projection: 'ALL' },
  deviceList: { name: 'deviceList', pk: 'gsi3pk', sk: 'gsi3sk', projection: 'KEYS_ONLY' },
} as const;

export type Index = (typeof indexes)[keyof typeof indexes];

export const ttlAttribute = 'expires_at';

/** Attributes that exist for the table's sake (keys, index keys, TTL), never part of an entity. */
export const storageAttributes: readonly string[] = ['pk', 'sk', ...Object.values(indexes).flatMap((i) => [i.pk, i.sk]), ttlAttribute];

export type Key = {
  pk: string;
  sk: string;
};

const pad = (n: number) => String(n).padStart(3, '0');
const seqKey = (seq: number) => `DEVICE#${String(seq).padStart(9, '0')}`;

export const keys = {
  device: (uuid: string): Key => ({ pk: `DEVICE#${uuid}`, sk: 'DEVICE' }),
  deviceListing: (uuid: string) => ({ gsi3pk: 'DEVICE', gsi3sk: uuid }),
  deviceListPk: 'DEVICE',

  repositoryMember: (repository: string, uuid: string, app: string): Key => ({
    pk: `REPO#${repository}`,
    sk: `DEVICE#${uuid}#APP#${app}`,
  }),
  repositoryPk: (repository: string) => `REPO#${repository}`,
  newestStartedPush: (repository: string): Key => ({ pk: `PUSHES#${repository}`, sk: 'NEWEST_STARTED' }),
  /** Sorted by push (the rank, lib/domain/push-order.ts) within each policy. */
  policyRollout: (repository: string, policyId: string, rank: string): Key => ({ pk: `PUSHES#${repository}`, sk: `POLICY#${policyId}#${rank}` }),
  policyRolloutsPk: (repository: string) => `PUSHES#${repository}`,
  policyRolloutsPrefix: (policyId: string) => `POLICY#${policyId}#`,

  policy: (id: string): Key => ({ pk: `POLICY#${id}`, sk: 'POLICY' }),
  policyListing: (createdAt: string, id: string) => ({ gsi1pk: 'POLICY', gsi1sk: `${createdAt}#${id}` }),
  policyListPk: 'POLICY',

  rollout: (id: string): Key => ({ pk: `ROLLOUT#${id}`, sk: 'ROLLOUT' }),
  rolloutListing: (createdAt: string, id: string) => ({ gsi1pk: 'ROLLOUT', gsi1sk: `${createdAt}#${id}` }),
  rolloutListPk: 'ROLLOUT',
  rolloutStatusListing: (status: string, createdAt: string, id: string) => ({
    gsi2pk: `ROLLOUT#STATUS#${status}`,
    gsi2sk: `${createdAt}#${id}`,
  }),
  rolloutStatusPk: (status: string) => `ROLLOUT#STATUS#${status}`,

  rolloutSweepListing: (id: string) => ({ gsi3pk: 'SWEEP', gsi3sk: id }),
  rolloutSweepListPk: 'SWEEP',

  rolloutShardPk: (rolloutId: string, shard: number) => `ROLLOUT#${rolloutId}#S#${shard}`,
  shardSwept: (rolloutId: string, shard: number, ending: string): Key => ({
    pk: `ROLLOUT#${rolloutId}#S#${shard}`,
    sk: `SWEPT#${ending}`,
  }),
  batchCounters: (rolloutId: string, shard: number, batch: number): Key => ({
    pk: `ROLLOUT#${rolloutId}#S#${shard}`,
    sk: `BATCH#${pad(batch)}`,
  }),
  batchCountersPrefix: 'BATCH#',
  pace: (rolloutId: string): Key => ({ pk: `ROLLOUT#${rolloutId}#S#0`, sk: 'PACE' }),
  /** The batch number a batch-counters sort key names: `BATCH#007` → 7. */
  batchOfCounters: (sk: string) => Number(sk.slice('BATCH#'.length)),
  rolloutDevice: (rolloutId: string, shard: number, seq: number): Key => ({
    pk: `ROLLOUT#${rolloutId}#S#${shard}`,
    sk: seqKey(seq),
  }),
  rolloutDevicesPrefix: 'DEVICE#',
  isRolloutDeviceSk: (sk: string) => /^DEVICE#\d{9}$/.test(sk),
  /** The sequence number a device row's sort key names: `DEVICE#000000042` → 42. */
  seqOfRolloutDeviceSk: (sk: string) => Number(sk.slice('DEVICE#'.length)),
  /** Sort-key bounds (inclusive) of the device rows with sequence numbers in [first, first + size). */
  seqRange: (first: number, size: number) => ({ from: seqKey(first), to: seqKey(first + size - 1) }),
  event: (rolloutId: string, shard: number, eventId: string): Key => ({
    pk: `ROLLOUT#${rolloutId}#S#${shard}`,
    sk: `EVENT#${eventId}`,
  }),
  eventPrefix: 'EVENT#',

  delivery: (registry: string, deliveryId: string): Key => ({
    pk: `DELIVERY#${registry}#${deliveryId}`,
    sk: 'DELIVERY',
  }),

  adminKey: (keyHash: string): Key => ({ pk: `ADMINKEY#${keyHash}`, sk: 'ADMINKEY' }),
  /** Ids start `ak_`, hashes are hex: a named key's item never meets a configured one's. */
  namedAdminKey: (id: string): Key => ({ pk: `ADMINKEY#${id}`, sk: 'ADMINKEY' }),
  adminKeyListing: (createdAt: string, id: string) => ({ gsi1pk: 'ADMINKEY', gsi1sk: `${createdAt}#${id}` }),
  adminKeyListPk: 'ADMINKEY',
  /** Names are unique whatever their case: `Alice` and `alice` would be one person to a reader. */
  adminKeyName: (name: string): Key => ({ pk: `ADMINKEYNAME#${name.normalize('NFC').toLowerCase()}`, sk: 'ADMINKEYNAME' }),

  provisioningKey: (id: string): Key => ({ pk: `PROVKEY#${id}`, sk: 'PROVKEY' }),
  provisioningKeyListing: (createdAt: string, id: string) => ({ gsi1pk: 'PROVKEY', gsi1sk: `${createdAt}#${id}` }),
  provisioningKeyListPk: 'PROVKEY',

  subscription: (id: string): Key => ({ pk: `SUBSCRIPTION#${id}`, sk: 'SUBSCRIPTION' }),
  subscriptionListing: (createdAt: string, id: string) => ({ gsi1pk: 'SUBSCRIPTION', gsi1sk: `${createdAt}#${id}` }),
  subscriptionListPk: 'SUBSCRIPTION',

  registry: (name: string): Key => ({ pk: `REGISTRY#${name}`, sk: 'REGISTRY' }),
  /** Listed by name: an operator looks a registry up by the name in its webhook URL. */
  registryListing: (name: string) => ({ gsi1pk: 'REGISTRY', gsi1sk: name }),
  registryListPk: 'REGISTRY',
  rateBucket: (registry: string): Key => ({ pk: `RATELIMIT#${registry}`, sk: 'RATELIMIT' }),
};

/** `<created_at>#<id>`, the sort key of the time-ordered listings, split; undefined if it is not one. */
function timeOrdered(sk: string): { createdAt: string; id: string } | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)#([^#]+)$/.exec(sk);
  return match ? { createdAt: match[1]!, id: match[2]! } : undefined;
}

/**
 * The whole key (table and index attributes) of the item an index listing shows under a given
 * index sort key, or undefined where no item could have that sort key. A listing's page cursor is
 * such a key, so this is how a listing tells its own cursors from tampered ones.
 */
export type ListedKey = (indexSk: string) => Record<string, string> | undefined;

export const listedKeys: {
  policy: ListedKey;
  device: ListedKey;
  rollout: ListedKey;
  rolloutWithStatus: (status: string) => ListedKey;
  provisioningKey: ListedKey;
  adminKey: ListedKey;
  subscription: ListedKey;
  registry: ListedKey;
} = {
  policy: (sk) => {
    const at = timeOrdered(sk);
    return at && { ...keys.policy(at.id), ...keys.policyListing(at.createdAt, at.id) };
  },
  device: (uuid) => (uuid !== '' && !uuid.includes('#') ? { ...keys.device(uuid), ...keys.deviceListing(uuid) } : undefined),
  rollout: (sk) => {
    const at = timeOrdered(sk);
    return at && { ...keys.rollout(at.id), ...keys.rolloutListing(at.createdAt, at.id) };
  },
  provisioningKey: (sk) => {
    const at = timeOrdered(sk);
    return at && { ...keys.provisioningKey(at.id), ...keys.provisioningKeyListing(at.createdAt, at.id) };
  },
  adminKey: (sk) => {
    const at = timeOrdered(sk);
    return at && at.id.startsWith('ak_') ? { ...keys.namedAdminKey(at.id), ...keys.adminKeyListing(at.createdAt, at.id) } : undefined;
  },
  subscription: (sk) => {
    const at = timeOrdered(sk);
    return at && { ...keys.subscription(at.id), ...keys.subscriptionListing(at.createdAt, at.id) };
  },
  registry: (name) => (name !== '' && !name.includes('#') ? { ...keys.registry(name), ...keys.registryListing(name) } : undefined),
  rolloutWithStatus: (status) => (sk) => {
    const at = timeOrdered(sk);
    return at && { ...keys.rollout(at.id), ...keys.rolloutStatusListing(status, at.createdAt, at.id) };
  },
};

/** Shard of a device within a rollout: stable, so every write about one device finds one row. */
export function shardOf(uuid: string, shardCount: number): number {
  if (shardCount <= 1) return 0;
  let hash = 2166136261;
  for (let i = 0; i < uuid.length; i++) {
    hash ^= uuid.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  return (hash >>> 0) % shardCount;
}

/** The table as CreateTable takes it: on-demand, the three indexes above. */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  const attributes = ['pk', 'sk', ...Object.values(indexes).flatMap((i) => [i.pk, i.sk])];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: attributes.map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: Object.values(indexes).map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.pk, KeyType: 'HASH' },
        { AttributeName: index.sk, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: index.projection },
    })),
  };
}
