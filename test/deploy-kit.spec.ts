import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { Ajv, type JSONSchemaType } from 'ajv';
import { Copy, DockerfileParser, type From, type Instruction } from 'dockerfile-ast';
import { load as loadYaml } from 'js-yaml';
import { toAppConfig } from '../src/config/app-config.js';
import { ENVIRONMENT_VARIABLES, validateEnvironment } from '../src/config/environment.js';
import { HealthController } from '../src/health/health.controller.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');
const ajv = new Ajv({ allErrors: true, strict: true });

function valid<T>(schema: JSONSchemaType<T>, data: unknown): T {
  const validate = ajv.compile(schema);
  if (!validate(data)) {
    throw new Error(ajv.errorsText(validate.errors));
  }
  return data;
}

/** What a production deployment needs beyond the kit's defaults. */
const REQUIRED = { S3_BUCKET: 'my-bucket', ALLOWED_HOSTS: 'files.example.com', API_KEYS: 'k'.repeat(32) };
const defaults = toAppConfig(validateEnvironment({ S3_BUCKET: REQUIRED.S3_BUCKET }));
const healthPath = (): string => {
  const base = String(Reflect.getMetadata(PATH_METADATA, HealthController));
  const check = HealthController.prototype.check;
  expect(Reflect.getMetadata(METHOD_METADATA, check)).toBe(0); // RequestMethod.GET
  const sub = String(Reflect.getMetadata(PATH_METADATA, check)).replace(/^\/+/, '');
  return `/${base}/${sub}`;
};

// ---------- .ebextensions ----------
type OptionSettings = Record<string, Record<string, string>>;
interface EbConfig {
  option_settings: OptionSettings;
}
const ebSchema: JSONSchemaType<EbConfig> = {
  type: 'object',
  properties: {
    option_settings: {
      type: 'object',
      propertyNames: { pattern: '^aws:[a-z0-9:-]+$' },
      required: [],
      additionalProperties: {
        type: 'object',
        required: [],
        // EB takes every option value as a string: quoted in YAML so "true" and "200" stay strings.
        additionalProperties: { type: 'string' },
      },
    },
  },
  required: ['option_settings'],
  additionalProperties: false,
};
const ebFiles = readdirSync(path.join(ROOT, '.ebextensions')).filter((f) => f.endsWith('.config'));
const options: OptionSettings = {};
for (const file of ebFiles) {
  const config = valid(ebSchema, loadYaml(read(`.ebextensions/${file}`)));
  for (const [namespace, values] of Object.entries(config.option_settings)) {
    options[namespace] = { ...options[namespace], ...values };
  }
}
const ebEnv = options['aws:elasticbeanstalk:application:environment'] ?? {};

// ---------- Dockerrun.aws.json ----------
interface DockerrunV1 {
  AWSEBDockerrunVersion: '1';
  Ports: { ContainerPort: string; HostPort?: string }[];
}
const dockerrunSchema: JSONSchemaType<DockerrunV1> = {
  type: 'object',
  properties: {
    AWSEBDockerrunVersion: { type: 'string', const: '1' },
    Ports: {
      type: 'array',
      minItems: 1,
      maxItems: 1,
      items: {
        type: 'object',
        properties: {
          ContainerPort: { type: 'string', pattern: '^[0-9]{1,5}$' },
          HostPort: { type: 'string', pattern: '^[0-9]{1,5}$', nullable: true },
        },
        required: ['ContainerPort'],
        additionalProperties: false,
      },
    },
  },
  required: ['AWSEBDockerrunVersion', 'Ports'],
  additionalProperties: false,
};

