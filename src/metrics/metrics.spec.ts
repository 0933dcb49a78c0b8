import { Metrics, type CredentialsInUse } from './metrics.js';

const expiry = async (metrics: Metrics): Promise<string | undefined> =>
  /^s3_credentials_expires_in_seconds\{source="test"\} (\S+)$/m.exec((await metrics.exposition()).body)?.[1];

describe(Metrics.name, () => {
  describe('s3_credentials_expires_in_seconds', () => {
    it('should say the seconds left on credentials with an expiry, read at scrape time', async () => {
      const metrics = await Metrics.create();
      let expiration = new Date(Date.now() + 3600_000);
      metrics.watchCredentials(() => ({ source: 'test', expiration, sessionToken: 't' }));
      expect(Number(await expiry(metrics))).toBeGreaterThan(3590);
      expect(Number(await expiry(metrics))).toBeLessThanOrEqual(3600);
      expiration = new Date(Date.now() - 60_000);
      expect(Number(await expiry(metrics))).toBeLessThan(-59);
    });

    it('should say +Inf for long-term keys, and nothing while unknown', async () => {
      let current: CredentialsInUse | undefined;
      const metrics = await Metrics.create();
      metrics.watchCredentials(() => current);
      expect((await metrics.exposition()).body).not.toMatch(/^s3_credentials_expires_in_seconds/m);
      current = { source: 'test' };
      expect(await expiry(metrics)).toBe('+Inf');
      current = { source: 'test', sessionToken: 'from AWS_SESSION_TOKEN, expiry unknown' };
      expect((await metrics.exposition()).body).not.toMatch(/^s3_credentials_expires_in_seconds/m);
    });
  });

  it('should count retries as attempts beyond the first, and show the series from the first call', async () => {
    const metrics = await Metrics.create();
    metrics.recordS3('GetObject', 'success', 0.01, 1);
    metrics.recordS3('PutObject', 'Unavailable', 0.5, 3);
    const { body } = await metrics.exposition();
    expect(body).toContain('s3_retries_total{operation="GetObject"} 0');
    expect(body).toContain('s3_retries_total{operation="PutObject"} 2');
    expect(body).toContain('s3_requests_total{operation="PutObject",outcome="Unavailable"} 1');
  });

  it('should expose cumulative histogram buckets, sums and counts, and bytes summed by method and route', async () => {
    const metrics = await Metrics.create();
    const exchange = { method: 'GET', route: '/files/{key}', bytesIn: 100, bytesOut: 5000, complete: true };
    metrics.recordHttp({ ...exchange, status: 200, seconds: 0.003 });
    metrics.recordHttp({ ...exchange, status: 200, seconds: 0.02 });
    metrics.recordHttp({ ...exchange, status: 200, seconds: 1000 });
    metrics.recordHttp({ ...exchange, status: 404, seconds: 0.001, complete: false });
    const { body } = await metrics.exposition();
    const labels = 'method="GET",route="/files/{key}",status="200"';
    expect(body).toContain(`http_requests_total{${labels}} 3`);
    expect(body).toContain(`http_request_duration_seconds_bucket{${labels},le="0.005"} 1`);
    expect(body).toContain(`http_request_duration_seconds_bucket{${labels},le="0.025"} 2`);
    expect(body).toContain(`http_request_duration_seconds_bucket{${labels},le="300"} 2`);
    expect(body).toContain(`http_request_duration_seconds_bucket{${labels},le="+Inf"} 3`);
    expect(body).toContain(`http_request_duration_seconds_sum{${labels}} 1000.023`);
    expect(body).toContain(`http_request_duration_seconds_count{${labels}} 3`);
    expect(body).toContain('http_request_bytes_total{method="GET",route="/files/{key}"} 400');
    expect(body).toContain('http_response_bytes_total{method="GET",route="/files/{key}"} 20000');
    expect(body).toContain('http_responses_incomplete_total{method="GET",route="/files/{key}"} 1');
    expect(body).toMatch(/^# TYPE http_request_duration_seconds histogram$/m);
    expect(body).toMatch(/^# TYPE http_uploads_in_flight gauge$/m);
  });
});
