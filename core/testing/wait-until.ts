/** Test support (not a test): polls COND every 10 ms until it holds; throws naming WHAT after MS. */
export async function waitUntil(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
