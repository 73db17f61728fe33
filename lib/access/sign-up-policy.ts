/**
 * Who may create their own account when an analysis allows self sign-up (`SignIn.SelfSignUp`): an
 * address of one of `SignIn.AllowedEmailDomains`, exactly or as a subdomain. The account starts in no
 * group, so it reaches nothing until an operator adds it to one (`ncaas users add`).
 */

/** The domain of an address: what follows its last `@`, lowercased; undefined when there is none. */
const domainOf = (email: string): string | undefined => {
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return undefined;
  return email
    .slice(at + 1)
    .trim()
    .toLowerCase();
};

export const mayUseDomain = (email: string, allowedDomains: readonly string[]): boolean => {
  const domain = domainOf(email);
  if (domain === undefined) return false;
  return allowedDomains.some((allowed) => {
    const a = allowed.toLowerCase();
    return domain === a || domain.endsWith(`.${a}`);
  });
};

/** The message Cognito shows a refused sign-up (after "PreSignUp failed with error"). */
export const signUpRefusal = (allowedDomains: readonly string[]): string =>
  `sign-up is open to addresses of ${allowedDomains.join(', ')} only: ask the analysis's operator for an account`;
