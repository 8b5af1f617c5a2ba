import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react';

export type Resource<T> =
  | { status: 'loading'; data?: undefined; error?: undefined; reload: () => void }
  | { status: 'ready'; data: T; error?: undefined; reload: () => void }
  | { status: 'error'; data?: undefined; error: Error; reload: () => void };

/** Loads `load()` when the deps change; a stale answer never overwrites a newer one. */
export function useResource<T>(load: () => Promise<T>, deps: DependencyList): Resource<T> {
  const [state, setState] = useState<{ status: 'loading' } | { status: 'ready'; data: T } | { status: 'error'; error: Error }>({ status: 'loading' });
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  const lastTick = useRef(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps decide when to load again
  useEffect(() => {
    const mine = ++generation.current;
    // a reload keeps showing the data it refreshes; new deps show loading
    const refresh = tick !== lastTick.current;
    lastTick.current = tick;
    setState((previous) => (refresh && previous.status === 'ready' ? previous : { status: 'loading' }));
    load().then(
      (data) => mine === generation.current && setState({ status: 'ready', data }),
      (error: unknown) => mine === generation.current && setState({ status: 'error', error: error instanceof Error ? error : new Error(String(error)) }),
    );
  }, [...deps, tick]);
  return { ...state, reload } as Resource<T>;
}
