import { createRequire } from 'node:module';

/**
 * The part of `@opentelemetry/api` the cache uses, typed here so that the package's types do not
 * name a module the app may not have installed (it is an optional peer).
 */
export type TelemetryAttributes = Readonly<Record<string, string | number | boolean>>;

export interface TelemetryCounter {
  add(value: number, attributes?: TelemetryAttributes): void;
}

export interface TelemetryHistogram {
  record(value: number, attributes?: TelemetryAttributes): void;
}

export interface TelemetrySpan {
  recordException(exception: Error): void;
  setStatus(status: { code: number }): unknown;
  end(): void;
}

interface InstrumentOptions {
  description: string;
  unit: string;
}

export interface TelemetryMeter {
  createCounter(name: string, options: InstrumentOptions): TelemetryCounter;
  createHistogram(name: string, options: InstrumentOptions): TelemetryHistogram;
}

export interface TelemetryTracer {
  startActiveSpan<T>(name: string, options: { attributes: TelemetryAttributes }, fn: (span: TelemetrySpan) => T): T;
}

/** Meters and tracers of the app's OpenTelemetry API, or no-ops when it has none. */
export interface TelemetryApi {
  /** Whether the app has `@opentelemetry/api` (false: everything below is a no-op). */
  readonly present: boolean;
  getMeter(name: string): TelemetryMeter;
  getTracer(name: string): TelemetryTracer;
  /** `SpanStatusCode.ERROR`. */
  readonly errorStatus: number;
  /**
   * Whether an instrument from `getMeter` records nothing, ever: the API's no-op, which a meter
   * gets when no SDK was registered before it was made (the metrics API has no proxy: a later
   * SDK does not reach it). Lets the hot path skip what would not be recorded.
   */
  recordsNothing(instrument: TelemetryCounter | TelemetryHistogram): boolean;
}

/** The lowest `@opentelemetry/api` with everything used here (the metrics API came in 1.3.0); the peer range starts there. */
export const OTEL_API_MINIMUM = '1.3.0';

const NOOP_COUNTER: TelemetryCounter = { add: () => undefined };
const NOOP_HISTOGRAM: TelemetryHistogram = { record: () => undefined };
const NOOP_SPAN: TelemetrySpan = { recordException: () => undefined, setStatus: () => undefined, end: () => undefined };
const NOOP_TRACER: TelemetryTracer = {
  startActiveSpan<T>(_name: string, _options: unknown, fn: (span: TelemetrySpan) => T): T {
    return fn(NOOP_SPAN);
  },
};
const NOOP_API: TelemetryApi = Object.freeze({
  present: false,
  getMeter: () => ({ createCounter: () => NOOP_COUNTER, createHistogram: () => NOOP_HISTOGRAM }),
  getTracer: () => NOOP_TRACER,
  errorStatus: 2,
  recordsNothing: () => true,
});

interface OtelModule {
  metrics: { getMeter(name: string): TelemetryMeter };
  /** Since 1.3.0; looked up all the same (a copy without it: every histogram is taken as real). */
  createNoopMeter?: () => TelemetryMeter;
  trace: { getTracer(name: string): TelemetryTracer };
  SpanStatusCode: { ERROR: number };
}

let loaded: TelemetryApi | undefined;

/**
 * The app's `@opentelemetry/api`, loaded on first use, once per process. `require()` rather than
 * `import()`: a `CacheManager` is built synchronously (`createSync`, module providers) and the
 * package has no top-level await (it must load through `require(esm)`). The API keeps its global
 * providers under `Symbol.for('opentelemetry.js.api.1')`, so this CommonJS copy sees the SDK an
 * app registered through the ESM build. Resolved from this file, as a peer: the app's own copy.
 * Absent, telemetry is a no-op (as the API itself is without an SDK); any other load failure
 * (a broken install) is thrown.
 */
export function telemetryApi(): TelemetryApi {
  if (loaded !== undefined) return loaded;
  let otel: OtelModule;
  try {
    otel = createRequire(import.meta.url)('@opentelemetry/api') as OtelModule;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 'MODULE_NOT_FOUND' || !String((err as Error).message).includes("'@opentelemetry/api'")) throw err;
    return (loaded = NOOP_API);
  }
  const noopMeter = typeof otel.createNoopMeter === 'function' ? otel.createNoopMeter() : undefined;
  const noop = { description: '', unit: '' };
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  const noopClasses = new Set<Function>(noopMeter === undefined ? [] : [noopMeter.createCounter('noop', noop).constructor, noopMeter.createHistogram('noop', noop).constructor]);
  return (loaded = Object.freeze({
    present: true,
    getMeter: (name: string) => otel.metrics.getMeter(name),
    getTracer: (name: string) => otel.trace.getTracer(name),
    errorStatus: otel.SpanStatusCode.ERROR,
    // Object's own constructor is no no-op's: an instrument made as a plain object is taken as real.
    recordsNothing: (instrument: TelemetryCounter | TelemetryHistogram) => instrument.constructor !== Object && noopClasses.has(instrument.constructor),
  }));
}
