/** The whole table as sorted JSON lines, for tests that assert a refused request wrote nothing. */
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

export async function tableSnapshot(dynamo: DynamoDBClient, tableName: string): Promise<string[]> {
  const items: string[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamo.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) items.push(JSON.stringify(Object.fromEntries(Object.entries(item).sort(([a], [b]) => a.localeCompare(b)))));
    start = page.LastEvaluatedKey;
  } while (start);
  return items.sort();
}
