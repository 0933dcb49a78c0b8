import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds; from a cached small GET to a multi-GiB transfer (the HTTP latency runs until the last byte). */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Seconds until S3 answers (for GetObject: its headers, not the whole body). */
const S3_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type HttpLabels = 'method' | 'route' | 'status';
export type S3Labels = 'operation' | 'outcome';

/** What the credentials gauge needs of the credentials in use; `source` is a fixed name such as `static keys`. */
export interface CredentialsInUse {
  readonly source: string;
  readonly expiration?: Date;
  readonly sessionToken?: string;
}

/** One finished HTTP exchange, as the HTTP hook measured it. */
export interface HttpExchange {
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly seconds: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** False when the connection closed before the last byte of the response was sent. */
  readonly complete: boolean;
}

/**
 * The service's Prometheus metrics on their own registry. Created only when metrics are configured
 * (`Metrics.create`), so prom-client is not even loaded otherwise.
 */
export class Metrics {
  readonly registry: Registry;
  readonly uploadsInFlight: Gauge;
  readonly downloadsInFlight: Gauge;
  private readonly httpRequests: Counter<HttpLabels>;
  private readonly httpDuration: Histogram<HttpLabels>;
  private readonly httpBytesIn: Counter<'method' | 'route'>;
  private readonly httpBytesOut: Counter<'method' | 'route'>;
  private readonly httpIncomplete: Counter<'method' | 'route'>;
  private readonly s3Requests: Counter<S3Labels>;
  private readonly s3Duration: Histogram<S3Labels>;
  private readonly s3Retries: Counter<'operation'>;

  static async create(): Promise<Metrics> {
    return new Metrics(await import('prom-client'));
  }

  private constructor(private readonly prom: typeof import('prom-client')) {
    const registers = [(this.registry = new prom.Registry())];
    prom.collectDefaultMetrics({ register: this.registry });
    const http = ['method', 'route', 'status'] as const;
    this.httpRequests = new prom.Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route template and status code',
      labelNames: http,
      registers,
    });
    this.httpDuration = new prom.Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from the request reaching the service until its response was sent or its connection closed',
      labelNames: http,
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.httpBytesIn = new prom.Counter({
      name: 'http_request_bytes_total',
      help: 'Bytes received on the connection for these requests (headers and body)',
      labelNames: ['method', 'route'],
      registers,
    });
    this.httpBytesOut = new prom.Counter({
      name: 'http_response_bytes_total',
      help: 'Bytes sent on the connection for these responses (headers and body)',
      labelNames: ['method', 'route'],
      registers,
    });
    this.httpIncomplete = new prom.Counter({
      name: 'http_responses_incomplete_total',
      help: 'Responses whose connection closed before their last byte was sent (client gone, or transfer cut)',
      labelNames: ['method', 'route'],
      registers,
    });
    this.uploadsInFlight = new prom.Gauge({
      name: 'http_uploads_in_flight',
      help: 'File uploads being received now (PUT /files/{key}, POST /files, tus PATCH /uploads/...)',
      registers,
    });
    this.downloadsInFlight = new prom.Gauge({
      name: 'http_downloads_in_flight',
      help: 'File downloads being sent now (GET /files/{key})',
      registers,
    });
    const s3 = ['operation', 'outcome'] as const;
    this.s3Requests = new prom.Counter({
      name: 's3_requests_total',
      help: 'S3 calls by operation and outcome (success, or the storage error code), retries included in one call',
      labelNames: s3,
      registers,
    });
    this.s3Duration = new prom.Histogram({
      name: 's3_request_duration_seconds',
      help: 'Time until S3 answered a call (its headers for GetObject), retries included',
      labelNames: s3,
      buckets: S3_BUCKETS,
      registers,
    });
    this.s3Retries = new prom.Counter({
      name: 's3_retries_total',
      help: 'Attempts the AWS SDK made beyond the first, by operation',
      labelNames: ['operation'],
      registers,
    });
  }

  recordHttp(x: HttpExchange): void {
    const labels = { method: x.method, route: x.route, status: x.status };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, x.seconds);
    const byRoute = { method: x.method, route: x.route };
    this.httpBytesIn.inc(byRoute, x.bytesIn);
    this.httpBytesOut.inc(byRoute, x.bytesOut);
    if (!x.complete) {
      this.httpIncomplete.inc(byRoute);
    }
  }

  recordS3(operation: string, outcome: string, seconds: number, attempts: number): void {
    const labels = { operation, outcome };
    this.s3Requests.inc(labels);
    this.s3Duration.observe(labels, seconds);
    if (attempts > 1) {
      this.s3Retries.inc({ operation }, attempts - 1);
    } else {
      // Present at 0 from the first call, so rate() and alerts see the series before the first retry.
      this.s3Retries.inc({ operation }, 0);
    }
  }

  /**
   * `s3_credentials_expires_in_seconds{source}`, read at scrape time: seconds left (negative once expired and not
   * renewed), +Inf for long-term keys (no session token: they do not expire). Absent while unknown: before the
   * first resolution, or for a session token without an expiry (AWS_SESSION_TOKEN given as a variable).
   */
  watchCredentials(current: () => CredentialsInUse | undefined): void {
    const gauge: Gauge<'source'> = new this.prom.Gauge({
      name: 's3_credentials_expires_in_seconds',
      help: 'Seconds until the S3 credentials in use expire (+Inf: long-term keys), by where they came from',
      labelNames: ['source'],
      registers: [this.registry],
      collect() {
        gauge.reset();
        const credentials = current();
        if (credentials?.expiration) {
          gauge.set({ source: credentials.source }, (credentials.expiration.getTime() - Date.now()) / 1000);
        } else if (credentials && !credentials.sessionToken) {
          gauge.set({ source: credentials.source }, Infinity);
        }
      },
    });
  }

  /** The Prometheus text exposition of every metric. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
