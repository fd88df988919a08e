import { useEffect, useRef, type ReactNode } from 'react';

/** A screen's one h1; it takes focus when the screen opens so keyboard and screen-reader users land on it. */
export function ScreenHeading({ children }: { readonly children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}
