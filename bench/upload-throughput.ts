/**
 * `ncaas submit`'s upload of one large file (lib/cli/transfer.ts, @aws-sdk/lib-storage, parts in
 * parallel) against one part at a time (what `ncaas submit` did before), as throughput and a ratio.
 *
 * Both go to the S3 emulator through a proxy that caps each TCP connection's rate, as a real network's
 * round trip and window cap one stream; without it, on 127.0.0.1, every way is bound by the
 * emulator's own disk writes (printed first) and the comparison says nothing about parts in flight.
 * `aws s3 cp` is not compared: there is no AWS CLI here, and boto3 (its engine) hangs on s3rver's
 * CreateMultipartUpload.
 *
 *   npx tsx bench/upload-throughput.ts            # 1 GiB, 24 MiB/s a connection
 *   BENCH_UPLOAD_MIB=256 npx tsx bench/upload-throughput.ts
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { targetFromClient } from '../lib/cli/s3-target';
import { uploadFile } from '../lib/cli/transfer';
import { startS3Emulator } from '../test/support/s3-emulator';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_UPLOAD_MIB ?? 1024);
const CONNECTION_MIB_PER_S = Number(process.env.BENCH_CONNECTION_MIB_PER_S ?? 24);

/** A TCP proxy to `port` that lets each connection send at most `bytesPerSecond` upstream. */
const throttlingProxy = async (
  port: number,
  bytesPerSecond: number,
): Promise<{ port: number; close(): void }> => {
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let allowedAt = Date.now();
    client.on('data', (chunk: Buffer) => {
      // Each chunk waits for its share of the connection's rate.
      allowedAt = Math.max(allowedAt, Date.now()) + (chunk.length / bytesPerSecond) * 1000;
      const wait = allowedAt - Date.now();
      if (wait > 5) {
        client.pause();
        setTimeout(() => {
          upstream.write(chunk);
          client.resume();
        }, wait);
      } else upstream.write(chunk);
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
};

const main = async (): Promise<void> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-bench-upload-'));
  const local = path.join(dir, 'recording.bin');
  const fd = fs.openSync(local, 'w');
  for (let i = 0; i < SIZE_MIB; i += 1) fs.writeSync(fd, randomBytes(MIB));
  fs.closeSync(fd);

  const s3 = await startS3Emulator();
  const proxy = await throttlingProxy(Number(new URL(s3.endpoint).port), CONNECTION_MIB_PER_S * MIB);
  const clientTo = (endpoint: string): S3Client =>
    new S3Client({
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  const direct = clientTo(s3.endpoint);
  const capped = clientTo(`http://127.0.0.1:${proxy.port}`);
  await direct.send(new CreateBucketCommand({ Bucket: 'bench' }));
  const upload = { local, key: 'labA/inputs/recording.bin', size: SIZE_MIB * MIB };

  const timed = async (run: () => Promise<void>): Promise<number> => {
    const started = process.hrtime.bigint();
    await run();
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  const rate = (seconds: number): string =>
    `${(SIZE_MIB / seconds).toFixed(1)} MiB/s (${seconds.toFixed(1)} s)`;

  try {
    console.log(`one ${SIZE_MIB} MiB file (random bytes) to the S3 emulator`);
    const bound = await timed(() => uploadFile(targetFromClient(direct, 'bench', 'bench'), upload));
    console.log(
      `  no cap, ncaas submit (16 MiB parts, 8 in flight): ${rate(bound)}  <- the emulator's own bound`,
    );
    console.log(
      `each connection capped at ${CONNECTION_MIB_PER_S} MiB/s, as one stream over a real network:`,
    );
    const target = targetFromClient(capped, 'bench', 'bench');
    const parallel = await timed(() => uploadFile(target, upload));
    console.log(`  ncaas submit now (lib-storage, 8 parts in flight): ${rate(parallel)}`);
    const serial = await timed(() => uploadFile(target, upload, { partsInFlight: 1 }));
    console.log(`  one part at a time (ncaas submit before):          ${rate(serial)}`);
    console.log(`ratio now / before: ${(serial / parallel).toFixed(2)}x faster`);
    console.log(
      `aws s3 cp (10 parts in flight) not measured: no AWS CLI here, and boto3's CreateMultipartUpload hangs on s3rver`,
    );
  } finally {
    direct.destroy();
    capped.destroy();
    proxy.close();
    await s3.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
