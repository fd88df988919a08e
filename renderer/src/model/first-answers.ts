import type { ApiResponse, ApiResult } from '../../../core/api/cordon-api.js';

/** The answers the first screen waits for, asked by the entry before the app loads. */
export interface FirstAnswers {
  readonly info: Promise<ApiResult<ApiResponse<'app.info'>>>;
  readonly keys: Promise<ApiResult<ApiResponse<'keys.status'>>>;
  /**
   * Both answers, when they were in before the app mounted: the first render
   * then draws the first screen itself instead of "Loading" and a second
   * render. Null when they were not (the app then awaits the promises).
   */
  readonly settled: { readonly info: ApiResult<ApiResponse<'app.info'>>; readonly keys: ApiResult<ApiResponse<'keys.status'>> } | null;
}

/**
 * FIRST with its answers settled if both arrive within MS (they are asked
 * before the app's chunk loads, and usually arrive with it); never waits longer.
 */
export async function settleWithin(first: Omit<FirstAnswers, 'settled'>, ms: number): Promise<FirstAnswers> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  const both = Promise.all([first.info, first.keys]).then(([info, keys]) => ({ info, keys }));
  const settled = await Promise.race([both, late]);
  clearTimeout(timer);
  return { ...first, settled };
}
