/**
 * `logs/certificate.txt` in NeuroCAAS's layout, so its worker tools (neurocaas_contrib's
 * `NeuroCAASCertificate`, `updatecert.py`, `finalcert.py`) and its users' habits work: a header, a
 * divider, one line per dataset, a divider, then the job log. NeuroCAAS's tools assert exactly two
 * divider lines and find a dataset's line by `DATANAME: {dataset key} |`; they may rewrite those
 * lines while the job runs. The control plane writes the whole file from the job's record each time,
 * so an analysis's edit never loses a log line for good and the layout always parses.
 */
import { userVisibleState, type JobState } from '../job/job-state';

export const CERTIFICATE_HEADER = 'PER ENVIRONMENT MONITORING:';
export const CERTIFICATE_DIVIDER = '================';
export const CERTIFICATE_LOG_HEADER = 'JOB LOG:';

/** What a dataset's line says. */
export interface CertificateDataset {
  /** The dataset key (NeuroCAAS's tools match it). */
  readonly key: string;
  readonly state: JobState;
  /** When its state last changed (ISO 8601). */
  readonly time?: string;
  /** NeuroCAAS's LAST COMMAND: here the latest reason or step of the dataset. */
  readonly lastCommand?: string;
}

/**
 * One line, never a divider: control characters (a newline in a key) become spaces, and `|`, the
 * field separator, becomes `/` inside a value, so no value can add or hide a line.
 */
const oneLine = (value: string): string => value.replace(/[\u0000-\u001f\u007f]+/g, ' ');
const field = (value: string): string => oneLine(value).replace(/\|/g, '/');

/** A line that could pass for a divider (kept from an edited certificate) is indented: exactly two, always. */
const notDivider = (line: string): string => {
  const one = oneLine(line);
  return one.trim() === CERTIFICATE_DIVIDER ? ` ${one.trim()}` : one;
};

export const datasetLine = (d: CertificateDataset): string =>
  `DATANAME: ${field(d.key)} | STATUS: ${userVisibleState(d.state)} | TIME: ${d.time ?? 'N/A'} | LAST COMMAND: ${field(
    d.lastCommand ?? 'N/A',
  )} | CPU_USAGE: N/A`;

/** The whole certificate: header, dataset lines between two dividers, the log. Ends with a newline. */
export const renderCertificate = (datasetLines: readonly string[], log: readonly string[]): string =>
  [
    CERTIFICATE_HEADER,
    CERTIFICATE_DIVIDER,
    ...datasetLines.map(notDivider),
    CERTIFICATE_DIVIDER,
    CERTIFICATE_LOG_HEADER,
    ...log.map(notDivider),
  ]
    .map((line) => `${line}\n`)
    .join('');

/**
 * A certificate's parts (for rewriting one that only lives in S3): its dataset lines as written and
 * its log lines. Text that is not in this layout (an older certificate) is all log.
 */
export const parseCertificate = (text: string): { datasetLines: string[]; log: string[] } => {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const dividers = lines.flatMap((line, i) => (line === CERTIFICATE_DIVIDER ? [i] : []));
  const [first, second] = dividers;
  if (dividers.length !== 2 || first === undefined || second === undefined)
    return { datasetLines: [], log: lines };
  const rest = lines.slice(second + 1);
  return {
    datasetLines: lines.slice(first + 1, second),
    log: rest[0] === CERTIFICATE_LOG_HEADER ? rest.slice(1) : rest,
  };
};
