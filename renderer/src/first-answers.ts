import type { ApiResponse, ApiResult } from '../../core/api/cordon-api.js';

/** The answers the first screen waits for, asked by the entry before the app loads. */
export interface FirstAnswers {
  readonly info: Promise<ApiResult<ApiResponse<'app.info'>>>;
  readonly keys: Promise<ApiResult<ApiResponse<'keys.status'>>>;
}
