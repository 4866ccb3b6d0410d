import * as readline from 'node:readline/promises';

import { OnevaultError } from '../errors';

/**
 * Asks for "yes" on the terminal before a destructive step. With `yes` set it returns at once.
 * Without a terminal, or on any other reply, it throws `CONFIRMATION_REQUIRED`.
 */
export async function confirmOrThrow(options: { readonly yes?: boolean; readonly action: string; readonly question: string }): Promise<void> {
  if (options.yes) return;
  if (!process.stdin.isTTY) {
    throw new OnevaultError('CONFIRMATION_REQUIRED', `${options.action}, and stdin is not a terminal to confirm it on.`, {
      hint: 'Add --yes to confirm in scripts and CI.',
    });
  }

  const prompt = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${options.question} Type "yes" to continue: `);
    if (answer.trim().toLowerCase() !== 'yes') {
      throw new OnevaultError('CONFIRMATION_REQUIRED', 'Cancelled: the reply was not "yes".', { hint: 'Nothing was changed.' });
    }
  } finally {
    prompt.close();
  }
}
