// Debian's Chromium driven by playwright-core (no browser download). Playwright
// gives every launch a fresh temporary profile; each user gets its own context.

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic',
    ],
  });
}

/** Logs in through the login form and waits for the workbench shell. */
export async function login(page, base, user, next = '') {
  await page.goto(`${base}/${next ? `?next=${encodeURIComponent(next)}` : ''}`);
  await page.fill('input[name=username]', user.username);
  await page.fill('input[name=password]', user.password);
  await page.click('button[type=submit]');
}
