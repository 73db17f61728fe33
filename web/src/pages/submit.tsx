/**
 * Submit: one job from datasets and a config already uploaded, or many from a CSV job list (the
 * `ncaas submit --csv` format, lib/cli/job-list.ts). Every job is checked first with the handler's
 * own rules and the bucket checks the CLI makes (lib/cli/submission-check.ts); nothing is written
 * while any problem stands. The submit.json is written last, as the CLI does: its upload starts the job.
 */
import { useState } from 'preact/hooks';
import { analysisForChecks } from '../../../lib/console/console-config';
import { listAllKeys } from '../../../lib/cli/list-keys';
import {
  checkPlannedSubmission,
  keyPlan,
  readSubmittedJob,
  submitJsonText,
} from '../../../lib/cli/submission-check';
import { configsPrefix, inputsPrefix } from '../../../lib/layout';
import { defaultJobId } from '../../../lib/submission/job-id';
import type { PageProps } from '../app';
import { messageOf, Notice, Problems } from '../components';
import { useLoad } from '../hooks';
import { hrefOf } from '../route';
import { BulkSubmit } from './bulk-submit';

/** A dataset is a file under inputs/, or a folder there (every file under it, one worker). */
const datasetChoices = (keys: readonly string[], prefix: string): string[] => {
  const choices = new Set<string>();
  for (const key of keys) {
    if (key.endsWith('/')) continue;
    choices.add(key);
    const rest = key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash > 0) choices.add(`${prefix}${rest.slice(0, slash + 1)}`);
  }
  return [...choices].sort();
};

interface Earlier {
  readonly datasets: string[];
  readonly config?: string;
  readonly instanceType?: string;
}

/** What an earlier job was submitted with (its submit.json), for "submit again". */
const readEarlier = async (props: PageProps, jobId: string): Promise<Earlier | undefined> => {
  const read = await readSubmittedJob(props.session.target, props.session.group, jobId);
  if (read.kind !== 'read') return undefined;
  return {
    datasets: [...read.job.datasetKeys],
    ...(read.job.configKey !== undefined ? { config: read.job.configKey } : {}),
    ...(read.job.instanceType !== undefined ? { instanceType: read.job.instanceType } : {}),
  };
};

export const SubmitPage = (props: PageProps & { again?: string }) => {
  const { session, config, heading, again } = props;
  const keys = useLoad(
    async () => ({
      data: (await listAllKeys(session.target, inputsPrefix(session.group))).map((k) => k.key),
      configs: (await listAllKeys(session.target, configsPrefix(session.group)))
        .map((k) => k.key)
        .filter((k) => !k.endsWith('/')),
      earlier: again !== undefined ? await readEarlier(props, again) : undefined,
    }),
    [session, again],
  );
  return (
    <section aria-labelledby="page-title">
      <h2 id="page-title" tabIndex={-1} ref={heading}>
        {again !== undefined ? `Submit job ${again} again` : 'Submit'}
      </h2>
      {keys.error !== undefined ? <Problems title="Could not list your files" items={[keys.error]} /> : null}
      {keys.value === undefined ? (
        <Notice>Reading your uploaded data and configs…</Notice>
      ) : (
        <OneJob
          {...props}
          datasets={datasetChoices(keys.value.data, inputsPrefix(session.group))}
          configs={keys.value.configs}
          {...(keys.value.earlier !== undefined ? { earlier: keys.value.earlier } : {})}
          key={again ?? 'new'}
        />
      )}
      {again === undefined ? <BulkSubmit config={config} session={session} /> : null}
    </section>
  );
};

const OneJob = ({
  config,
  session,
  datasets,
  configs,
  earlier,
}: PageProps & { datasets: string[]; configs: string[]; earlier?: Earlier }) => {
  const allowed = config.analysis.limits.allowedInstanceTypes;
  const [chosen, setChosen] = useState<string[]>(earlier?.datasets ?? []);
  const [configKey, setConfigKey] = useState(earlier?.config ?? configs[0] ?? '');
  const [instanceType, setInstanceType] = useState(earlier?.instanceType ?? '');
  const [timestamp, setTimestamp] = useState('');
  const [problems, setProblems] = useState<string[]>([]);
  const [warnings, setWarnings] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  // Keys the earlier job named that are no longer listed stay choosable (the check says if they are gone).
  const datasetOptions = [...new Set([...datasets, ...(earlier?.datasets ?? [])])];
  const configOptions = [
    ...new Set([...configs, ...(earlier?.config !== undefined ? [earlier.config] : [])]),
  ];

  const submit = async (): Promise<void> => {
    setBusy(true);
    setProblems([]);
    try {
      const plan = keyPlan({
        group: session.group,
        datasetKeys: chosen,
        configKey,
        jobId: timestamp.trim() !== '' ? timestamp.trim() : defaultJobId(),
        ...(instanceType !== '' ? { instanceType } : {}),
      });
      const check = await checkPlannedSubmission(session.target, plan, analysisForChecks(config.analysis));
      setWarnings(check.warnings);
      if (check.problems.length > 0) {
        setProblems(check.problems.map((p) => p.message));
        return;
      }
      await session.target.objects.write(plan.submitKey, submitJsonText(plan), 'application/json');
      location.hash = hrefOf({ page: 'job', jobId: plan.jobId });
    } catch (error) {
      setProblems([messageOf(error)]);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      aria-label="Submit one job"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h3>One job</h3>
      <fieldset>
        <legend>Datasets (one worker each)</legend>
        {datasetOptions.length === 0 ? (
          <p class="muted">
            No data yet: upload it on the <a href={hrefOf({ page: 'upload' })}>Upload</a> page.
          </p>
        ) : (
          datasetOptions.map((key, i) => (
            <div class="check-row" key={key}>
              <input
                type="checkbox"
                id={`dataset-${i}`}
                checked={chosen.includes(key)}
                onChange={(e) =>
                  setChosen(e.currentTarget.checked ? [...chosen, key] : chosen.filter((k) => k !== key))
                }
              />
              <label for={`dataset-${i}`}>
                <code>{key}</code>
              </label>
            </div>
          ))
        )}
      </fieldset>
      <label for="config">Config</label>
      <select id="config" value={configKey} onChange={(e) => setConfigKey(e.currentTarget.value)}>
        {configOptions.length === 0 ? <option value="">(upload a config first)</option> : null}
        {configOptions.map((key) => (
          <option key={key} value={key}>
            {key}
          </option>
        ))}
      </select>
      <label for="instance-type">Instance type (optional)</label>
      {allowed.length > 0 ? (
        <select
          id="instance-type"
          value={instanceType}
          onChange={(e) => setInstanceType(e.currentTarget.value)}
        >
          <option value="">
            the analysis default
            {config.analysis.defaultInstanceType ? ` (${config.analysis.defaultInstanceType})` : ''}
          </option>
          {allowed.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      ) : (
        <input
          id="instance-type"
          type="text"
          value={instanceType}
          onInput={(e) => setInstanceType(e.currentTarget.value)}
        />
      )}
      <label for="timestamp">Timestamp (optional: the job id; a new one is made when empty)</label>
      <input
        id="timestamp"
        type="text"
        value={timestamp}
        onInput={(e) => setTimestamp(e.currentTarget.value)}
      />
      <Problems title="The job was not submitted; nothing was written" items={problems} />
      {warnings.length > 0 ? <Notice>{warnings.join(' ')}</Notice> : null}
      <p>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Submit'}
        </button>
      </p>
    </form>
  );
};
