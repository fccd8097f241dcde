/**
 * Pushing into a registry with nothing but HTTP, as the OCI distribution spec describes it: each
 * blob by `POST /v2/<name>/blobs/uploads/` then `PUT <location>?digest=…`, then the manifest by
 * `PUT /v2/<name>/manifests/<tag or digest>`. The digest a test compares with is the one the
 * registry answers to that last PUT.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export class HttpPush {
  constructor(
    private readonly apiUrl: string,
    /** Sent with every request, e.g. `Bearer <push token>` for a registry behind token auth. */
    private readonly authorization?: string,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...extra, ...(this.authorization ? { authorization: this.authorization } : {}) };
  }

  async blob(name: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = digestOf(bytes);
    const started = await fetch(`${this.apiUrl}/v2/${name}/blobs/uploads/`, { method: 'POST', headers: this.headers() });
    if (started.status !== 202) throw new Error(`starting a blob upload to ${name} answered ${started.status}: ${await started.text()}`);
    const location = new URL(started.headers.get('location') ?? '', this.apiUrl);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', headers: this.headers({ 'content-type': 'application/octet-stream' }), body: new Uint8Array(bytes) });
    if (put.status !== 201) throw new Error(`uploading blob ${digest} to ${name} answered ${put.status}: ${await put.text()}`);
    return { mediaType, digest, size: bytes.length };
  }

  /** PUTs `manifest` under `reference` and returns the digest the registry says it stored. */
  async manifest(name: string, reference: string, manifest: { mediaType: string }): Promise<Descriptor> {
    const body = Buffer.from(JSON.stringify(manifest));
    const put = await fetch(`${this.apiUrl}/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: this.headers({ 'content-type': manifest.mediaType }), body: new Uint8Array(body) });
    if (put.status !== 201) throw new Error(`putting manifest ${name}:${reference} answered ${put.status}: ${await put.text()}`);
    const digest = put.headers.get('docker-content-digest');
    if (!digest) throw new Error(`putting manifest ${name}:${reference} answered no Docker-Content-Digest`);
    return { mediaType: manifest.mediaType, digest, size: body.length };
  }

  /** A one-layer Docker v2 image (random content, so every call is a new digest) under `tag`. */
  async dockerImage(name: string, tag: string): Promise<Descriptor> {
    const config = await this.blob(name, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, created: new Date().toISOString() })), 'application/vnd.docker.container.image.v1+json');
    const layer = await this.blob(name, randomBytes(512), 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    return this.manifest(name, tag, { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config, layers: [layer] } as { mediaType: string });
  }

  /** An OCI image for one platform, stored by its digest only (no tag): what an index lists. */
  async ociImage(name: string, architecture: string): Promise<Descriptor & { platform: { architecture: string; os: string } }> {
    const config = await this.blob(name, Buffer.from(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })), 'application/vnd.oci.image.config.v1+json');
    const layer = await this.blob(name, randomBytes(512), 'application/vnd.oci.image.layer.v1.tar+gzip');
    const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] };
    const digest = digestOf(Buffer.from(JSON.stringify(manifest)));
    const stored = await this.manifest(name, digest, manifest);
    return { ...stored, platform: { architecture, os: 'linux' } };
  }

  /** A multi-platform image: an OCI index of one image per architecture, under `tag`. */
  async multiPlatformImage(name: string, tag: string, architectures: string[]): Promise<{ index: Descriptor; platforms: Descriptor[] }> {
    const platforms = [];
    for (const architecture of architectures) platforms.push(await this.ociImage(name, architecture));
    const index = await this.manifest(name, tag, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: platforms } as { mediaType: string });
    return { index, platforms };
  }
}
