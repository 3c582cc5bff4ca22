/**
 * Build progress in BuildKit's plain format: each step a numbered vertex
 * (`#3 [2/5] RUN make`), its output lines with their time since it started
 * (`#3 0.412 text`), then `#3 DONE 0.5s`, `#3 CACHED` or `#3 ERROR: …`,
 * and a blank line between vertices.
 *
 * @module
 */

/** Prints vertices as they go. */
export class Progress {
  readonly #log: (line: string) => void;
  #next = 1;
  readonly #started = new Map<number, number>();

  /** Progress printed through `log`, one line per call. */
  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  /** Starts a vertex named `name`; returns its number. */
  start(name: string): number {
    const n = this.#next++;
    this.#started.set(n, performance.now());
    this.#log(`#${n} ${name}`);
    return n;
  }

  /** A line of a vertex's output (a RUN step's), `at` seconds after it started. */
  output(n: number, text: string, at?: number): void {
    const t = at ?? (performance.now() - (this.#started.get(n) ?? performance.now())) / 1000;
    this.#log(`#${n} ${t.toFixed(3)} ${text}`);
  }

  /** A line about a vertex. */
  line(n: number, text: string): void {
    this.#log(`#${n} ${text}`);
  }

  /** Ends a vertex that ran. */
  done(n: number, started?: number): void {
    const t = (performance.now() - (started ?? this.#started.get(n) ?? performance.now())) / 1000;
    this.#log(`#${n} DONE ${t.toFixed(1)}s`);
    this.#log("");
  }

  /** Ends a vertex the cache answered. */
  cached(n: number): void {
    this.#log(`#${n} CACHED`);
    this.#log("");
  }

  /** Ends a vertex that failed. */
  error(n: number, message: string): void {
    this.#log(`#${n} ERROR: ${message}`);
    this.#log("");
  }

  /** A line outside any vertex. */
  note(text: string): void {
    this.#log(text);
  }
}
