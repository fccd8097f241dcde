/**
 * Seeded randomness for the chaos run: every choice (which call fails, which copy comes late,
 * which admin acts when, where the host dies) comes from one of these, so `--seed` replays the
 * same plan. Timing noise of a shared machine aside, a seed that failed fails again.
 */

/** mulberry32: a small, fast 32-bit generator; plenty for test plans, never for secrets. */
export class Random {
  private state: number;

  constructor(private readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A new generator whose sequence depends on this one's seed and `salt`, not on how far this one has run. */
  fork(salt: number): Random {
    return new Random(Math.imul((this.seed ^ Math.imul(salt + 1, 0x9e3779b9)) >>> 0, 2654435761) >>> 0);
  }
}
