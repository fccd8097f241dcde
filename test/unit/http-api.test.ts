/**
 * The request object handlers get from an API Gateway event. On Lambda the event is parsed JSON,
 * where a client's `__proto__` or `constructor` is an own key of the map like any other name.
 */
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { apiHandler, type ApiRequest } from '../../lib/http/api';

const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

function eventJson(name: string): string {
  const map = (value: unknown) => `{"${name}": ${JSON.stringify(value)}, "plain": ${JSON.stringify(value)}}`;
  return `{
    "resource": "/things/{id}", "path": "/things/1", "httpMethod": "GET", "body": null, "isBase64Encoded": false,
    "headers": ${map('h')}, "multiValueHeaders": ${map(['h'])},
    "queryStringParameters": ${map('q')}, "multiValueQueryStringParameters": ${map(['q'])},
    "pathParameters": {"${name}": "p", "id": "1"}, "stageVariables": null, "requestContext": {}
  }`;
}

describe('apiHandler', () => {
  it.each(names)('hands a query parameter, header or path parameter named %s to the route as a name like any other', async (name) => {
    let seen: ApiRequest | undefined;
    const handler = apiHandler(
      {
        'GET /things/{id}': async (request) => {
          seen = request;
          return { status: 200, body: {} };
        },
      },
      { maxBodyBytes: 1024 },
    );
    const event = JSON.parse(eventJson(name)) as APIGatewayProxyEvent;
    const result = await handler(event, {} as Context);

    expect(result.statusCode).toBe(200);
    expect(Object.keys(seen!.query).sort()).toEqual([name, 'plain'].sort());
    expect(seen!.query[name]).toBe('q');
    expect(seen!.headers[name.toLowerCase()]).toBe('h');
    expect(seen!.params[name]).toBe('p');
    // A name the client did not send is absent, whatever Object.prototype has.
    for (const other of names.filter((n) => n !== name)) {
      expect(seen!.query[other]).toBeUndefined();
      expect(seen!.headers[other.toLowerCase()]).toBeUndefined();
    }
  });
});
