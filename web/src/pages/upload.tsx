/**
 * Upload: files and folders into the group's `inputs/` (data) or `configs/`, dropped or chosen. Each
 * file is checked against the submission's key rules first (a key no job could name is never
 * uploaded), then sent by @aws-sdk/lib-storage: parts in parallel, each part retried by the SDK for
 * a minute or so (web/src/session.ts, UPLOAD_MAX_ATTEMPTS), the upload aborted (no stray parts) when
 * it fails all the same; a failed file keeps a Retry button.
 */
import { Upload } from '@aws-sdk/lib-storage';
import { useState } from 'preact/hooks';
import { listAllKeys, type ListedKey } from '../../../lib/cli/list-keys';
import { configsPrefix, inputsPrefix } from '../../../lib/layout';
import { referencedKeyProblem, type KeyKind } from '../../../lib/submission/key-rules';
import type { PageProps } from '../app';
import { formatBytes, formatDate, messageOf, Notice, Problems } from '../components';
import { useLoad } from '../hooks';
import type { Session } from '../session';

interface Transfer {
  readonly id: number;
  readonly file: File;
  readonly key: string;
  readonly sent: number;
  readonly state: 'waiting' | 'sending' | 'done' | 'failed';
  readonly error?: string;
}

/** A file with the path it had inside a dropped or chosen folder. */
interface PickedFile {
  readonly file: File;
  readonly path: string;
}

const PART_SIZE = 8 * 1024 * 1024;
let nextId = 0;

const readEntries = (reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> =>
  new Promise((resolve, reject) => reader.readEntries(resolve, reject));

/** Every file under a dropped entry (a folder is read in batches until empty). */
const filesOfEntry = async (entry: FileSystemEntry, parent: string): Promise<PickedFile[]> => {
  const path = parent === '' ? entry.name : `${parent}/${entry.name}`;
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) =>
      (entry as FileSystemFileEntry).file(resolve, reject),
    );
    return [{ file, path }];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const found: PickedFile[] = [];
  for (let batch = await readEntries(reader); batch.length > 0; batch = await readEntries(reader)) {
    for (const child of batch) found.push(...(await filesOfEntry(child, path)));
  }
  return found;
};

const picked = (files: FileList | null): PickedFile[] =>
  [...(files ?? [])].map((file) => ({ file, path: file.webkitRelativePath || file.name }));

const FOLDERS: Readonly<Record<KeyKind, { prefix: (group: string) => string; title: string }>> = {
  data: { prefix: inputsPrefix, title: 'Data (inputs/)' },
  config: { prefix: configsPrefix, title: 'Configs (configs/)' },
};

