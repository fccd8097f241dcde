/**
 * `npm run bench:compare -- a.json b.json [c.json …]`: the figures of several `npm run bench --
 * --json` runs side by side, each with its median, so that three runs read as "median of three".
 * A figure missing from a run shows as `-` and is left out of its median.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

const files = process.argv.slice(2);
if (files.length < 2) {
  process.stderr.write('usage: npm run bench:compare -- <run.json> <run.json> [<run.json> …]\n');
  process.exit(2);
}

const runs = await Promise.all(files.map(async (file) => JSON.parse(await readFile(file, 'utf8')) as Record<string, number>));
const names = [...new Set(runs.flatMap((run) => Object.keys(run)))];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
const show = (n: number | undefined) => (n === undefined ? '-' : Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4))));

const width = Math.max(...names.map((name) => name.length));
const columns = [...files.map((file) => basename(file, '.json')), 'median'];
const cell = Math.max(12, ...columns.map((c) => c.length));
const lines = [`${'figure'.padEnd(width)}  ${columns.map((c) => c.padStart(cell)).join(' ')}`];
for (const name of names) {
  const values = runs.map((run) => (typeof run[name] === 'number' ? run[name] : undefined));
  const present = values.filter((v): v is number => v !== undefined);
  lines.push(`${name.padEnd(width)}  ${[...values, median(present)].map((v) => show(v).padStart(cell)).join(' ')}`);
}
process.stdout.write(`${lines.join('\n')}\n`);
