/** Cognito pre sign-up trigger: self sign-up only with an address of the allowed domains. */
import type { PreSignUpTriggerEvent } from 'aws-lambda';
import { mayUseDomain, signUpRefusal } from '../lib/access/sign-up-policy';

const allowed = (process.env.NCAAS_SIGN_UP_DOMAINS ?? '').split(',').filter((d) => d.length > 0);

export const handler = async (event: PreSignUpTriggerEvent): Promise<PreSignUpTriggerEvent> => {
  // Accounts an operator creates (AdminCreateUser) are not self sign-ups: they pass.
  if (event.triggerSource === 'PreSignUp_AdminCreateUser') return event;
  const email = event.request.userAttributes.email ?? '';
  if (!mayUseDomain(email, allowed)) throw new Error(signUpRefusal(allowed));
  return event;
};
