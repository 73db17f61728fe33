/** Placeholder until the job lifecycle lands: logs the event it receives and does nothing else. */
export const handler = async (event: unknown): Promise<void> => {
  console.log(JSON.stringify({ message: 'watchdog handler: not implemented yet', event }));
};
