/**
 * Reading the events the handlers receive. Pure: each Lambda entry parses here and hands plain
 * values to the services; the local runtime builds the same event shapes from the emulators.
 */
import type { EventBridgeEvent, S3Event, SQSRecord } from 'aws-lambda';
import type { LaunchMessage } from '../launch/launcher';

export interface S3ObjectEvent {
  readonly bucket: string;
  /** Decoded: S3 URL-encodes keys in events, with `+` for spaces. */
  readonly key: string;
  readonly etag: string;
  readonly versionId?: string;
  readonly eventTime: string;
}

export const decodeS3Key = (encoded: string): string => decodeURIComponent(encoded.replace(/\+/g, '%20'));

/** The inverse, as S3 writes keys into events (the local runtime uses it to build real-shaped events). */
export const encodeS3Key = (key: string): string =>
  encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');

export const s3ObjectEvents = (event: S3Event): S3ObjectEvent[] =>
  (event.Records ?? [])
    .filter((r) => r.eventName?.startsWith('ObjectCreated'))
    .map((r) => ({
      bucket: r.s3.bucket.name,
      key: decodeS3Key(r.s3.object.key),
      etag: (r.s3.object.eTag ?? '').replace(/"/g, ''),
      ...(r.s3.object.versionId ? { versionId: r.s3.object.versionId } : {}),
      eventTime: r.eventTime,
    }));

export interface InstanceStateDetail {
  readonly 'instance-id': string;
  readonly state: string;
}

export type InstanceStateEvent = EventBridgeEvent<
  'EC2 Instance State-change Notification',
  InstanceStateDetail
>;

export const isInstanceStateEvent = (event: unknown): event is InstanceStateEvent => {
  const e = event as Partial<InstanceStateEvent> | null;
  return (
    e?.source === 'aws.ec2' &&
    (e['detail-type'] as string | undefined) !== SPOT_WARNING &&
    typeof e.detail?.['instance-id'] === 'string' &&
    typeof e.detail.state === 'string'
  );
};

const SPOT_WARNING = 'EC2 Spot Instance Interruption Warning';

/** Two minutes before Spot reclaims an instance (`instance-action`: terminate, stop or hibernate). */
export type SpotInterruptionWarning = EventBridgeEvent<
  typeof SPOT_WARNING,
  { readonly 'instance-id': string; readonly 'instance-action': string }
>;

export const isSpotInterruptionWarning = (event: unknown): event is SpotInterruptionWarning => {
  const e = event as Partial<SpotInterruptionWarning> | null;
  return (
    e?.source === 'aws.ec2' &&
    e['detail-type'] === SPOT_WARNING &&
    typeof e.detail?.['instance-id'] === 'string'
  );
};

export const isS3Event = (event: unknown): event is S3Event =>
  Array.isArray((event as Partial<S3Event> | null)?.Records) &&
  ((event as S3Event).Records[0]?.eventSource === 'aws:s3' || (event as S3Event).Records.length === 0);

/** A launch message from an SQS record, or undefined when the body is not one (dropped, logged). */
export const launchMessageOf = (record: Pick<SQSRecord, 'body'>): LaunchMessage | undefined => {
  try {
    const m = JSON.parse(record.body) as Partial<LaunchMessage>;
    if (
      typeof m.analysis === 'string' &&
      typeof m.group === 'string' &&
      typeof m.jobId === 'string' &&
      Number.isInteger(m.datasetIndex) &&
      Number.isInteger(m.attempt)
    ) {
      return m as LaunchMessage;
    }
  } catch {
    // not JSON
  }
  return undefined;
};
