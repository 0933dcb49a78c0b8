/** A fixed number of slots: `take` resolves with a release function, or undefined when none frees within the wait. */
export class Slots {
  private readonly waiters: (() => void)[] = [];

  constructor(private free: number) {}

  take(waitMs: number): Promise<(() => void) | undefined> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const grant = (): void => {
        clearTimeout(timer);
        resolve(this.releaser());
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(grant), 1);
        resolve(undefined);
      }, waitMs);
      this.waiters.push(grant);
    });
  }

  /** Releasing twice releases once; a released slot goes to the longest waiter. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      const next = this.waiters.shift();
      if (next) {
        next();
      } else {
        this.free++;
      }
    };
  }
}