describe('deployment kit', () => {
  describe('Dockerfile', () => {
    const dockerfile = DockerfileParser.parse(read('Dockerfile'));
    const froms = dockerfile.getFROMs();
    const instructions = dockerfile.getInstructions();
    const finalFrom = froms[froms.length - 1];
    const finalStage = instructions.filter((i) => i.getRange().start.line > finalFrom.getRange().start.line);
    const args = (keyword: string, stage = finalStage) =>
      stage.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? '');
    const packageJson = JSON.parse(read('package.json')) as {
      devDependencies: Record<string, string>;
      scripts: Record<string, string>;
    };

    it('should build in several stages on the Node major the project runs on', () => {
      expect(froms.length).toBeGreaterThanOrEqual(2);
      const nodeMajor = /\d+/.exec(packageJson.devDependencies.node)?.[0];
      for (const from of froms) {
        expect(from.getImageName()).toBe('node');
        expect(from.getImageTag()).toMatch(new RegExp(`^${nodeMajor}-`));
      }
    });

    const stageInstructions = (from: From): Instruction[] => {
      const start = from.getRange().start.line;
      const next = froms.find((f) => f.getRange().start.line > start)?.getRange().start.line ?? Infinity;
      return instructions.filter((i) => i.getRange().start.line > start && i.getRange().start.line < next);
    };
    const copies = (stage: Instruction[]) => stage.filter((i): i is Copy => i instanceof Copy);

    it('should ship production dependencies only', () => {
      const modules = copies(finalStage).find((c) => /node_modules/.test(c.getArgumentsContent() ?? ''));
      const stageName = modules?.getFromFlag()?.getValue();
      const stage = froms.find((f) => f.getBuildStage() === stageName);
      expect(stage).toBeDefined();
      const install = args('RUN', stageInstructions(stage!)).find((r) => /npm (ci|install)\b/.test(r));
      expect(install).toMatch(/--omit=dev/);
      expect(args('RUN')).toEqual([]); // nothing installed or built in the final image itself
      expect(args('ENV').join(' ')).toMatch(/NODE_ENV=production/);
    });

    it('should run as a non-root user', () => {
      const users = args('USER');
      expect(users).toHaveLength(1);
      expect(users[0]).not.toMatch(/^(root|0)(:|$)/);
    });

    it('should start node directly in exec form, as start:prod does, so SIGTERM reaches it', () => {
      const cmds = dockerfile.getCMDs();
      expect(cmds).toHaveLength(1);
      const argv = cmds[0].getJSONStrings().map((s) => s.getJSONValue());
      expect(argv.length).toBeGreaterThan(0);
      expect(argv.join(' ')).toBe(packageJson.scripts['start:prod']);
      expect(args('ENTRYPOINT')).toEqual([]);
    });

    it("should expose the service's port, the one Dockerrun.aws.json and the EB environment name", () => {
      const port = String(defaults.port);
      expect(args('EXPOSE')).toEqual([port]);
      expect(args('ENV').join(' ')).toMatch(new RegExp(`PORT=${port}\\b`));
      const dockerrun = valid(dockerrunSchema, JSON.parse(read('Dockerrun.aws.json')));
      expect(dockerrun.Ports[0].ContainerPort).toBe(port);
      expect(ebEnv.PORT).toBe(port);
    });

    it('should copy only files that exist, and keep secrets and local data out of the build context', () => {
      const fromContext = copies(instructions).filter((c) => c.getFromFlag() === null);
      expect(fromContext.length).toBeGreaterThan(0);
      for (const copy of fromContext) {
        for (const source of (copy.getArgumentsContent() ?? '').split(/\s+/).slice(0, -1)) {
          expect(() => statSync(path.join(ROOT, source))).not.toThrow();
        }
      }
      const ignored = read('.dockerignore').split('\n');
      expect(ignored).toEqual(
        expect.arrayContaining(['node_modules', 'dist', '.git', '.env', '.env.*', '.local-s3', 'dev']),
      );
    });
  });

  describe('development code (dev/, s3rver) stays out of the app', () => {
    const sourceFiles = (dir: string): string[] =>
      readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => path.join(dir, f));
    /** Every module specifier of a file: static imports and re-exports, `import()` and `require()`. */
    const specifiers = (code: string): string[] =>
      [
        ...code.matchAll(
          /\bfrom\s+['"]([^'"]+)['"]|\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm,
        ),
      ].map((m) => m[1] ?? m[2] ?? m[3]);
    const isDevCode = (file: string, specifier: string): boolean =>
      /^s3rver(\/|$)/.test(specifier) ||
      (specifier.startsWith('.') &&
        path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), specifier)).startsWith('dev'));

    it('should find no import of dev/ or s3rver under src/', () => {
      const imports = sourceFiles('src').flatMap((file) =>
        specifiers(read(file)).map((specifier) => ({ file, specifier })),
      );
      expect(imports.length).toBeGreaterThan(100);
      expect(imports.filter(({ file, specifier }) => isDevCode(file, specifier))).toEqual([]);
      // The check itself: it would see the imports tests and the bench make.
      expect(isDevCode('test/support/s3-server.ts', '../../dev/s3rver/local-s3.server.ts')).toBe(true);
    });

    it('should compile no file of dev/ or s3rver into dist/, nor copy any into the image', () => {
      // Every file the build's program holds: its include set and everything those files import.
      const listed = spawnSync(
        process.execPath,
        [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--listFilesOnly', '-p', 'tsconfig.build.json'],
        { cwd: ROOT, encoding: 'utf8' },
      );
      expect(listed.status).toBe(0);
      const files = listed.stdout.split('\n').filter(Boolean);
      expect(files).toContain(path.join(ROOT, 'src/main.ts'));
      expect(files.filter((f) => f.startsWith(path.join(ROOT, 'dev/')) || /node_modules\/s3rver\//.test(f))).toEqual(
        [],
      );
      const nestCli = JSON.parse(read('nest-cli.json')) as { compilerOptions: { assets?: unknown } };
      expect(nestCli.compilerOptions.assets).toBeUndefined();
      const copied = DockerfileParser.parse(read('Dockerfile'))
        .getInstructions()
        .filter((i): i is Copy => i instanceof Copy && i.getFromFlag() === null)
        .flatMap((c) => (c.getArgumentsContent() ?? '').split(/\s+/).slice(0, -1));
      // Neither dev/ nor the whole context (`.`).
      expect(copied.filter((source) => /^(\.\/)?dev(\/|$)|^\.\/?$/.test(source))).toEqual([]);
    });
  });

  describe('.ebextensions', () => {
    it('should check the health route the service serves, on the load balancer and single instances', () => {
      expect(healthPath()).toBe('/health/');
      expect(options['aws:elasticbeanstalk:environment:process:default']).toMatchObject({
        HealthCheckPath: healthPath(),
        MatcherHTTPCode: '200',
      });
      expect(options['aws:elasticbeanstalk:application']['Application Healthcheck URL']).toBe(healthPath());
    });

    it('should turn on enhanced health, log streaming, rolling deployments and IMDSv2 only', () => {
      expect(options).toMatchObject({
        'aws:elasticbeanstalk:healthreporting:system': { SystemType: 'enhanced' },
        'aws:elasticbeanstalk:cloudwatch:logs': { StreamLogs: 'true' },
        'aws:elasticbeanstalk:command': { DeploymentPolicy: 'Rolling' },
        'aws:autoscaling:updatepolicy:rollingupdate': { RollingUpdateEnabled: 'true', RollingUpdateType: 'Health' },
        'aws:autoscaling:launchconfiguration': { DisableIMDSv1: 'true' },
      });
    });

    it('should set environment defaults the service knows and accepts', () => {
      for (const name of Object.keys(ebEnv)) {
        expect(ENVIRONMENT_VARIABLES).toContain(name);
      }
      const config = toAppConfig(validateEnvironment({ ...ebEnv, ...REQUIRED }));
      expect(config).toMatchObject({
        production: true,
        allowedHostsFromEc2: true,
        trustProxy: 'loopback, uniquelocal',
        // Neither EB's nginx nor the load balancer sets X-Forwarded-Host: a client-written one must not count.
        useForwardedHost: false,
        docs: 'off',
      });
      // The health check must answer well before the load balancer gives up on it.
      expect(Number(options['aws:elasticbeanstalk:environment:process:default'].HealthCheckTimeout)).toBeGreaterThan(2);
    });
  });

  describe('.platform', () => {
    const directives = new Map(
      read('.platform/nginx/conf.d/uploads.conf')
        .split('\n')
        .map((line) => line.replace(/#.*/, '').trim())
        .filter(Boolean)
        .map((line) => {
          expect(line).toMatch(/^[a-z_]+\s+[^;]+;$/);
          const [name, ...value] = line.slice(0, -1).split(/\s+/);
          return [name, value.join(' ')] as const;
        }),
    );

    it("should raise nginx's body limit to MAX_UPLOAD_BYTES (plus the multipart envelope) and stream uploads", () => {
      const maxUpload = Number(ebEnv.MAX_UPLOAD_BYTES ?? defaults.uploads.maxBytes);
      const limit = Number(directives.get('client_max_body_size'));
      expect(limit).toBeGreaterThanOrEqual(maxUpload);
      expect(limit).toBeLessThanOrEqual(maxUpload + 1024 * 1024);
      expect(directives.get('proxy_request_buffering')).toBe('off');
    });

    it("should cut idle request bodies in nginx after the service's UPLOAD_IDLE_TIMEOUT_MS", () => {
      const idleMs = Number(ebEnv.UPLOAD_IDLE_TIMEOUT_MS ?? defaults.uploads.idleTimeoutMs);
      expect(directives.get('client_body_timeout')).toBe(`${idleMs / 1000}s`);
    });

    it('should have an executable, valid hook that sets the IMDSv2 hop limit to 2', () => {
      const hook = '.platform/hooks/prebuild/01-imds-hop-limit.sh';
      expect(statSync(path.join(ROOT, hook)).mode & 0o111).toBe(0o111);
      const script = read(hook);
      expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true);
      expect(script).toMatch(/set -euo pipefail/);
      expect(spawnSync('bash', ['-n', path.join(ROOT, hook)]).status).toBe(0);
      expect(script).toMatch(
        /modify-instance-metadata-options[^\n]*\\\n[^\n]*--http-tokens required --http-put-response-hop-limit 2/,
      );
    });
  });

  describe('.env.example', () => {
    const entries = [...read('.env.example').matchAll(/^# ?([A-Z][A-Z0-9_]*)=(.*)$/gm)].map(([, name, value]) => ({
      name,
      value,
    }));

    it('should document every variable of the schema, and nothing else', () => {
      const names = entries.map((e) => e.name);
      expect(new Set(names).size).toBe(names.length);
      expect([...names].sort()).toEqual([...ENVIRONMENT_VARIABLES].sort());
    });

    it('should hold values the service accepts, and no real-looking secret', () => {
      const env = Object.fromEntries(entries.map((e) => [e.name, e.value]));
      expect(() => validateEnvironment(env)).not.toThrow();
      for (const name of [
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_SESSION_TOKEN',
        'API_KEYS',
        'API_KEYS_READONLY',
        'CURSOR_SECRET',
        'UPLOAD_SESSION_SECRET',
      ]) {
        expect(env[name]).toMatch(/^replace-with-/);
      }
    });
  });

  describe('deploy/iam-policy.json', () => {
    interface Statement {
      Sid: string;
      Effect: 'Allow';
      Action: string[];
      Resource: string | string[];
      Condition?: Record<string, Record<string, string>>;
    }
    interface Policy {
      Version: '2012-10-17';
      Statement: Statement[];
    }
    const policySchema: JSONSchemaType<Policy> = {
      type: 'object',
      properties: {
        Version: { type: 'string', const: '2012-10-17' },
        Statement: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            properties: {
              Sid: { type: 'string', pattern: '^[A-Za-z0-9]+$' },
              Effect: { type: 'string', const: 'Allow' },
              Action: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[a-z0-9-]+:[A-Za-z]+\\*?$' } },
              Resource: {
                oneOf: [
                  { type: 'string', pattern: '^(\\*|arn:aws:.+)$' },
                  { type: 'array', minItems: 1, items: { type: 'string', pattern: '^arn:aws:.+$' } },
                ],
              } as never,
              Condition: {
                type: 'object',
                nullable: true,
                required: [],
                additionalProperties: { type: 'object', required: [], additionalProperties: { type: 'string' } },
              },
            },
            required: ['Sid', 'Effect', 'Action', 'Resource'],
            additionalProperties: false,
          },
        },
      },
      required: ['Version', 'Statement'],
      additionalProperties: false,
    };
    const policy = valid(policySchema, JSON.parse(read('deploy/iam-policy.json')));
    const resources = (s: Statement) => [s.Resource].flat();

    /** The IAM action each SDK call needs (S3 API reference, "Permissions"). */
    const IAM_ACTIONS: Record<string, string[]> = {
      HeadBucketCommand: ['s3:ListBucket'],
      ListObjectsV2Command: ['s3:ListBucket'],
      ListObjectsCommand: ['s3:ListBucket'],
      GetObjectCommand: ['s3:GetObject'],
      HeadObjectCommand: ['s3:GetObject'],
      PutObjectCommand: ['s3:PutObject'],
      CopyObjectCommand: ['s3:GetObject', 's3:PutObject'],
      CreateMultipartUploadCommand: ['s3:PutObject'],
      UploadPartCommand: ['s3:PutObject'],
      CompleteMultipartUploadCommand: ['s3:PutObject'],
      AbortMultipartUploadCommand: ['s3:AbortMultipartUpload'],
      DeleteObjectCommand: ['s3:DeleteObject'],
      DeleteObjectsCommand: ['s3:DeleteObject'],
      ListMultipartUploadsCommand: ['s3:ListBucketMultipartUploads'],
      ListPartsCommand: ['s3:ListMultipartUploadParts'],
      // lib-storage: PutObject or the multipart calls, and AbortMultipartUpload on failure (leavePartsOnError: false).
      Upload: ['s3:PutObject', 's3:AbortMultipartUpload'],
      createPresignedPost: ['s3:PutObject'],
    };

    it('should grant on the bucket exactly the S3 actions the storage module calls', () => {
      const storageDir = path.join(ROOT, 'src/storage');
      const code = readdirSync(storageDir)
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
        .map((f) => readFileSync(path.join(storageDir, f), 'utf8'))
        .join('\n');
      const calls = new Set([
        ...[...code.matchAll(/new (\w+Command)\(/g)].map((m) => m[1]),
        ...[...code.matchAll(/new (Upload)\(/g)].map((m) => m[1]),
        ...[...code.matchAll(/\b(createPresignedPost)\(/g)].map((m) => m[1]),
      ]);
      expect(calls.size).toBeGreaterThan(0);
      const unmapped = [...calls].filter((c) => IAM_ACTIONS[c] === undefined);
      expect(unmapped).toEqual([]); // add the call's IAM action to IAM_ACTIONS and to the policy
      const needed = new Set([...calls].flatMap((c) => IAM_ACTIONS[c]));

      const onBucket = policy.Statement.filter((s) => resources(s).some((r) => r.includes(':::BUCKET_NAME')));
      const granted = onBucket.flatMap((s) => s.Action);
      expect([...new Set(granted)].sort()).toEqual([...needed].sort());
      expect(granted).toHaveLength(new Set(granted).size);
      for (const statement of onBucket) {
        const bucketLevel = statement.Action.every((a) => a === 's3:ListBucket' || a.startsWith('s3:ListBucket'));
        expect(resources(statement)).toEqual([bucketLevel ? 'arn:aws:s3:::BUCKET_NAME' : 'arn:aws:s3:::BUCKET_NAME/*']);
      }
    });

    it('should give the instance what Elastic Beanstalk and the hop-limit hook need, and no wildcard action', () => {
      const actions = policy.Statement.flatMap((s) => s.Action);
      expect(actions).toEqual(
        expect.arrayContaining([
          'cloudwatch:PutMetricData',
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'ec2:DescribeInstances',
          'elasticloadbalancing:DescribeTargetHealth',
          'ec2:ModifyInstanceMetadataOptions',
        ]),
      );
      expect(actions.filter((a) => a.endsWith('*'))).toEqual([]);
      const hop = policy.Statement.find((s) => s.Action.includes('ec2:ModifyInstanceMetadataOptions'))!;
      expect(hop.Resource).not.toBe('*');
      expect(hop.Condition).toBeDefined();
    });
  });
});
