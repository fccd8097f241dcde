/**
 * Who may call what. Admin routes take an admin key, and learn which principal holds it; device
 * routes take the device's own token; provisioning takes a provisioning key.
 * A device token names its device (`dt_<uuid>.<secret>`), so checking it is one read of that
 * device, which the device routes then reuse; a named admin key names its id likewise.
 */
import { authenticateAdmin, isAdminKey, type AdminPrincipal } from '../admin-keys';
import { Forbidden, Unauthorized } from '../errors';
import { authenticateProvisioningKey, type ProvisioningCredential } from '../provisioning';
import { bearerTokenOf, constantTimeEqual, deviceOfToken, sha256Hex } from '../secrets';
import { getStoredDevice, type StoredDevice } from '../store/devices';
import type { ApiRequest, ApiResponse, RouteHandler } from './api';

export type { AdminPrincipal };

function bearerToken(request: ApiRequest): string {
  const header = request.headers.authorization;
  if (!header) throw new Unauthorized('missing Authorization header (expected "Bearer <token>")');
  const token = bearerTokenOf(header);
  if (!token) throw new Unauthorized('Authorization header must be "Bearer <token>"');
  return token;
}

async function deviceForToken(token: string): Promise<StoredDevice | undefined> {
  const uuid = deviceOfToken(token);
  if (!uuid) return undefined;
  const device = await getStoredDevice(uuid);
  return device && constantTimeEqual(device.token_hash, sha256Hex(token)) ? device : undefined;
}

/** The admin making the request: 401 without an admin key, 403 with a device token. */
export async function requireAdmin(request: ApiRequest): Promise<AdminPrincipal> {
  const token = bearerToken(request);
  if (deviceOfToken(token)) {
    if (await deviceForToken(token)) throw new Forbidden('a device token cannot use admin routes');
    throw new Unauthorized('invalid credentials');
  }
  return authenticateAdmin(token);
}

/** The calling device, which must be the one named in the path. */
export async function requireDevice(request: ApiRequest, uuid: string): Promise<StoredDevice> {
  const token = bearerToken(request);
  const device = await deviceForToken(token);
  if (!device) {
    if (!deviceOfToken(token) && (await isAdminKey(token))) {
      throw new Forbidden('device routes take the device token, not an admin key');
    }
    throw new Unauthorized('invalid credentials');
  }
  if (device.uuid !== uuid) throw new Forbidden('a device may only read and report its own state');
  return device;
}

/** The provisioning key the request carries: 401 when it is unknown, revoked or expired, 403 when used up. */
export async function requireProvisioningKey(request: ApiRequest, now: Date): Promise<ProvisioningCredential> {
  return authenticateProvisioningKey(bearerToken(request), now);
}

/** A route for admins: it is told which one calls. */
export type AdminRoute = (request: ApiRequest, admin: AdminPrincipal) => Promise<ApiResponse>;

/** Wraps a route so that it runs only for an admin, whose principal it is given. */
export const adminOnly =
  (route: AdminRoute): RouteHandler =>
  async (request) =>
    route(request, await requireAdmin(request));
