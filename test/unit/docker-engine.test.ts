import { describe, expect, it } from 'vitest';
import { createOptions } from '../../agent/docker-engine';
import { labels } from '../../agent/engine';

describe('the Docker engine mapping', () => {
  it('maps container settings onto the create body', () => {
    expect(
      createOptions({
        name: 'fleet-deva-main',
        image: 'acme/app@sha256:' + 'a'.repeat(64),
        labels: { [labels.app]: 'main' },
        settings: { network_mode: 'host', ports: ['8080:80/tcp'], volumes: ['/data:/data:ro'], restart_policy: 'unless-stopped', env: { MODE: 'prod' }, command: ['httpd', '-f'] },
      }),
    ).toEqual({
      name: 'fleet-deva-main',
      Image: 'acme/app@sha256:' + 'a'.repeat(64),
      Labels: { [labels.app]: 'main' },
      Env: ['MODE=prod'],
      Cmd: ['httpd', '-f'],
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { NetworkMode: 'host', PortBindings: { '80/tcp': [{ HostPort: '8080' }] }, Binds: ['/data:/data:ro'], RestartPolicy: { Name: 'unless-stopped' } },
    });
    expect(createOptions({ name: 'n', image: 'i', labels: {}, settings: { ports: ['127.0.0.1:53:53/udp', '9000'] } }).HostConfig!.PortBindings).toEqual({
      '53/udp': [{ HostIp: '127.0.0.1', HostPort: '53' }],
      '9000/tcp': [{ HostPort: '9000' }],
    });
  });
});
