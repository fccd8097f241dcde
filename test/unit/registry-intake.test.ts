/** The pure parts of the intake: host aliases, the ECR event, the default bus's pattern matching. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { matchesPattern } from '../../infra/embedded/event-rules';
import { functions } from '../../infra/manifest';
import { Invalid } from '../../lib/errors';
import { eventKinds, isWebhookKind, registries, registryKinds } from '../../lib/registry';
import { parseEcrEvent } from '../../lib/registry/ecr';
import { applyHostAlias, normaliseHostAliases } from '../../lib/registry/host-aliases';

const ecrPush = JSON.parse(readFileSync(new URL('../fixtures/registry/ecr-image-push.json', import.meta.url), 'utf8'));

describe('host aliases', () => {
  const aliases = normaliseHostAliases({ 'LocalHost:5000': 'registry.lan:5000', '[::1]:5000': 'registry.lan:5000' });

  it.each([
    ['localhost:5000/team/app', 'registry.lan:5000/team/app'],
    ['LOCALHOST:5000/team/app', 'registry.lan:5000/team/app'],
    ['[::1]:5000/app', 'registry.lan:5000/app'],
    // Only the whole host matches, and only the host part changes.
    ['localhost:5001/team/app', 'localhost:5001/team/app'],
    ['localhost/team/app', 'localhost/team/app'],
    ['team/localhost:5000', 'team/localhost:5000'],
    // A name without a host (Docker Hub's) has nothing to alias.
    ['team/app', 'team/app'],
    ['nginx', 'nginx'],
  ])('%s → %s', (repository, expected) => {
    expect(applyHostAlias(repository, aliases)).toBe(expected);
  });

  it('are not looked up on Object.prototype', () => {
    expect(applyHostAlias('constructor/app', {})).toBe('constructor/app');
    expect(applyHostAlias('__proto__.x/app', {})).toBe('__proto__.x/app');
  });
});

describe('the ECR event', () => {
  it('is a push of <account>.dkr.ecr.<region>.amazonaws.com/<repository>, with its digest, time and event id', () => {
    expect(parseEcrEvent(ecrPush)).toEqual([
      {
        registry: 'ecr',
        repository: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/edge-agent',
        tag: 'v3.1.0',
        digest: ecrPush.detail['image-digest'],
        pushed_at: '2026-01-15T09:12:44.000Z',
        delivery_id: ecrPush.id,
      },
    ]);
  });

  it.each([
    ['an untagged push', { 'image-tag': undefined }],
    ['an empty tag', { 'image-tag': '' }],
    ['a failed push', { result: 'FAILURE' }],
    ['a delete', { 'action-type': 'DELETE' }],
  ])('makes nothing of %s', (_what, change) => {
    expect(parseEcrEvent({ ...ecrPush, detail: { ...ecrPush.detail, ...change } })).toEqual([]);
  });

  it.each([
    ['a repository name that is no path', { detail: { ...ecrPush.detail, 'repository-name': 'Team/App' } }, 'detail.repository-name'],
    ['a digest that is none', { detail: { ...ecrPush.detail, 'image-digest': 'sha256:short' } }, 'detail.image-digest'],
    ['an account that is not one', { account: 'acme' }, 'account'],
    ['no time', { time: undefined }, 'time'],
  ])('refuses %s, naming the field', (_what, change, field) => {
    expect(() => parseEcrEvent({ ...ecrPush, ...change })).toThrow(Invalid);
    expect(() => parseEcrEvent({ ...ecrPush, ...change })).toThrow(field);
  });
});

describe('the kinds', () => {
  it('are the webhook kinds and ECR; only the former take webhooks', () => {
    expect(registryKinds).toEqual([...Object.keys(registries), ...eventKinds]);
    expect(registryKinds.filter(isWebhookKind)).toEqual(Object.keys(registries));
    expect(isWebhookKind('ecr')).toBe(false);
    expect(isWebhookKind('__proto__')).toBe(false);
  });
});

describe('the ECR rule', () => {
  const pattern = functions.ecrEvents.onEvents;

  it('matches a successful ECR push', () => {
    expect(matchesPattern(pattern, ecrPush)).toBe(true);
  });

  it.each([
    ['another source', { ...ecrPush, source: 'aws.s3' }],
    ['another detail type', { ...ecrPush, 'detail-type': 'ECR Image Scan' }],
    ['a failed push', { ...ecrPush, detail: { ...ecrPush.detail, result: 'FAILURE' } }],
    ['a delete', { ...ecrPush, detail: { ...ecrPush.detail, 'action-type': 'DELETE' } }],
    ['no detail', { ...ecrPush, detail: undefined }],
    ['a list where a value belongs', { ...ecrPush, source: ['aws.ecr'] }],
  ])('does not match %s', (_what, event) => {
    expect(matchesPattern(pattern, event)).toBe(false);
  });
});
