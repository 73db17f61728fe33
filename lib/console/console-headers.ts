/**
 * The console's response headers, one definition for the stack (CloudFront's response headers policy,
 * lib/constructs/console-site.ts) and the local runtime's server (local/console-server.ts): no inline
 * script or style, nothing framed, scripts and styles only from the site itself, and connections only
 * to the data bucket's endpoint and the sign-in endpoints. Every user string is rendered as text by
 * the app; this policy is the second wall should one ever not be.
 */
export interface ConsolePolicy {
  /** Origins the app may call: the data bucket's S3 endpoint, Cognito's endpoints. */
  readonly connectSrc: readonly string[];
}

export const contentSecurityPolicy = (policy: ConsolePolicy): string =>
  [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    // The .xlsx reader (lib/cli/job-list-file.ts, through fflate) inflates a large sheet in a worker it
    // makes from a blob: URL; only the page's own script can make one.
    'worker-src blob:',
    `connect-src 'self' ${policy.connectSrc.join(' ')}`.trimEnd(),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');

/** The headers every response of the console carries (HSTS is CloudFront's, over HTTPS only). */
export const consoleHeaders = (policy: ConsolePolicy): Readonly<Record<string, string>> => ({
  'Content-Security-Policy': contentSecurityPolicy(policy),
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
});
