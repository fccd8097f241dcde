/**
 * The dashboard in a real browser (Debian's Chromium): an operator logs in with the keyboard,
 * watches a staged rollout's first batch complete on a simulated fleet, pauses it, resumes it and
 * rolls one device back, each from the page alone and each seen on the page and in the API; a
 * policy the API refuses shows its message at the field. Screenshots at a laptop's and a phone's
 * size land in test/e2e/screenshots/.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { startHost, type Host } from '../../infra/embedded/host';
import { flow } from '../support/flow';

const screenshots = fileURLToPath(new URL('../e2e/screenshots/', import.meta.url));
const laptop = { width: 1280, height: 800 };
const phone = { width: 390, height: 844 };
const repository = 'iotistic/dashboard-app';

let host: Host;
let steps: ReturnType<typeof flow>;
let fleet: SimulatedDevice[];
let stopPolling: () => Promise<void>;
let browser: Browser;
let page: Page;
let rolloutId: string;
/** What the page itself reported going wrong: script errors, refused requests, CSP violations. */
const pageProblems: string[] = [];

async function openPage(viewport: { width: number; height: number }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  const opened = await context.newPage();
  opened.on('pageerror', (error) => pageProblems.push(`page error: ${error.message}`));
  // The wrong key's 401 and the refused policy's 400 are the answers the tests ask for.
  opened.on('console', (message) => message.type() === 'error' && !/status of (400|401)\b/.test(message.text()) && pageProblems.push(`console: ${message.text()}`));
  await opened.goto(`${host.url}/dashboard`);
  return opened;
}