export const UploadPage = ({ session, heading }: PageProps) => {
  const [kind, setKind] = useState<KeyKind>('data');
  const [transfers, setTransfers] = useState<Transfer[]>([]);
  const [refused, setRefused] = useState<string[]>([]);
  const [over, setOver] = useState(false);
  const listing = useLoad(
    async () => ({
      data: await listAllKeys(session.target, inputsPrefix(session.group)),
      config: await listAllKeys(session.target, configsPrefix(session.group)),
    }),
    [session],
  );

  const update = (id: number, change: Partial<Transfer>) =>
    setTransfers((all) => all.map((t) => (t.id === id ? { ...t, ...change } : t)));

  const send = async (transfer: Transfer): Promise<void> => {
    update(transfer.id, { state: 'sending', sent: 0 });
    const upload = new Upload({
      client: session.uploadClient,
      params: {
        Bucket: session.target.bucket,
        Key: transfer.key,
        Body: transfer.file,
        ContentType: transfer.file.type || 'application/octet-stream',
      },
      partSize: PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false,
    });
    upload.on('httpUploadProgress', (progress) => update(transfer.id, { sent: progress.loaded ?? 0 }));
    try {
      await upload.done();
      update(transfer.id, { state: 'done', sent: transfer.file.size });
    } catch (error) {
      update(transfer.id, { state: 'failed', error: messageOf(error) });
    }
  };

  const add = async (files: readonly PickedFile[]): Promise<void> => {
    const prefix = FOLDERS[kind].prefix(session.group);
    const problems: string[] = [];
    const accepted: Transfer[] = [];
    for (const { file, path } of files) {
      const key = `${prefix}${path}`;
      const problem = referencedKeyProblem(key, path, kind, session.group);
      if (problem !== undefined) problems.push(problem);
      else accepted.push({ id: (nextId += 1), file, key, sent: 0, state: 'waiting' });
    }
    setRefused(problems);
    setTransfers((all) => [...accepted, ...all]);
    // A few files at a time: each already sends its parts in parallel.
    const queue = [...accepted];
    await Promise.all(
      Array.from({ length: Math.min(3, queue.length) }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) await send(next);
      }),
    );
    listing.reload();
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    const items = [...(event.dataTransfer?.items ?? [])];
    const entries = items
      .map((item) => item.webkitGetAsEntry())
      .filter((e): e is FileSystemEntry => e !== null);
    void Promise.all(entries.map((e) => filesOfEntry(e, ''))).then((lists) => add(lists.flat()));
  };

  return (
    <section aria-labelledby="page-title">
      <h2 id="page-title" tabIndex={-1} ref={heading}>
        Upload
      </h2>
      <fieldset>
        <legend>Upload into</legend>
        {(Object.keys(FOLDERS) as KeyKind[]).map((k) => (
          <span class="check-row" key={k}>
            <input
              type="radio"
              name="kind"
              id={`kind-${k}`}
              checked={kind === k}
              onChange={() => setKind(k)}
            />
            <label for={`kind-${k}`}>
              {FOLDERS[k].title}: <code>{FOLDERS[k].prefix(session.group)}</code>
            </label>
          </span>
        ))}
      </fieldset>
      <div
        class={`dropzone${over ? ' over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>Drop files or folders here, or choose them:</p>
        <label for="pick-files">Files</label>
        <input
          id="pick-files"
          type="file"
          multiple
          onChange={(e) => void add(picked(e.currentTarget.files))}
        />
        <label for="pick-folder">A folder</label>
        <input
          id="pick-folder"
          type="file"
          {...{ webkitdirectory: '' }}
          onChange={(e) => void add(picked(e.currentTarget.files))}
        />
      </div>
      <Problems title="Not uploaded" items={refused} />
      {transfers.length > 0 ? <Transfers transfers={transfers} retry={(t) => void send(t)} /> : null}
      {listing.error !== undefined ? (
        <Problems title="Could not list the files" items={[listing.error]} />
      ) : null}
      {listing.value !== undefined ? (
        <>
          <FileList
            title={FOLDERS.data.title}
            files={listing.value.data}
            session={session}
            onDeleted={listing.reload}
          />
          <FileList
            title={FOLDERS.config.title}
            files={listing.value.config}
            session={session}
            onDeleted={listing.reload}
          />
        </>
      ) : (
        <Notice>Reading the files already there…</Notice>
      )}
    </section>
  );
};

const Transfers = ({
  transfers,
  retry,
}: {
  transfers: readonly Transfer[];
  retry: (t: Transfer) => void;
}) => (
  <div class="table-wrap">
    <table aria-label="Uploads">
      <thead>
        <tr>
          <th scope="col">File</th>
          <th scope="col">Progress</th>
          <th scope="col">State</th>
        </tr>
      </thead>
      <tbody>
        {transfers.map((t) => {
          const percent = t.file.size > 0 ? Math.floor((t.sent * 100) / t.file.size) : 100;
          return (
            <tr key={t.id} data-key={t.key}>
              <td>
                <code>{t.key}</code> <span class="muted">{formatBytes(t.file.size)}</span>
              </td>
              <td>
                <progress max={100} value={percent} aria-label={`${t.key} ${percent}%`} />{' '}
                <span class="percent">{percent}%</span>
              </td>
              <td>
                {t.state === 'failed' ? (
                  <>
                    <span role="alert">failed: {t.error}</span>{' '}
                    <button type="button" onClick={() => retry(t)}>
                      Retry
                    </button>
                  </>
                ) : (
                  t.state
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  </div>
);

const FileList = ({
  title,
  files,
  session,
  onDeleted,
}: {
  title: string;
  files: readonly ListedKey[];
  session: Session;
  onDeleted: () => void;
}) => {
  const [problem, setProblem] = useState<string>();
  const remove = async (key: string) => {
    if (!confirm(`Delete ${key}? Jobs already submitted keep what they read.`)) return;
    try {
      await session.target.objects.delete(key);
      setProblem(undefined);
    } catch (error) {
      setProblem(`${key}: ${messageOf(error)}`);
    }
    onDeleted();
  };
  return (
    <>
      <h3>{title}</h3>
      {problem !== undefined ? <Problems title="Not deleted" items={[problem]} /> : null}
      {files.length === 0 ? (
        <p class="muted">Nothing here yet.</p>
      ) : (
        <div class="table-wrap">
          <table aria-label={title}>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Size</th>
                <th scope="col" class="optional">
                  Uploaded
                </th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {files.map((f) => (
                <tr key={f.key}>
                  <td>
                    <code>{f.key}</code>
                  </td>
                  <td>{formatBytes(f.size)}</td>
                  <td class="optional">{formatDate(f.lastModified)}</td>
                  <td>
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Delete ${f.key}`}
                      onClick={() => void remove(f.key)}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
};
