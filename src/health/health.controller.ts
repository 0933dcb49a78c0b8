import { applyDecorators, Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import { ApiTags, withSwagger } from '../openapi/swagger-decorators.js';
import type { Response } from 'express';
import { ApiPublic } from '../openapi/api-responses.js';
import { Public } from '../security/access.decorators.js';
import { StorageHealthIndicator } from '../storage/storage.health.js';
import { GracefulShutdown } from './graceful-shutdown.js';

/** Terminus's `@HealthCheck()`, its documentation deferred (it loads `@nestjs/swagger`, see swagger-decorators.ts). */
const HealthCheckRoute = () =>
  applyDecorators(
    HealthCheck({ noCache: true, swaggerDocumentation: false }),
    withSwagger(() => HealthCheck({ noCache: false, swaggerDocumentation: true })),
  );

/** EB's health check (`/health/`) and a process-only liveness probe. No API key; the Host check applies. */
@Public()
@ApiTags('health')
@ApiPublic()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly storage: StorageHealthIndicator,
    private readonly shutdown: GracefulShutdown,
  ) {}

  /** 200 while the process serves and the bucket answers; 503 (never 500) otherwise or while shutting down. */
  @Get()
  @HealthCheckRoute()
  check(@Res({ passthrough: true }) res: Response): Promise<HealthCheckResult> {
    return this.run(res, [() => this.process(), () => this.storage.check()]);
  }

  /** 200 while the process serves; S3 is not asked. */
  @Get('live')
  @HealthCheckRoute()
  live(@Res({ passthrough: true }) res: Response): Promise<HealthCheckResult> {
    return this.run(res, [() => this.process()]);
  }

  private process() {
    const process = this.indicators.check('process');
    return this.shutdown.isDraining ? process.down({ message: 'shutting down' }) : process.up();
  }

  /** Terminus reports failure as an exception; answer it with its own JSON (details included) and 503. */
  private async run(res: Response, checks: Parameters<HealthCheckService['check']>[0]): Promise<HealthCheckResult> {
    res.setHeader('Cache-Control', 'no-store');
    try {
      return await this.health.check(checks);
    } catch (error) {
      if (error instanceof ServiceUnavailableException) {
        res.status(503);
        return error.getResponse() as HealthCheckResult;
      }
      throw error;
    }
  }
}
