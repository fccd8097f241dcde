/**
 * The dashboard's page and bundle, static and public: everything it shows it reads from the admin
 * API with the key the operator types in. Built once per cold start (dashboard/files.ts).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dashboardFiles } from '../dashboard/files';
import { NotFound } from '../lib/errors';
import { errorResult } from '../lib/http/api';
import { staticFiles } from '../lib/http/static-files';
import { lambdaHandler } from '../lib/lambda';

const serve = staticFiles(await dashboardFiles());

export const handler = lambdaHandler<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use({ onError: async (request) => void (request.response = errorResult(request.error)) })
  .handler(async (event) => {
    const ifNoneMatch = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'if-none-match')?.[1];
    const file = event.pathParameters?.file;
    // The page is /dashboard only: its links are relative to that path.
    if (file === 'index.html') throw new NotFound('the dashboard is at /dashboard');
    return serve(file ?? 'index.html', typeof ifNoneMatch === 'string' ? ifNoneMatch : undefined);
  });
