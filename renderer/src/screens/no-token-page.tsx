/** Shown when the page has no bridge token, or the bridge refused it. */
export function NoTokenPage({ reason, onRetry }: { readonly reason: 'no_token' | 'refused'; readonly onRetry?: () => void }) {
  return (
    <main className="centered no-token">
      <h1>Open Cordon from the address it gives you</h1>
      <p>{reason === 'no_token' ? 'This page needs the access token that Cordon puts in its address.' : 'Cordon did not accept this page’s connection. The address may be from an earlier run, or Cordon is not running.'}</p>
      <p>
        Run <code>cordon ui</code> and open the address it prints (it ends in <code>#token=…</code>).
      </p>
      {onRetry !== undefined && (
        <button type="button" className="btn" onClick={onRetry}>
          Try again
        </button>
      )}
    </main>
  );
}
