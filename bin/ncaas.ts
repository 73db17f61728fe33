/**
 * `ncaas`: the lab member's and developer's command line. This file only defines the commands and
 * their flags; the work is in lib/cli/. Run through bin/ncaas.js (tsx), e.g. `npx ncaas --help`.
 *
 * Targets the local runtime (after `source <dir>/env.sh`, no flags needed) or a deployed analysis
 * (standard AWS credentials, `--bucket` / NCAAS_BUCKET, `--analysis` / NCAAS_ANALYSIS).
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import type { UsersTarget } from '../lib/cli/users-command';
import * as os from 'node:os';
import { version } from '../package.json';
import type { DevTarget } from '../lib/cli/dev-instance';
import { CliError, EXIT } from '../lib/cli/errors';
import { createOutput, guardClosedPipes } from '../lib/cli/output';
import type { TargetOptions } from '../lib/cli/s3-target';
import type { CliSession } from '../lib/cli/session';

interface TargetFlags extends TargetOptions {
  readonly group?: string;
}

const ENVIRONMENT_HELP = `
Where it works:
  local runtime    start it with \`ncaas local\`, then in your shell: source <dir>/env.sh
                   (exports the endpoint, credentials, NCAAS_BUCKET and NCAAS_ANALYSIS: no flags needed)
  deployed         \`ncaas login --email you@lab\` (the analysis's own sign-in; the operator gives you the
                   command), or your AWS credentials (profile, SSO or environment) with S3 access to
                   your group plus --bucket (or NCAAS_BUCKET) and --analysis (or NCAAS_ANALYSIS).
                   A login is used when AWS_ACCESS_KEY_ID and AWS_PROFILE are not set.

Environment: NCAAS_BUCKET, NCAAS_ANALYSIS, NCAAS_GROUP (default --group), NCAAS_BLUEPRINT, NCAAS_USER_POOL_ID,
  NCAAS_USER_POOL_CLIENT_ID, NCAAS_IDENTITY_POOL_ID, NCAAS_CONFIG_DIR (logins; default ~/.config/ncaas),
  AWS_ENDPOINT_URL(_S3), AWS_REGION, NO_COLOR (no colour even on a terminal).
Exit codes: 0 success; 1 failure (watch: the job FAILED, TIMED_OUT, CANCELLED or INTERRUPTED);
  2 usage error, missing setting, or job not found.`;

/**
 * Modules loaded by the command that needs them only, so the others start without them. `require`
 * (through tsx's CommonJS hook), not `import()`: Node would load a native import of a .ts file
 * without tsx.
 */
const load = createRequire(__filename);

/**
 * Every command's module, loaded when its command runs: `ncaas --help` and a mistyped flag need none
 * of them (nor the S3 SDK and the blueprint schema behind them).
 */
const cli = {
  bulkSubmit: () => load('../lib/cli/bulk-submit') as typeof import('../lib/cli/bulk-submit'),
  cancel: () => load('../lib/cli/cancel-command') as typeof import('../lib/cli/cancel-command'),
  costs: () => load('../lib/cli/costs-command') as typeof import('../lib/cli/costs-command'),
  jobs: () => load('../lib/cli/jobs-table') as typeof import('../lib/cli/jobs-table'),
  local: () => load('../lib/cli/local-command') as typeof import('../lib/cli/local-command'),
  logs: () => load('../lib/cli/logs-command') as typeof import('../lib/cli/logs-command'),
  rerun: () => load('../lib/cli/rerun-command') as typeof import('../lib/cli/rerun-command'),
  results: () => load('../lib/cli/results-command') as typeof import('../lib/cli/results-command'),
  target: () => load('../lib/cli/s3-target') as typeof import('../lib/cli/s3-target'),
  session: () => load('../lib/cli/session') as typeof import('../lib/cli/session'),
  status: () => load('../lib/cli/status-command') as typeof import('../lib/cli/status-command'),
  submit: () => load('../lib/cli/submit-command') as typeof import('../lib/cli/submit-command'),
  validate: () => load('../lib/cli/validate-command') as typeof import('../lib/cli/validate-command'),
  blueprint: () =>
    load('../lib/blueprint/load-blueprint') as typeof import('../lib/blueprint/load-blueprint'),
  watch: () => load('../lib/cli/watch') as typeof import('../lib/cli/watch'),
};

type LoadBlueprint = typeof import('../lib/cli/validate-command').loadBlueprintForCommand;

