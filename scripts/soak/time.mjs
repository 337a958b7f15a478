// Waiting in the driver: bounded, and cut short when the soak stops.

/** What `within` rejects with: `what` did not happen within the bound. */
export class Late extends Error {
  constructor(what, ms) {
    super(`no ${what} within ${ms} ms`);
    this.what = what;
  }
}

/** Races `promise` against `ms`: rejects with `Late` if it is not settled by then. */
export function within(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Late(what, ms)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Waits `ms`, or less if the soak stops first. */
export function pause(ms, soak) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      off();
      resolve();
    }, ms);
    const off = soak.onStop(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
