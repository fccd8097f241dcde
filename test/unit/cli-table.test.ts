/** The CLI's tables and field lists: columns line up whatever the cell widths, and nothing trails. */
import { describe, expect, it } from 'vitest';
import { renderFields, renderTable, shortTime } from '../../cli/table';

describe('renderTable', () => {
  const rows = [
    { id: 'ro-1', status: 'in_progress', devices: 120 },
    { id: 'ro-22', status: 'paused', devices: 8 },
  ];
  const columns = [
    { header: 'ID', value: (r: (typeof rows)[number]) => r.id },
    { header: 'DEVICES', value: (r: (typeof rows)[number]) => String(r.devices), align: 'right' as const },
    { header: 'STATUS', value: (r: (typeof rows)[number]) => r.status },
  ];

  it('pads each column to its widest cell, numbers to the right, with no trailing spaces', () => {
    expect(renderTable(columns, rows)).toEqual([
      'ID     DEVICES  STATUS', //
      'ro-1       120  in_progress',
      'ro-22        8  paused',
    ]);
  });

  it('is a header alone without rows', () => {
    expect(renderTable(columns, [])).toEqual(['ID  DEVICES  STATUS']);
  });

  it('keeps a row on one line when a cell holds line breaks or tabs', () => {
    const lines = renderTable([{ header: 'NAME', value: (r: { name: string }) => r.name }], [{ name: 'kitchen\npi\t2' }]);
    expect(lines).toEqual(['NAME', 'kitchen pi 2']);
  });
});

describe('renderFields', () => {
  it('lines the values up after the longest name', () => {
    expect(
      renderFields([
        ['id', 'pol_1'],
        ['update timeout', '30 min'],
        ['name', ''],
      ]),
    ).toEqual(['id:              pol_1', 'update timeout:  30 min', 'name:']);
  });
});

describe('shortTime', () => {
  it('shows an ISO time to the minute, and a dash for none', () => {
    expect(shortTime('2026-12-01T23:32:24.976Z')).toBe('2026-12-01 23:32');
    expect(shortTime(null)).toBe('-');
  });
});
