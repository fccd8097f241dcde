/**
 * Which of two pushes of a repository is the newer: by push time, then by when it arrived (two
 * pushes of one tag within a second carry the same Docker Hub `pushed_at`), then by id. Devices
 * always end on the newest push's image, whatever order the webhooks came in.
 */
export interface PushedRollout {
  id: string;
  pushed_at: string;
  created_at: string;
}

/** A string that sorts as the pushes do (ISO 8601 times from `toISOString` have one width). */
export function rolloutRank(rollout: PushedRollout): string {
  return `${rollout.pushed_at}|${rollout.created_at}|${rollout.id}`;
}

/** The id of the rollout a rank names (the rank's last part; rollout ids hold no `|`). */
export function rolloutIdOfRank(rank: string): string {
  return rank.slice(rank.lastIndexOf('|') + 1);
}

export function isNewerPush(a: PushedRollout, b: PushedRollout): boolean {
  return rolloutRank(a) > rolloutRank(b);
}
