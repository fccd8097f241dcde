/** Aligned plain-text tables and field lists, for people; `--json` is there for scripts. */

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

/** A header and one line per row, columns two spaces apart, no trailing spaces. */
export function renderTable<T>(columns: Column<T>[], rows: readonly T[]): string[] {
  const cells = rows.map((row) => columns.map((column) => oneLine(column.value(row))));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((line) => line[i]!.length)));
  const format = (line: string[]) =>
    line
      .map((cell, i) => (columns[i]!.align === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [format(columns.map((column) => column.header)), ...cells.map(format)];
}

/** `name:   value` lines, the names padded to one width. */
export function renderFields(fields: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(0, ...fields.map(([name]) => name.length)) + 1;
  return fields.map(([name, value]) => `${`${name}:`.padEnd(width)}  ${oneLine(value)}`.trimEnd());
}

/** A cell never breaks the table: line breaks and tabs become spaces. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/** `2026-12-01 23:32` (UTC): minutes are enough to tell rows apart in a table. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').slice(0, 16);
}

export const orDash = (value: string | number | null | undefined) => (value === null || value === undefined || value === '' ? '-' : String(value));