/** Logs in the way a keyboard user does: the key field has the focus, Enter submits. */
async function logIn(on: Page, key: string): Promise<void> {
  await expect.poll(() => on.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('admin-key');
  await on.keyboard.type(key);
  await on.keyboard.press('Enter');
}

beforeAll(async () => {
  await mkdir(screenshots, { recursive: true });
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  steps = flow(host);
  fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 6, image: `${repository}:v1`, namePrefix: 'dash' });
  stopPolling = startPolling(fleet, 200);
  // Three batches of two, half a minute apart: time to act between them.
  await steps.createPolicy({ image_pattern: `${repository}:*`, batch_percentages: [34, 67, 100], batch_delay_minutes: 0.5, update_timeout_minutes: 5 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  page = await openPage(laptop);
});

afterAll(async () => {
  await browser?.close();
  await stopPolling?.();
  await host?.stop();
});

describe('the dashboard', () => {
  it('is served with its security headers, and its bundle under a hashed name that never goes stale', async () => {
    const response = await fetch(`${host.url}/dashboard`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
    const script = /src="dashboard\/(main-[A-Z0-9]{8}\.js)"/.exec(html)?.[1];
    expect(script, html).toBeDefined();
    const bundle = await fetch(`${host.url}/dashboard/${script}`);
    expect(bundle.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(bundle.headers.get('cache-control')).toContain('immutable');
    // The page itself is revalidated: its ETag answers 304 until a new build changes it.
    const again = await fetch(`${host.url}/dashboard`, { headers: { 'if-none-match': response.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  it('shows the API\'s own message for a wrong key, and lets the right one in', async () => {
    const refused = await steps.api('GET', '/api/v1/rollouts/active', { token: 'fra_not-the-key' });
    expect(refused.status).toBe(401);
    await logIn(page, 'fra_not-the-key');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe(refused.body.error.message);

    await page.getByLabel('Admin API key').fill('');
    await page.getByLabel('Admin API key').focus();
    await logIn(page, host.adminApiKey);
    await page.getByRole('heading', { name: 'Active rollouts' }).waitFor();
    // The key lives in this tab's session storage, nowhere else.
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie])).toEqual([1, 0, '']);
  });

  it('lists the rollout a push starts, with its batches, counts and failure rate', async () => {
    const pushed = await steps.push(repository, 'v2');
    expect(pushed.status).toBe(202);
    rolloutId = pushed.body.rollouts[0].id;
    const card = page.getByRole('article', { name: `Rollout of ${repository}:v2` });
    await card.waitFor({ timeout: 20_000 });
    await expect.poll(() => card.getByRole('progressbar').count(), { timeout: 15_000 }).toBe(3);
    await expect.poll(() => card.textContent()).toMatch(/Failure rate 0% of at most 20%/);
    await page.screenshot({ path: `${screenshots}rollouts-1280x800.png`, fullPage: true });
  });

  it('shows the first batch complete, then pauses, resumes and rolls back one device from the page', async () => {
    await page.getByRole('link', { name: `${repository}:v2` }).click();
    const firstBatch = page.getByRole('progressbar', { name: /^Batch 1 of 3 \(34%\): (\d+) of \1 devices done, completed$/ });
    await firstBatch.waitFor({ timeout: 30_000 });

    await page.getByRole('button', { name: 'Pause' }).click();
    const dialog = page.getByRole('dialog', { name: 'Pause this rollout?' });
    await dialog.getByLabel(/Reason/).fill('checking batch 1 by hand');
    await dialog.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(async () => (await steps.rollout(rolloutId)).rollout.status).toBe('paused');
    await page.getByText('checking batch 1 by hand').first().waitFor();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/paused/);
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    // Focus is back on the page, not lost with the dialog.
    expect(await page.evaluate(() => document.activeElement?.tagName)).not.toBe('BODY');
    await page.screenshot({ path: `${screenshots}rollout-paused-1280x800.png`, fullPage: true });

    await page.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(async () => (await steps.rollout(rolloutId)).rollout.status).toBe('in_progress');
    await page.getByRole('button', { name: 'Pause' }).waitFor({ timeout: 10_000 });

    const updated = (await steps.rollout(rolloutId)).devices.find((d: { status: string }) => d.status === 'updated');
    expect(updated, 'a device of the first batch').toBeDefined();
    await page.getByRole('button', { name: `Roll back ${updated.device_name}` }).click();
    const confirm = page.getByRole('dialog', { name: `Roll back ${updated.device_name}?` });
    await confirm.getByRole('button', { name: 'Roll back device' }).click();
    const row = page.getByRole('row', { name: new RegExp(updated.device_name) });
    await expect.poll(() => row.getByText('rolled back').count(), { timeout: 10_000 }).toBe(1);
    const devices = (await steps.rollout(rolloutId)).devices;
    expect(devices.find((d: { device_uuid: string }) => d.device_uuid === updated.device_uuid).status).toBe('rolled_back');
    await page.screenshot({ path: `${screenshots}rollout-1280x800.png`, fullPage: true });
  });

  it('shows a policy the API refuses with its message at the field, then creates, edits and deletes it', async () => {
    await page.getByRole('link', { name: 'Policies' }).click();
    await page.getByRole('button', { name: 'New policy' }).click();
    await page.getByLabel('Image pattern').fill('acme/web:*');
    await page.getByLabel('Maximum failure rate (0–1)').fill('2');
    await page.getByRole('button', { name: 'Create policy' }).click();
    const field = page.getByLabel('Maximum failure rate (0–1)');
    await expect.poll(() => field.getAttribute('aria-invalid')).toBe('true');
    const message = await page.locator('#policy-max_failure_rate-error').textContent();
    expect(message).toBe('max_failure_rate must be at most 1');
    expect(await field.evaluate((input) => input === document.activeElement)).toBe(true);
    await page.screenshot({ path: `${screenshots}policy-form-1280x800.png`, fullPage: true });

    // Corrected, it is created; then edited and deleted from the list.
    await field.fill('0.3');
    await page.getByRole('button', { name: 'Create policy' }).click();
    await page.getByRole('button', { name: 'Edit policy acme/web:*' }).click();
    await page.getByLabel('Priority (-1000–1000)').fill('7');
    await page.getByRole('button', { name: 'Save policy' }).click();
    const row = page.getByRole('row', { name: /acme\/web:\*/ });
    await expect.poll(() => row.textContent()).toMatch(/30%7/);
    await page.getByRole('button', { name: 'Delete policy acme/web:*' }).click();
    await page.getByRole('dialog', { name: /^Delete policy/ }).getByRole('button', { name: 'Delete policy' }).click();
    await expect.poll(() => row.count()).toBe(0);
    const { body } = await steps.api('GET', '/api/v1/policies');
    expect(body.policies.map((p: { image_pattern: string }) => p.image_pattern)).toEqual([`${repository}:*`]);
  });

  it('finds a device by name and shows its target and current state', async () => {
    const moved = (await steps.rollout(rolloutId)).devices.find((d: { status: string }) => d.status === 'updated');
    await page.getByRole('link', { name: 'Devices' }).click();
    await page.getByLabel('Search by name or uuid').fill(moved.device_name);
    const card = page.getByRole('article', { name: `Device ${moved.device_name}` });
    await card.waitFor();
    await expect.poll(() => page.getByRole('article').count()).toBe(1);
    await card.getByRole('button', { name: 'Show target and current state' }).click();
    // Target and current state both on the new image, the first batch's.
    const app = card.getByRole('row', { name: /main/ });
    await expect.poll(async () => (await app.textContent())?.split(`${repository}:v2`).length).toBe(3);
    await page.screenshot({ path: `${screenshots}devices-1280x800.png`, fullPage: true });
  });

  it('reads well at a phone\'s width', async () => {
    const small = await openPage(phone);
    await logIn(small, host.adminApiKey);
    await small.getByRole('article', { name: `Rollout of ${repository}:v2` }).waitFor();
    await small.screenshot({ path: `${screenshots}rollouts-390x844.png`, fullPage: true });
    await small.getByRole('link', { name: `${repository}:v2` }).click();
    await small.getByRole('heading', { name: 'Devices' }).waitFor();
    // Nothing is wider than the screen: no sideways scrolling of the page.
    expect(await small.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(phone.width);
    await small.screenshot({ path: `${screenshots}rollout-390x844.png`, fullPage: true });
    await small.getByRole('button', { name: 'Log out' }).click();
    await small.getByLabel('Admin API key').waitFor();
    expect(await small.evaluate(() => sessionStorage.length)).toBe(0);
    await small.context().close();
    expect(pageProblems).toEqual([]);
  });
});
