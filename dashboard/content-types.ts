/** What the dashboard is made of, shared by its build and the function serving it. */
export interface DashboardFile {
  name: string;
  contentType: string;
  body: Uint8Array;
}

const contentTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

export const contentTypeOf = (name: string): string => contentTypes[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
