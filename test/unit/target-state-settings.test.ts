/** The container settings' specs. */
import { describe, expect, it } from 'vitest';
import { isPortSpec, isVolumeSpec, sameContainerSettings } from '../../lib/container-settings';

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