/** The dev commands' modules: the EC2 and SSM SDKs and the dev code, which no other command uses. */
const loadDev = () => ({
  ec2: load('@aws-sdk/client-ec2') as typeof import('@aws-sdk/client-ec2'),
  ssm: load('@aws-sdk/client-ssm') as typeof import('@aws-sdk/client-ssm'),
  instance: load('../lib/cli/dev-instance') as typeof import('../lib/cli/dev-instance'),
  run: load('../lib/cli/dev-run') as typeof import('../lib/cli/dev-run'),
  ami: load('../lib/cli/blueprint-ami') as typeof import('../lib/cli/blueprint-ami'),
});
type DevModules = ReturnType<typeof loadDev>;

/** The operator's sign-in commands: the Cognito SDK, which no lab-member command uses. */
const loadUsers = () => ({
  cognito: load(
    '@aws-sdk/client-cognito-identity-provider',
  ) as typeof import('@aws-sdk/client-cognito-identity-provider'),
  users: load('../lib/cli/users-command') as typeof import('../lib/cli/users-command'),
});

// The SDK's notice that its releases after January 2027 need Node 22 is for maintainers, not for a
// lab member reading a job's status: keep the CLI's output to what it says itself.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Commands that change something: a reader that closes the pipe does not cut them short. */
const FINISH_WHEN_PIPE_CLOSES: ReadonlySet<string> = new Set([
  'submit',
  'cancel',
  'local',
  'dev',
  'users',
  'login',
  'logout',
]);

