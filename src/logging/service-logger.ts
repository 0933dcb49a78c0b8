import { Injectable } from '@nestjs/common';
import { Logger } from 'nestjs-pino';

/** Nest's own boot lines: a line per module loaded and per route mapped. */
const FRAMEWORK_CONTEXTS = new Set([
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestFactory',
  'NestApplication',
]);

/** The app's logger with Nest's boot chatter at debug, so that at info the boot log is the service's own lines. */
@Injectable()
export class ServiceLogger extends Logger {
  override log(message: unknown, ...rest: unknown[]): void {
    const context = rest.at(-1);
    if (typeof context === 'string' && FRAMEWORK_CONTEXTS.has(context)) {
      this.debug(message, ...rest);
    } else {
      super.log(message, ...rest);
    }
  }
}
