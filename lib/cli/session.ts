/**
 * One CLI invocation: the output, the login it uses (if any), the S3 target once a command asks for it, and the rule that every
 * failure ends as one line on stderr (`ncaas: ...`) and an exit code, never a stack trace.
 */
import { describeError } from './errors';
import { type AppliedLogin, applicableLogin } from './login-session';
import type { Output } from './output';
import { resolveTarget, type Env, type S3Target, type TargetOptions } from './s3-target';

export class CliSession {
  private target: S3Target | undefined;
  /** The environment, with the settings of the login in use filled in where it sets none. */
  readonly env: Env;
  /** The `ncaas login` this invocation uses, if any (lib/cli/login-session.ts). */
  readonly login: AppliedLogin | undefined;

  constructor(
    readonly output: Output,
    env: Env = process.env,
  ) {
    this.login = applicableLogin(env);
    this.env = this.login?.env ?? env;
  }

  /** The S3 target from flags and the environment (remembered for error messages and clean-up). */
  s3(flags: TargetOptions): S3Target {
    // A login is for its own analysis and bucket: flags naming others use the AWS credential chain.
    const record = this.login?.record;
    const loginFits =
      record !== undefined &&
      (flags.analysis === undefined || flags.analysis === record.analysis) &&
      (flags.bucket === undefined || flags.bucket === record.bucket);
    this.target = resolveTarget(flags, this.env, loginFits ? this.login?.credentials : undefined);
    return this.target;
  }

  /** Runs a command; returns its exit code, or the code of the error it failed with. */
  async run(work: () => Promise<number> | number): Promise<number> {
    try {
      return await work();
    } catch (error) {
      const report = describeError(error, {
        ...(this.target ? { bucket: this.target.bucket } : {}),
        ...(this.target?.endpoint ? { endpoint: this.target.endpoint } : {}),
      });
      this.output.clearLive();
      this.output.err(`ncaas: ${report.message}`);
      return report.exitCode;
    } finally {
      this.target?.client.destroy();
      this.target = undefined;
    }
  }
}