export const main = async (argv: readonly string[]): Promise<number> => {
  // `ncaas status <job> | head -1`: no stack trace when the reader goes (lib/cli/output.ts).
  const pipes = guardClosedPipes({ stdout: process.stdout, stderr: process.stderr });
  const output = createOutput({ stdout: process.stdout, stderr: process.stderr });
  // Built when a command runs (it reads the login and loads the S3 SDK), not for --help.
  let built: CliSession | undefined;
  const session = (): CliSession => (built ??= new (cli.session().CliSession)(output));
  let exitCode: number = EXIT.ok;

  /** A live line left on the terminal by Ctrl-C would swallow the shell's prompt. */
  const clearOnInterrupt = (): void => {
    process.once('SIGINT', () => {
      output.clearLive();
      process.exit(130);
    });
  };
  const act = async (work: () => Promise<number> | number): Promise<void> => {
    clearOnInterrupt();
    exitCode = await session().run(work);
  };
  const withTarget = (command: Command): Command =>
    command
      .option('--bucket <name>', "the analysis's bucket (default: $NCAAS_BUCKET)")
      .option('--analysis <name>', 'the analysis (PipelineName) for job folders (default: $NCAAS_ANALYSIS)')
      .option('--region <region>', 'AWS region of the bucket (default: $AWS_REGION or your profile)');
  const target = (flags: TargetFlags): TargetOptions => ({
    ...(flags.bucket !== undefined ? { bucket: flags.bucket } : {}),
    ...(flags.analysis !== undefined ? { analysis: flags.analysis } : {}),
    ...(flags.region !== undefined ? { region: flags.region } : {}),
  });
  const GROUP_HELP = 'your group, the first folder of its keys (default: $NCAAS_GROUP)';
  const jobOptions = (job: string, flags: TargetFlags): { job: string; group?: string } => {
    const group = cli.target().groupOption(flags.group, session().env);
    return { job, ...(group !== undefined ? { group } : {}) };
  };

  const program = new Command('ncaas')
    .description('Run a neuroscience analysis as a cloud service: submit jobs and follow them with S3 alone.')
    .version(version)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
      outputError: (text, write) => write(`ncaas: ${text.replace(/^error: /, '')}`),
    })
    .addHelpText('after', ENVIRONMENT_HELP)
    .hook('preAction', (_program, action) => {
      let command = action;
      while (command.parent && command.parent !== program) command = command.parent;
      if (FINISH_WHEN_PIPE_CLOSES.has(command.name())) pipes.setMode('finish');
    });

  program
    .command('validate')
    .description("check a blueprint against the schema (synth's own check); lists every problem")
    .argument('<blueprint>', 'a blueprint name (blueprints/<name>.json) or a path')
    .action(async (blueprint: string) => act(() => cli.validate().runValidate(blueprint, output)));

  withTarget(
    program
      .command('submit')
      .description('upload data and config, write submit.json; prints the job id (--csv: many jobs)')
      .option('--group <group>', GROUP_HELP)
      .option(
        '--data <file|folder|key...>',
        'a dataset: a local file or folder (uploaded to inputs/) or a key; repeat for more',
      )
      .option('--config <file|key>', 'the config: a local file (uploaded to configs/) or a key')
      .option('--instance-type <type>', "an instance type the analysis's blueprint offers")
      .option('--timestamp <id>', 'the job id (default: the UTC time plus a random suffix)')
      .option(
        '--blueprint <name|path>',
        "the analysis's blueprint, to check the submission in full (default: $NCAAS_BLUEPRINT)",
      )
      .option(
        '--csv <file>',
        'many jobs, one a row, from a CSV or an .xlsx workbook (its first sheet): columns group,data,config[,instance_type][,timestamp]; every row is checked before anything is uploaded',
      )
      .option('--dry-run', 'check everything the analysis would and print the submit.json; upload nothing'),
  ).action(
    async (
      flags: TargetFlags & {
        data?: string[];
        config?: string;
        instanceType?: string;
        timestamp?: string;
        blueprint?: string;
        csv?: string;
        dryRun?: boolean;
      },
    ) =>
      act(async () => {
        if (flags.csv !== undefined) {
          const perJob = (
            [
              ['--group', flags.group],
              ['--data', flags.data],
              ['--config', flags.config],
              ['--instance-type', flags.instanceType],
              ['--timestamp', flags.timestamp],
            ] as const
          ).filter(([, value]) => value !== undefined);
          if (perJob.length > 0) {
            throw new CliError(
              `--csv takes each job's ${perJob.map(([name]) => name).join(', ')} from its columns: leave ${perJob.length === 1 ? 'it' : 'them'} out`,
              EXIT.usage,
            );
          }
          const csvBlueprint = flags.blueprint ?? session().env.NCAAS_BLUEPRINT;
          const csvAnalysis = csvBlueprint ? cli.validate().loadBlueprintForCommand(csvBlueprint) : undefined;
          return cli
            .bulkSubmit()
            .runBulkSubmit(
              session().s3(target(flags)),
              { csvFile: flags.csv, ...(csvAnalysis !== undefined ? { analysis: csvAnalysis } : {}) },
              output,
              { dryRun: flags.dryRun === true },
            );
        }
        const group = cli.target().requireGroup(flags.group, session().env);
        if (!flags.data?.length || flags.config === undefined) {
          throw new CliError(
            'submit needs --data <file|folder|key> (one or more) and --config <file|key>, or --csv <file>',
            EXIT.usage,
          );
        }
        const blueprint = flags.blueprint ?? session().env.NCAAS_BLUEPRINT;
        const analysis = blueprint ? cli.validate().loadBlueprintForCommand(blueprint) : undefined;
        return cli.submit().runSubmit(
          session().s3(target(flags)),
          {
            group,
            data: flags.data,
            config: flags.config,
            ...(flags.instanceType !== undefined ? { instanceType: flags.instanceType } : {}),
            ...(flags.timestamp !== undefined ? { timestamp: flags.timestamp } : {}),
            ...(analysis !== undefined ? { analysis } : {}),
          },
          output,
          { dryRun: flags.dryRun === true },
        );
      }),
  );

  withTarget(
    program
      .command('watch')
      .description('follow a job live until it ends; exit code = its outcome (0 SUCCESS, 1 otherwise)')
      .argument('<job>', 'the job id (its timestamp)')
      .option('--group <group>', GROUP_HELP)
      .option('--interval <seconds>', 'how often to look (default: 2)'),
  ).action(async (job: string, flags: TargetFlags & { interval?: string }) =>
    act(async () => {
      const intervalMs = cli.watch().parseInterval(flags.interval);
      return cli
        .watch()
        .runWatch(
          session().s3(target(flags)),
          { ...jobOptions(job, flags), ...(intervalMs !== undefined ? { intervalMs } : {}) },
          output,
        );
    }),
  );

  withTarget(
    program
      .command('status')
      .description("a job's state and each dataset's status")
      .argument('<job>', 'the job id (its timestamp)')
      .option('--group <group>', GROUP_HELP)
      .option('--json', 'print JSON'),
  ).action(async (job: string, flags: TargetFlags & { json?: boolean }) =>
    act(() =>
      cli
        .status()
        .runStatus(
          session().s3(target(flags)),
          { ...jobOptions(job, flags), json: flags.json === true },
          output,
        ),
    ),
  );

  withTarget(
    program
      .command('jobs')
      .description("a table of the group's jobs (all groups the credentials can list without --group)")
      .option('--group <group>', GROUP_HELP)
      .option('--state <states>', 'only jobs in these states, comma-separated (e.g. IN_PROGRESS,FAILED)')
      .option('--json', 'print JSON'),
  ).action(async (flags: TargetFlags & { state?: string; json?: boolean }) =>
    act(() => {
      const group = cli.target().groupOption(flags.group, session().env);
      return cli.jobs().runJobs(
        session().s3(target(flags)),
        {
          ...(group !== undefined ? { group } : {}),
          ...(flags.state !== undefined ? { state: flags.state } : {}),
          json: flags.json === true,
        },
        output,
      );
    }),
  );

  withTarget(
    program
      .command('costs')
      .description(
        'what each group spent on the analysis in a month: jobs, datasets, worker hours, cost, MAXCOST and the share used (all groups the credentials can list without --group)',
      )
      .option('--month <YYYY-MM>', 'the month (UTC) of the jobs counted; default: this month')
      .option('--group <group>', GROUP_HELP)
      .option('--json', 'print JSON'),
  ).action(async (flags: TargetFlags & { month?: string; json?: boolean }) =>
    act(() => {
      const group = cli.target().groupOption(flags.group, session().env);
      return cli.costs().runCosts(
        session().s3(target(flags)),
        {
          ...(group !== undefined ? { group } : {}),
          ...(flags.month !== undefined ? { month: flags.month } : {}),
          json: flags.json === true,
        },
        output,
      );
    }),
  );

  withTarget(
    program
      .command('logs')
      .description("a job's certificate and each dataset's stdout and stderr")
      .argument('<job>', 'the job id (its timestamp)')
      .option('--group <group>', GROUP_HELP)
      .option('--dataset <label>', 'only this dataset (its name in the status file)'),
  ).action(async (job: string, flags: TargetFlags & { dataset?: string }) =>
    act(() =>
      cli
        .logs()
        .runLogs(
          session().s3(target(flags)),
          { ...jobOptions(job, flags), ...(flags.dataset !== undefined ? { dataset: flags.dataset } : {}) },
          output,
        ),
    ),
  );

  withTarget(
    program
      .command('results')
      .description("list a job's results (process_results/), or download them")
      .argument('<job>', 'the job id (its timestamp)')
      .option('--group <group>', GROUP_HELP)
      .option('--download <dir>', 'download the results into this folder'),
  ).action(async (job: string, flags: TargetFlags & { download?: string }) =>
    act(() =>
      cli.results().runResults(
        session().s3(target(flags)),
        {
          ...jobOptions(job, flags),
          ...(flags.download !== undefined ? { download: flags.download } : {}),
        },
        output,
      ),
    ),
  );

  withTarget(
    program
      .command('rerun')
      .description(
        "submit a job's datasets and config again as a new job (its certificate names the job it reruns)",
      )
      .argument('<job>', 'the job id (its timestamp)')
      .option('--group <group>', GROUP_HELP)
      .option('--failed', 'only the datasets that ended FAILED, TIMED_OUT or INTERRUPTED')
      .option('--timestamp <id>', "the new job's id (default: a new one)")
      .option('--instance-type <type>', "another instance type the analysis's blueprint offers")
      .option(
        '--blueprint <name|path>',
        "the analysis's blueprint, to check the submission in full (default: $NCAAS_BLUEPRINT)",
      )
      .option('--dry-run', 'print the submit.json it would write; write nothing'),
  ).action(
    async (
      job: string,
      flags: TargetFlags & {
        failed?: boolean;
        timestamp?: string;
        instanceType?: string;
        blueprint?: string;
        dryRun?: boolean;
      },
    ) =>
      act(() => {
        const blueprint = flags.blueprint ?? session().env.NCAAS_BLUEPRINT;
        const analysis = blueprint ? cli.validate().loadBlueprintForCommand(blueprint) : undefined;
        return cli.rerun().runRerun(
          session().s3(target(flags)),
          {
            ...jobOptions(job, flags),
            failedOnly: flags.failed === true,
            ...(flags.timestamp !== undefined ? { timestamp: flags.timestamp } : {}),
            ...(flags.instanceType !== undefined ? { instanceType: flags.instanceType } : {}),
            ...(analysis !== undefined ? { analysis } : {}),
          },
          output,
          { dryRun: flags.dryRun === true },
        );
      }),
  );

  withTarget(
    program
      .command('cancel')
      .description('ask the analysis to stop a job (uploads <group>/submissions/<job>.cancel.json)')
      .argument('<job>', 'the job id (its timestamp)')
      .option('--group <group>', GROUP_HELP),
  ).action(async (job: string, flags: TargetFlags) =>
    act(() => cli.cancel().runCancel(session().s3(target(flags)), jobOptions(job, flags), output)),
  );

  const local = program
    .command('local')
    .description('run the analysis on this machine (emulated S3 and DynamoDB) until Ctrl-C')
    .option('--blueprint <name|path>', 'the blueprint (default: $NCAAS_BLUEPRINT or mock)')
    .option('--port <n>', 'port of the S3 emulator (default: any free port)')
    .option(
      '--dir <dir>',
      'where the emulators keep their data and env.sh is written (default: .ncaas-local)',
    )
    .option(
      '--secret <name=file>',
      'a secret the blueprint names (an rclone.conf for RemoteSources), read from a local file; repeatable',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--no-sign-in', "do not run the analysis's sign-in (ncaas users, ncaas login) locally")
    .option('--no-console', 'do not serve the web console')
    .action(
      async (flags: {
        blueprint?: string;
        port?: string;
        dir?: string;
        secret?: string[];
        signIn?: boolean;
        console?: boolean;
      }) => {
        exitCode = await session().run(async () => {
          const port = cli.local().parsePort(flags.port);
          const secretFiles = cli.local().parseSecretFlags(flags.secret);
          // Loaded here only, so the other commands never load the emulators.
          const { startLocalRuntime } = load(
            '../local/local-runtime',
          ) as typeof import('../local/local-runtime');
          return cli.local().runLocal(
            {
              blueprint: flags.blueprint ?? session().env.NCAAS_BLUEPRINT ?? 'mock',
              ...(port !== undefined ? { port } : {}),
              ...(flags.dir !== undefined ? { dir: flags.dir } : {}),
              secretFiles,
              signIn: flags.signIn !== false,
              console: flags.console !== false,
            },
            output,
            startLocalRuntime,
          );
        });
      },
    );
  local
    .command('stop')
    .description('stop the `ncaas local` running on a folder: SIGTERM, then waits for it to exit')
    .option('--dir <dir>', 'its folder (default: .ncaas-local)')
    .action(async (flags: { dir?: string }) => {
      const dir = flags.dir ?? (local.opts() as { dir?: string }).dir;
      exitCode = await session().run(() =>
        cli.local().runLocalStop(dir !== undefined ? { dir } : {}, output),
      );
    });

  // ---- ncaas dev: the analysis developer's instance ----
  interface DevFlags {
    readonly blueprint?: string;
    readonly owner?: string;
    readonly region?: string;
    readonly instance?: string;
  }
  const DEV_HELP = `
The dev instance belongs to an analysis (--blueprint or $NCAAS_BLUEPRINT) and an owner (--owner,
$NCAAS_DEV_OWNER, else your login name). It runs in the blueprint's REGION with your AWS credentials
(EC2 permissions); you reach it with SSM Session Manager: aws ssm start-session --target <id>.`;
  const users = program
    .command('users')
    .description(
      "the analysis's sign-in, for its operator: add, remove, list people, reset a password (--user-pool or $NCAAS_USER_POOL_ID: the stack output UserPoolId)",
    );
  type UsersFlags = { userPool?: string; region?: string; group?: string[] | string };
  const usersCommand = (name: string, description: string): Command =>
    users
      .command(name)
      .description(description)
      .option('--user-pool <id>', 'the user pool (default: $NCAAS_USER_POOL_ID, the stack output UserPoolId)')
      .option('--region <region>', 'AWS region of the user pool (default: from the pool id)');
  const withUsers = (
    flags: UsersFlags,
    work: (target: UsersTarget, m: ReturnType<typeof loadUsers>) => Promise<number>,
  ) =>
    act(async () => {
      const m = loadUsers();
      const userPoolId = m.users.userPoolIdOf(flags.userPool, session().env);
      const client = new m.cognito.CognitoIdentityProviderClient({
        region: flags.region ?? userPoolId.split('_')[0],
      });
      try {
        const local = (session().env.AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER ?? '').trim() !== '';
        return await work({ client, userPoolId, local }, m);
      } finally {
        client.destroy();
      }
    });
  const groupsOf = (flags: UsersFlags): string[] =>
    flags.group === undefined ? [] : Array.isArray(flags.group) ? flags.group : [flags.group];
  usersCommand('add', 'give a person an account (Cognito emails the invitation) in one or more groups')
    .argument('<email>', "the person's email address (their username)")
    .option(
      '--group <group>',
      'a group to add them to (repeat for more)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(async (email: string, flags: UsersFlags) =>
      withUsers(flags, (t, m) => m.users.usersAdd(t, email, groupsOf(flags), output)),
    );
  usersCommand('remove', 'take a person out of a group, or (without --group) delete their account')
    .argument('<email>', "the person's email address")
    .option('--group <group>', 'only this group')
    .action(async (email: string, flags: UsersFlags) =>
      withUsers(flags, (t, m) => m.users.usersRemove(t, email, groupsOf(flags)[0], output)),
    );
  usersCommand('list', 'the accounts, their status and groups')
    .option('--group <group>', 'only the members of this group')
    .action(async (flags: UsersFlags) =>
      withUsers(flags, (t, m) => m.users.usersList(t, groupsOf(flags)[0], output)),
    );
  usersCommand('reset', 'a new invitation (never signed in) or a password reset code, sent by Cognito')
    .argument('<email>', "the person's email address")
    .action(async (email: string, flags: UsersFlags) =>
      withUsers(flags, (t, m) => m.users.usersReset(t, email, output)),
    );

  // ---- ncaas login / logout / whoami: a lab member's sign-in ----
  const loadLogin = () => ({
    login: load('../lib/cli/login-command') as typeof import('../lib/cli/login-command'),
    prompt: load('../lib/cli/prompt') as typeof import('../lib/cli/prompt'),
  });
  program
    .command('login')
    .description(
      'sign in to an analysis with your email and password (no AWS account needed): ncaas commands then act for your group',
    )
    .requiredOption('--email <address>', 'your email address (the account the operator gave you)')
    .option(
      '--group <group>',
      'the group to act for, when you are in several (default: $NCAAS_GROUP or your only group)',
    )
    .option('--bucket <name>', "the analysis's bucket (default: $NCAAS_BUCKET)")
    .option('--analysis <name>', 'the analysis (default: $NCAAS_ANALYSIS)')
    .option('--user-pool <id>', 'its user pool (default: $NCAAS_USER_POOL_ID)')
    .option('--client-id <id>', 'its app client (default: $NCAAS_USER_POOL_CLIENT_ID)')
    .option('--identity-pool <id>', 'its identity pool (default: $NCAAS_IDENTITY_POOL_ID)')
    .action(async (flags: import('../lib/cli/login-command').LoginFlags) =>
      act(async () => {
        const m = loadLogin();
        // The environment as the person set it: a login already kept is not where a new one signs in.
        return m.login.runLogin(
          flags,
          process.env,
          m.prompt.createPrompter(process.stdin, process.stderr),
          output,
        );
      }),
    );
  program
    .command('logout')
    .description('end your sign-in to an analysis (its refresh token is revoked and the saved login removed)')
    .option('--analysis <name>', 'the analysis (default: $NCAAS_ANALYSIS, or your only login)')
    .action(async (flags: { analysis?: string }) =>
      act(() =>
        loadLogin().login.runLogout(
          flags.analysis ?? session().login?.record.analysis,
          session().env,
          output,
        ),
      ),
    );
  program
    .command('whoami')
    .description('who you are signed in as: email, group(s), analysis and when the sign-in expires')
    .option('--analysis <name>', 'the analysis (default: $NCAAS_ANALYSIS, or your only login)')
    .action(async (flags: { analysis?: string }) =>
      act(() =>
        loadLogin().login.runWhoami(
          flags.analysis ?? session().login?.record.analysis ?? session().env.NCAAS_ANALYSIS,
          session().env,
          output,
        ),
      ),
    );

  const dev = program
    .command('dev')
    .description(
      "the analysis developer's instance: launch, status, extend, stop, start, run, save-ami, use-ami, terminate",
    )
    .addHelpText('after', DEV_HELP);
  const devCommand = (name: string, description: string): Command =>
    dev
      .command(name)
      .description(description)
      .option('--blueprint <name|path>', "the analysis's blueprint (default: $NCAAS_BLUEPRINT)")
      .option('--owner <name>', 'whose dev instance (default: $NCAAS_DEV_OWNER, else your login name)')
      .option('--region <region>', "AWS region (default: the blueprint's REGION)")
      .option('--instance <id>', 'the dev instance (default: your only one of this analysis)');
  const devBlueprint = (flags: DevFlags): string => {
    const blueprint = flags.blueprint ?? session().env.NCAAS_BLUEPRINT;
    if (!blueprint) {
      throw new CliError(
        'ncaas dev needs the blueprint: pass --blueprint <name|path> or set NCAAS_BLUEPRINT',
        EXIT.usage,
      );
    }
    return blueprint;
  };
  /** Runs a dev command with an EC2 client in the analysis's region, closed afterwards. */
  const devAct = (
    flags: DevFlags,
    work: (target: DevTarget, config: ReturnType<LoadBlueprint>, dev: DevModules) => Promise<number>,
  ): Promise<void> =>
    act(async () => {
      const config = cli.validate().loadBlueprintForCommand(devBlueprint(flags));
      const owner = (flags.owner ?? session().env.NCAAS_DEV_OWNER ?? os.userInfo().username).trim();
      if (owner === '') throw new CliError('no owner: pass --owner NAME or set NCAAS_DEV_OWNER', EXIT.usage);
      const dev = loadDev();
      const ec2 = new dev.ec2.EC2Client({ region: flags.region ?? config.region });
      try {
        return await work({ ec2, analysis: config.name, owner }, config, dev);
      } finally {
        ec2.destroy();
      }
    });
  const instanceOf = (flags: DevFlags): { instance?: string } =>
    flags.instance !== undefined ? { instance: flags.instance } : {};

  devCommand('launch', "start a dev instance from the blueprint's AMI (or --ami); prints its id")
    .option(
      '--ami <id|alias>',
      'ami-..., resolve:ssm:/..., or a base image: al2023, al2023-arm64, ubuntu-22.04, ubuntu-24.04',
    )
    .option('--hours <h>', 'lifetime before the watchdog stops it (default: 4, at most 72)')
    .option('--instance-type <type>', "default: the blueprint's INSTANCE_TYPE")
    .option(
      '--instance-profile <name>',
      'the dev instance profile (default: $NCAAS_DEV_INSTANCE_PROFILE; stack output DevInstance)',
    )
    .option(
      '--security-group <id>',
      'a group with no inbound rule (default: $NCAAS_DEV_SECURITY_GROUP; stack output DevInstance)',
    )
    .option('--subnet <id>', 'default: $NCAAS_DEV_SUBNET, else the default VPC')
    .option('--volume-gib <n>', 'root volume size (default: 30, or the image snapshot if larger)')
    .action(
      async (
        flags: DevFlags & {
          ami?: string;
          hours?: string;
          instanceType?: string;
          instanceProfile?: string;
          securityGroup?: string;
          subnet?: string;
          volumeGib?: string;
        },
      ) =>
        devAct(flags, async (target, config, dev) => {
          const instanceProfile = flags.instanceProfile ?? session().env.NCAAS_DEV_INSTANCE_PROFILE;
          const securityGroup = flags.securityGroup ?? session().env.NCAAS_DEV_SECURITY_GROUP;
          const subnet = flags.subnet ?? session().env.NCAAS_DEV_SUBNET;
          if (!instanceProfile || !securityGroup) {
            throw new CliError(
              'launch needs --instance-profile and --security-group (or NCAAS_DEV_INSTANCE_PROFILE and NCAAS_DEV_SECURITY_GROUP): the stack output DevInstance names both',
              EXIT.usage,
            );
          }
          const volume = flags.volumeGib === undefined ? undefined : Number(flags.volumeGib);
          if (volume !== undefined && !(Number.isInteger(volume) && volume > 0 && volume <= 16384)) {
            throw new CliError(
              `--volume-gib "${flags.volumeGib}" is not a size in GiB (1 to 16384)`,
              EXIT.usage,
            );
          }
          return dev.instance.runDevLaunch(
            target,
            {
              config,
              hours: dev.instance.parseHours(flags.hours),
              instanceProfile,
              securityGroup,
              ...(flags.ami !== undefined ? { ami: flags.ami } : {}),
              ...(flags.instanceType !== undefined ? { instanceType: flags.instanceType } : {}),
              ...(subnet ? { subnet } : {}),
              ...(volume !== undefined ? { rootVolumeGiB: volume } : {}),
            },
            output,
          );
        }),
    );
  devCommand('status', 'state and lifetime left of your dev instance')
    .option('--json', 'print JSON')
    .action(async (flags: DevFlags & { json?: boolean }) =>
      devAct(flags, (target, _config, dev) =>
        dev.instance.runDevStatus(target, { ...instanceOf(flags), json: flags.json === true }, output),
      ),
    );
  devCommand('extend', 'give your dev instance more hours before the watchdog stops it')
    .argument('<hours>', 'hours to add (at most 72 from now)')
    .action(async (hours: string, flags: DevFlags) =>
      devAct(flags, (target, _config, dev) =>
        dev.instance.runDevExtend(
          target,
          { ...instanceOf(flags), hours: dev.instance.parseHours(hours) },
          output,
        ),
      ),
    );
  devCommand('stop', 'stop your dev instance (its volume is kept)').action(async (flags: DevFlags) =>
    devAct(flags, (target, _config, dev) => dev.instance.runDevStop(target, instanceOf(flags), output)),
  );
  devCommand('start', 'start your stopped dev instance').action(async (flags: DevFlags) =>
    devAct(flags, (target, _config, dev) => dev.instance.runDevStart(target, instanceOf(flags), output)),
  );
  devCommand('save-ami', 'make an AMI of your dev instance and wait until it is available; prints its id')
    .argument('<name>', 'the AMI name (3-128 characters)')
    .option('--no-wait', 'return once the image is requested')
    .action(async (name: string, flags: DevFlags & { wait?: boolean }) =>
      devAct(flags, (target, _config, dev) =>
        dev.instance.runDevSaveAmi(
          target,
          { ...instanceOf(flags), name, noWait: flags.wait === false },
          output,
        ),
      ),
    );
  devCommand(
    'use-ami',
    "point the blueprint's AMI at an image and commit it (default: the AMI you saved last)",
  )
    .argument('[ami]', 'ami-... or resolve:ssm:/...')
    .option('--message <text>', 'more text for the commit message')
    .option('--no-commit', 'change the file, commit nothing')
    .action(async (ami: string | undefined, flags: DevFlags & { message?: string; commit?: boolean }) =>
      devAct(flags, async (target, _config, dev) => {
        const saved = ami === undefined ? await dev.instance.lastSavedAmi(target, flags.instance) : undefined;
        const file = cli.blueprint().resolveBlueprintPath(devBlueprint(flags), cli.validate().BLUEPRINTS_DIR);
        const result = dev.ami.useAmi({
          file,
          newAmi: ami ?? saved?.ami ?? '',
          ...(saved !== undefined ? { origin: `saved from dev instance ${saved.instanceId}` } : {}),
          ...(flags.message !== undefined ? { message: flags.message } : {}),
          noCommit: flags.commit === false,
        });
        if (!result.changed) {
          output.err(`the blueprint already uses ${result.newAmi}: nothing to change`);
          return EXIT.ok;
        }
        if (result.beforeCommit)
          output.err(`committed the blueprint as it was: ${result.beforeCommit.slice(0, 12)}`);
        output.err(
          `${file}: AMI ${result.oldAmi} -> ${result.newAmi}${result.afterCommit ? `, committed ${result.afterCommit.slice(0, 12)}` : ' (not committed)'}`,
        );
        output.err('deploy it: npx cdk deploy AnalysisStack -c blueprint=<name>');
        output.out(result.afterCommit ?? result.newAmi);
        return EXIT.ok;
      }),
    );
  devCommand('terminate', 'terminate your dev instance (refused until an AMI was saved, unless --force)')
    .option('--force', 'terminate even though no AMI was saved from it')
    .action(async (flags: DevFlags & { force?: boolean }) =>
      devAct(flags, (target, _config, dev) =>
        dev.instance.runDevTerminate(target, { ...instanceOf(flags), force: flags.force === true }, output),
      ),
    );
  devCommand('run', 'run a submit.json on your dev instance with the worker contract (SSM Run Command)')
    .argument('<submit.json>', 'a local submit.json, or the key of one in the bucket')
    .option('--group <group>', "the submission's group (default: $NCAAS_GROUP, else the group of its keys)")
    .option('--bucket <name>', "the analysis's bucket (default: $NCAAS_BUCKET; stack output BucketName)")
    .option('--timestamp <id>', 'the job id, after "dev-" (default: dev-<UTC time>-<random>)')
    .option(
      '--timeout <minutes>',
      "each dataset's deadline (default: the blueprint's SSM_TIMEOUT, at most 48 h)",
    )
    .option('--interval <seconds>', 'how often to look (default: 3)')
    .action(
      async (
        submitFile: string,
        flags: DevFlags & {
          group?: string;
          bucket?: string;
          timestamp?: string;
          timeout?: string;
          interval?: string;
        },
      ) =>
        devAct(flags, async (target, config, dev) => {
          const timeoutSeconds = dev.run.parseTimeoutMinutes(flags.timeout);
          const intervalMs = cli.watch().parseInterval(flags.interval);
          const group = cli.target().groupOption(flags.group, session().env);
          const region = flags.region ?? config.region;
          const s3 = session().s3({
            analysis: config.name,
            region,
            ...(flags.bucket !== undefined ? { bucket: flags.bucket } : {}),
          });
          const ssm = new dev.ssm.SSMClient({ region });
          try {
            return await dev.run.runDevRun(
              { ...target, ssm, s3 },
              {
                config,
                submitFile,
                ...(group !== undefined ? { group } : {}),
                ...instanceOf(flags),
                ...(flags.timestamp !== undefined ? { timestamp: flags.timestamp } : {}),
                ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
                ...(intervalMs !== undefined ? { intervalMs } : {}),
              },
              output,
            );
          } finally {
            ssm.destroy();
          }
        }),
    );

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw error;
  }
  return exitCode;
};

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`ncaas: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
    process.exitCode = EXIT.failed;
  },
);
