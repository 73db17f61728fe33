/**
 * Tag keys of an analysis developer's dev instance (`ncaas dev`). Deliberately not the workers'
 * `ncaas:analysis` tag: the watchdog terminates instances carrying that tag when no job runs on them,
 * and a dev instance runs no job. The watchdog stops (never terminates) a dev instance past its expiry.
 * Plain data, so the CLI and the handlers import it without the CDK.
 */
export const DEV_TAGS = {
  /** The analysis (PipelineName) the instance is developing. */
  analysis: 'ncaas:dev-analysis',
  /** Who launched it (`--owner`, NCAAS_DEV_OWNER, else the login name). */
  owner: 'ncaas:dev-owner',
  /** ISO time after which the watchdog stops it; `ncaas dev extend` moves it. */
  expires: 'ncaas:dev-expires',
  /** The last AMI saved from it (`ncaas dev save-ami`): `terminate` refuses until there is one. */
  savedAmi: 'ncaas:dev-saved-ami',
  /** Set by the watchdog when it stopped the instance past its expiry: when and why. */
  stoppedByWatchdog: 'ncaas:dev-stopped',
} as const;
