import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as swagger from '@nestjs/swagger';
import { ApiProperty, ApiPropertyOptional, ApiResponse, ApiTags, loadSwagger } from './swagger-decorators.js';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KEYS = Object.values(swagger.DECORATORS);

/** Every Swagger metadata entry of a class, its prototype's properties and its methods. */
function swaggerMetadata(type: new () => object): Record<string, unknown> {
  const found: Record<string, unknown> = {};
  const targets: [string, object, string?][] = [
    ['class', type],
    ['prototype', type.prototype],
  ];
  for (const name of Object.getOwnPropertyNames(type.prototype).filter((n) => n !== 'constructor')) {
    targets.push([`method ${name}`, (type.prototype as Record<string, object>)[name]]);
  }
  for (const name of ['size', 'note']) {
    targets.push([`property ${name}`, type.prototype, name]);
  }
  for (const [label, target, key] of targets) {
    for (const metadataKey of KEYS) {
      const value: unknown = key
        ? Reflect.getMetadata(metadataKey, target, key)
        : Reflect.getOwnMetadata(metadataKey, target);
      if (value !== undefined) {
        found[`${label} ${metadataKey}`] = value;
      }
    }
  }
  return found;
}

describe('deferred Swagger decorators', () => {
  it('should record nothing until the document is built, then what the real decorators record', async () => {
    @ApiTags('things')
    class Deferred {
      @ApiProperty({ type: 'integer', description: 'Size in bytes.' })
      size!: number;

      @ApiPropertyOptional({ description: 'A note.' })
      note?: string;

      @ApiResponse({ status: 200, description: 'OK.' })
      @ApiResponse({ status: 404, description: 'None.' })
      find(): void {}
    }
    @swagger.ApiTags('things')
    class Direct {
      @swagger.ApiProperty({ type: 'integer', description: 'Size in bytes.' })
      size!: number;

      @swagger.ApiPropertyOptional({ description: 'A note.' })
      note?: string;

      @swagger.ApiResponse({ status: 200, description: 'OK.' })
      @swagger.ApiResponse({ status: 404, description: 'None.' })
      find(): void {}
    }
    expect(swaggerMetadata(Deferred)).toEqual({});

    await loadSwagger();

    expect(Object.keys(swaggerMetadata(Direct))).toHaveLength(5);
    expect(swaggerMetadata(Deferred)).toEqual(swaggerMetadata(Direct));
    // Once: building the document again adds nothing (the properties array would list them twice).
    await loadSwagger();
    expect(swaggerMetadata(Deferred)).toEqual(swaggerMetadata(Direct));
  });

  it('should leave @nestjs/swagger out of every module the service loads at boot', () => {
    const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter(
      (file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'),
    );
    const loading = files.filter((file) => {
      const text = readFileSync(path.join(SRC, file), 'utf8');
      // A value import (not `import type`), or Terminus's @HealthCheck() documenting itself (it require()s Swagger).
      return /^import (?!type )[^;]*from '@nestjs\/swagger'/m.test(text) || /^\s*@HealthCheck\(/m.test(text);
    });
    expect(loading).toEqual([]);
    // The compiler plugin would add `import * as openapi from "@nestjs/swagger"` to every controller it compiles.
    const nestCli = JSON.parse(readFileSync(path.join(SRC, '..', 'nest-cli.json'), 'utf8')) as {
      compilerOptions: { plugins?: unknown[] };
    };
    expect(nestCli.compilerOptions.plugins ?? []).toEqual([]);
  });
});
