/**
 * How long a sign-in lasts without a password: the app client's refresh token (lib/constructs/sign-in.ts),
 * which `ncaas login` renews its hour-long credentials from (lib/cli/login-command.ts).
 */
export const REFRESH_TOKEN_DAYS = 30;
