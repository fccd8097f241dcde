/** The poll hint's settings (environment contract) and the container settings' specs. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { isPortSpec, isVolumeSpec, sameContainerSettings } from '../../lib/container-settings';
import { functionEnvironment } from '../../lib/environment';

describe('poll interval settings', () => {
  it('default to 300 s, and 15 s while a rollout is under way', () => {
    expect(loadConfig({})).toMatchObject({ devicePollIntervalSeconds: 300, devicePollIntervalActiveSeconds: 15 });
  });

  it('are read from DEVICE_POLL_INTERVAL_SECONDS and DEVICE_POLL_INTERVAL_ACTIVE_SECONDS', () => {
    expect(loadConfig({ DEVICE_POLL_INTERVAL_SECONDS: '120', DEVICE_POLL_INTERVAL_ACTIVE_SECONDS: '5' })).toMatchObject({
      devicePollIntervalSeconds: 120,
      devicePollIntervalActiveSeconds: 5,
    });
  });

  it('refuse what is not a whole number of seconds from 1 to a day, naming the variable', () => {
    for (const raw of ['0', '-5', '2.5', 'soon', '86401']) {
      expect(() => loadConfig({ DEVICE_POLL_INTERVAL_SECONDS: raw })).toThrow(`DEVICE_POLL_INTERVAL_SECONDS must be a whole number of seconds from 1 to 86400, got "${raw}"`);
      expect(() => loadConfig({ DEVICE_POLL_INTERVAL_ACTIVE_SECONDS: raw })).toThrow('DEVICE_POLL_INTERVAL_ACTIVE_SECONDS');
    }
  });

  it('refuse an active interval longer than the idle one', () => {
    expect(() => loadConfig({ DEVICE_POLL_INTERVAL_SECONDS: '10', DEVICE_POLL_INTERVAL_ACTIVE_SECONDS: '20' })).toThrow('must not be longer than DEVICE_POLL_INTERVAL_SECONDS');
  });

  it('reach the functions as common settings when a host sets them, and are absent otherwise', () => {
    const resources = { tableName: 't', queueUrls: {} as never, secrets: {} };
    const common = { tickSeconds: 30, healthCheckAllowedCidrs: ['10.0.0.0/8'] };
    expect(functionEnvironment({ table: 'read-write' }, resources, { ...common, devicePollIntervalSeconds: 60, devicePollIntervalActiveSeconds: 3 })).toMatchObject({
      DEVICE_POLL_INTERVAL_SECONDS: '60',
      DEVICE_POLL_INTERVAL_ACTIVE_SECONDS: '3',
    });
    expect(Object.keys(functionEnvironment({ table: 'read-write' }, resources, common))).not.toContain('DEVICE_POLL_INTERVAL_SECONDS');
  });
});

describe('container settings specs', () => {
  it('take ports as [ip:]host:container[/tcp|udp]', () => {
    for (const ok of ['80:80', '8080:80/tcp', '53:53/udp', '127.0.0.1:8080:80', '[::1]:8080:80/tcp', '65535:1']) expect(isPortSpec(ok), ok).toBe(true);
    for (const bad of ['80', '0:80', '80:65536', '80:80/sctp', '1.2.3:80:80', '[1.2.3.4]:80:80', '::1:80:80', 'a:80', '80:80/', ' 80:80']) expect(isPortSpec(bad), bad).toBe(false);
  });

  it('take volumes as name-or-/abs/path:/abs/path[:ro]', () => {
    for (const ok of ['data:/data', 'my_vol.1:/var/lib/x:ro', '/srv/app:/app', '/:/host:ro']) expect(isVolumeSpec(ok), ok).toBe(true);
    for (const bad of ['data', 'data:data', 'data:/data:rw', '-x:/data', '/a/../b:/b', 'data:/a/..', 'a:/b:ro:x', ':/data']) expect(isVolumeSpec(bad), bad).toBe(false);
  });

  it('compare regardless of key order', () => {
    expect(sameContainerSettings({ env: { A: '1', B: '2' }, network_mode: 'host' }, { network_mode: 'host', env: { B: '2', A: '1' } })).toBe(true);
    expect(sameContainerSettings({ ports: ['1:1', '2:2'] }, { ports: ['2:2', '1:1'] })).toBe(false);
    expect(sameContainerSettings(undefined, null)).toBe(true);
    expect(sameContainerSettings({}, null)).toBe(false);
  });
});
