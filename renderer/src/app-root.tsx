import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import type { ApiChoice } from './api/choose-api.js';
import { App } from './app.js';
import type { FirstAnswers } from './model/first-answers.js';

/** Renders the app into ROOT: loaded by the entry as its own chunk. */
export function mount(root: HTMLElement, choice: ApiChoice, first: FirstAnswers | null): void {
  createRoot(root).render(
    <StrictMode>
      <App choice={choice} first={first} />
    </StrictMode>,
  );
}
