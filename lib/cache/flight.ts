import type { Outcome } from './compute-policy.js';

/** One computation of a key in this process, joinable from its first read until its entry is readable. */
export interface Flight {
  /** Settles with what a joiner gets: the stale entry as soon as one is found (unless `'none'`), else the leader's outcome. */
  readonly answer: Promise<Outcome<unknown>>;
  answerWith(outcome: Outcome<unknown>): void;
  /** Rejects the joiners with `err`, unless they were answered already (a stale entry). */
  failWith(err: unknown): void;
  answered: boolean;
  /** Whether joiners get an entry in grace (the answer is a stale outcome). */
  servesStale: boolean;
  /** Whether the leader is computing (its read missed), not only reading. */
  computing: boolean;
}

export function answered<T>(flight: Flight, endFlight: () => void, outcome: Outcome<T>): Outcome<T> {
  flight.answerWith(outcome);
  endFlight();
  return outcome;
}

export function newFlight(): Flight {
  let settle!: (outcome: Outcome<unknown>) => void;
  let fail!: (err: unknown) => void;
  const answer = new Promise<Outcome<unknown>>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  // A flight nobody joined must not report an unhandled rejection.
  answer.catch(() => undefined);
  const flight: Flight = {
    answer,
    answered: false,
    servesStale: false,
    computing: false,
    answerWith(outcome) {
      if (flight.answered) return;
      flight.answered = true;
      flight.servesStale = outcome.kind === 'stale';
      settle(outcome);
    },
    failWith(err) {
      if (flight.answered) return;
      flight.answered = true;
      fail(err);
    },
  };
  return flight;
}
