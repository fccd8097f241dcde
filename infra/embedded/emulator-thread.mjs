/**
 * The emulators' own thread: dynalite and local-aws-sqs serve their HTTP APIs here, on loopback,
 * so that parsing, storing and answering the handlers' requests runs beside the handlers rather
 * than on their event loop (on AWS these are other machines). Started by emulators.ts, which
 * creates the table and queues through the APIs as the CDK stack would.
 *
 * Plain JavaScript: a worker thread loads its file with Node's own loader, whether the host runs
 * under tsx, vitest or a bundle, and neither emulator needs more than its options.
 *
 * workerData: { dynamoPath?: string }. Posts { ready, dynamodbPort, sqsPort } or { failed }; on
 * the message 'close' it closes both servers (and their keep-alive sockets) and posts { closed }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';
import { createSqsServer } from 'local-aws-sqs';

const loopback = '127.0.0.1';

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, loopback, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

function close(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Clients keep idle keep-alive sockets open; without this, close() waits for them to time out.
    server.closeAllConnections();
  });
}

const servers = [];
try {
  // Table state changes are instant: nothing locally waits for CREATING to become ACTIVE.
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path: workerData.dynamoPath });
  servers.push(dynamo);
  const dynamodbPort = await listen(dynamo);
  // A restarted queue of the same name is fine locally: AWS's 60-second wait after deleting a
  // queue protects its own bookkeeping, not ours.
  const sqs = await createSqsServer({ port: 0, hostname: loopback, emulateQueueCreationLifecycle: false });
  servers.push(sqs);
  parentPort.postMessage({ ready: true, dynamodbPort, sqsPort: sqs.address().port });
} catch (error) {
  await Promise.all(servers.map(close));
  parentPort.postMessage({ failed: error instanceof Error ? error.stack ?? error.message : String(error) });
}

parentPort.on('message', async (message) => {
  if (message !== 'close') return;
  await Promise.all(servers.splice(0).map(close));
  parentPort.postMessage({ closed: true });
  parentPort.close();
});
