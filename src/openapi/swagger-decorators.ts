import type * as Swagger from '@nestjs/swagger';

type SwaggerModule = typeof Swagger;
type DecoratorFactory = (...args: unknown[]) => MethodDecorator;

/** The decorations made so far, in the order TypeScript made them, waiting for `@nestjs/swagger`. */
const recorded: ((swagger: SwaggerModule) => void)[] = [];

/**
 * A decorator made and applied, in the same order, when the document is first built: importing `@nestjs/swagger`
 * costs about 10 MiB of RSS that a service with `DOCS=off` (the production default) never uses. Also for another
 * library's decorator that loads it (Terminus's `@HealthCheck()`).
 */
export function withSwagger(make: (swagger: SwaggerModule) => MethodDecorator): MethodDecorator {
  // The decorator returns nothing: a value returned would replace the class or the method.
  return (target, key, descriptor) => {
    recorded.push((swagger) => make(swagger)(target, key, descriptor));
  };
}

/** `@nestjs/swagger`'s decorator of this name, deferred by `withSwagger`. */
const deferred = <N extends keyof SwaggerModule>(name: N): SwaggerModule[N] =>
  ((...args: unknown[]) =>
    withSwagger((swagger) => (swagger[name] as DecoratorFactory)(...args))) as unknown as SwaggerModule[N];

/** Loads `@nestjs/swagger` and applies the decorations recorded so far (each once). */
export async function loadSwagger(): Promise<SwaggerModule> {
  const swagger = await import('@nestjs/swagger');
  for (const apply of recorded.splice(0)) {
    apply(swagger);
  }
  return swagger;
}

export const ApiBearerAuth = deferred('ApiBearerAuth');
export const ApiBody = deferred('ApiBody');
export const ApiConsumes = deferred('ApiConsumes');
export const ApiExcludeController = deferred('ApiExcludeController');
export const ApiHeader = deferred('ApiHeader');
export const ApiOperation = deferred('ApiOperation');
export const ApiParam = deferred('ApiParam');
export const ApiProperty = deferred('ApiProperty');
export const ApiPropertyOptional = deferred('ApiPropertyOptional');
export const ApiQuery = deferred('ApiQuery');
export const ApiResponse = deferred('ApiResponse');
export const ApiSecurity = deferred('ApiSecurity');
export const ApiTags = deferred('ApiTags');
