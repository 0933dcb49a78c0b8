import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { Ajv, type JSONSchemaType } from 'ajv';
import { Copy, DockerfileParser, type From, type Instruction } from 'dockerfile-ast';
import { load as loadYaml } from 'js-yaml';
import { productionStart } from '../dev/service-process.ts';
import { toAppConfig } from '../src/config/app-config.js';
import { ENVIRONMENT_VARIABLES, validateEnvironment } from '../src/config/environment.js';
import { HealthController } from '../src/health/health.controller.js';
import { METRICS_PATH } from '../src/metrics/metrics-endpoint.js';
import { Metrics } from '../src/metrics/metrics.js';

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
/** CloudFormation resources a config file adds or overrides (checked where they are used). */
type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
interface EbConfig {
  option_settings: OptionSettings;
  Resources?: Resources;
}
const ebSchema: JSONSchemaType<EbConfig> = {
  type: 'object',
  properties: {
    Resources: {
      type: 'object',
      nullable: true,
      required: [],
      additionalProperties: {
        type: 'object',
        properties: {
          Type: { type: 'string', pattern: '^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$' },
          Properties: { type: 'object', required: [] },
        },
        required: ['Type', 'Properties'],
        additionalProperties: false,
      },
    },
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
const ebResources: Resources = {};
for (const file of ebFiles) {
  const config = valid(ebSchema, loadYaml(read(`.ebextensions/${file}`)));
  for (const [namespace, values] of Object.entries(config.option_settings)) {
    options[namespace] = { ...options[namespace], ...values };
  }
  Object.assign(ebResources, config.Resources);
}
const ebEnv = options['aws:elasticbeanstalk:application:environment'] ?? {};

// ---------- .elasticbeanstalk/saved_configs (eb create --cfg) ----------
interface SavedConfig {
  EnvironmentConfigurationMetadata: { Description: string };
  EnvironmentTier: { Type: 'Standard'; Name: 'WebServer' };
  AWSConfigurationTemplateVersion: '1.1.0.0';
  OptionSettings: OptionSettings;
}
const savedConfigSchema: JSONSchemaType<SavedConfig> = {
  type: 'object',
  properties: {
    EnvironmentConfigurationMetadata: {
      type: 'object',
      properties: { Description: { type: 'string', minLength: 1 } },
      required: ['Description'],
      additionalProperties: false,
    },
    EnvironmentTier: {
      type: 'object',
      properties: { Type: { type: 'string', const: 'Standard' }, Name: { type: 'string', const: 'WebServer' } },
      required: ['Type', 'Name'],
      additionalProperties: false,
    },
    AWSConfigurationTemplateVersion: { type: 'string', const: '1.1.0.0' },
    OptionSettings: ebSchema.properties!.option_settings as never,
  },
  required: [
    'EnvironmentConfigurationMetadata',
    'EnvironmentTier',
    'AWSConfigurationTemplateVersion',
    'OptionSettings',
  ],
  additionalProperties: false,
};
const SAVED_CONFIG = 's3-file-service';
const savedConfig = valid(
  savedConfigSchema,
  loadYaml(read(`.elasticbeanstalk/saved_configs/${SAVED_CONFIG}.cfg.yml`)),
).OptionSettings;
/** A directive of the kit's nginx configuration (.platform/nginx/conf.d/uploads.conf). */
const nginxDirective = (name: string): string | undefined =>
  new RegExp(`^\\s*${name}\\s+([^;#]+);`, 'm').exec(read('.platform/nginx/conf.d/uploads.conf'))?.[1].trim();
/** The walkthrough (docs/elastic-beanstalk.md), where the EB CLI commands are. */
const walkthrough = (): string => read('docs/elastic-beanstalk.md');

// ---------- Dockerrun.aws.json ----------
interface DockerrunV1 {
  AWSEBDockerrunVersion: '1';
  /** Only in the prebuilt-image bundle (deploy/prebuilt/): the image EB pulls instead of building the Dockerfile. */
  Image?: { Name: string; Update: 'true' | 'false' };
  Ports: { ContainerPort: string; HostPort?: string }[];
}
const dockerrunSchema: JSONSchemaType<DockerrunV1> = {
  type: 'object',
  properties: {
    AWSEBDockerrunVersion: { type: 'string', const: '1' },
    Image: {
      type: 'object',
      nullable: true,
      properties: { Name: { type: 'string', minLength: 1 }, Update: { type: 'string', enum: ['true', 'false'] } },
      required: ['Name', 'Update'],
      additionalProperties: false,
    },
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

    it("should build in several stages on the Node major the project runs on, from ECR Public's mirror", () => {
      expect(froms.length).toBeGreaterThanOrEqual(2);
      const nodeMajor = /\d+/.exec(packageJson.devDependencies.node)?.[0];
      for (const from of froms) {
        // Docker's official image, from Amazon ECR Public: no Docker Hub pull-rate limit on every new instance.
        expect(from.getRegistry()).toBe('public.ecr.aws');
        expect(from.getImageName()).toBe('docker/library/node');
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

    it('should need no BuildKit frontend from Docker Hub, and be built for x86 instances when prebuilt', () => {
      // A `# syntax=` parser directive makes every on-instance build pull a frontend image from Docker Hub.
      expect(read('Dockerfile')).not.toMatch(/^#\s*syntax\s*=/im);
      expect(dockerfile.getDirectives()).toEqual([]);
      const build = /^docker buildx build [^\n]*$/m.exec(walkthrough())?.[0];
      expect(build).toMatch(/ --platform linux\/amd64 /);
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
      const production = productionStart();
      expect(argv).toEqual(['node', ...production.nodeOptions, 'dist/main.js']);
      // start:prod's environment (MALLOC_ARENA_MAX) is the image's too.
      expect(Object.keys(production.env)).not.toHaveLength(0);
      for (const [name, value] of Object.entries(production.env)) {
        expect(args('ENV').join(' ')).toMatch(new RegExp(`\\b${name}=${value}\\b`));
      }
      expect(args('ENTRYPOINT')).toEqual([]);
    });

    it("should expose the service's port, the one Dockerrun.aws.json and the EB environment name", () => {
      const port = String(defaults.port);
      expect(args('EXPOSE')).toEqual([port]);
      expect(args('ENV').join(' ')).toMatch(new RegExp(`PORT=${port}\\b`));
      const dockerrun = valid(dockerrunSchema, JSON.parse(read('Dockerrun.aws.json')));
      expect(dockerrun.Ports[0].ContainerPort).toBe(port);
      expect(dockerrun.Image).toBeUndefined(); // the source bundle builds the Dockerfile
      expect(ebEnv.PORT).toBe(port);
      const prebuilt = valid(dockerrunSchema, JSON.parse(read('deploy/prebuilt/Dockerrun.aws.json')));
      expect(prebuilt.Ports).toEqual(dockerrun.Ports);
      expect(prebuilt.Image?.Name).toBe('IMAGE_URI'); // the walkthrough's sed puts the pushed image there
      expect(read('docs/elastic-beanstalk.md')).toContain(
        `sed "s|IMAGE_URI|$image|" deploy/prebuilt/Dockerrun.aws.json`,
      );
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
    it('should check the health route the service serves, on the load balancer', () => {
      expect(healthPath()).toBe('/health/');
      expect(options['aws:elasticbeanstalk:environment:process:default']).toMatchObject({
        HealthCheckPath: healthPath(),
        MatcherHTTPCode: '200',
      });
      // Ignored by both single-instance environments and Application Load Balancers: not set at all.
      expect(options['aws:elasticbeanstalk:application']).toBeUndefined();
    });

    it('should turn on enhanced health, log streaming and IMDSv2 only', () => {
      expect(options).toMatchObject({
        'aws:elasticbeanstalk:healthreporting:system': { SystemType: 'enhanced' },
        'aws:elasticbeanstalk:cloudwatch:logs': { StreamLogs: 'true' },
        'aws:autoscaling:launchconfiguration': { DisableIMDSv1: 'true' },
      });
    });

    it('should deploy and replace instances without taking capacity away, even from a single instance', () => {
      // Rolling (or AllAtOnce) with one instance takes that instance out of service: downtime.
      expect(options['aws:elasticbeanstalk:command']).toEqual({
        DeploymentPolicy: 'RollingWithAdditionalBatch',
        BatchSizeType: 'Fixed',
        BatchSize: '1',
      });
      // Instance replacement (new instance profile, instance type): new instances are healthy before old ones go.
      expect(options['aws:autoscaling:updatepolicy:rollingupdate']).toEqual({
        RollingUpdateEnabled: 'true',
        RollingUpdateType: 'Immutable',
      });
    });

    it("should leave the application's 4xx out of enhanced health, in the rules document's documented shape", () => {
      for (const settings of [options, savedConfig]) {
        const health = settings['aws:elasticbeanstalk:healthreporting:system'];
        expect(Object.keys(health).sort()).toEqual(['ConfigDocument', 'SystemType']);
        // AWS, "Configuring enhanced health rules": Version 1, Rules.Environment.Application.ApplicationRequests4xx.
        expect(JSON.parse(health.ConfigDocument)).toEqual({
          Version: 1,
          Rules: { Environment: { Application: { ApplicationRequests4xx: { Enabled: false } } } },
        });
      }
    });

    it("should be an Application Load Balancer whose idle timeout matches nginx's proxy timeouts", () => {
      for (const settings of [options, savedConfig]) {
        expect(settings['aws:elasticbeanstalk:environment']).toEqual({ LoadBalancerType: 'application' });
        const idle = Number(settings['aws:elbv2:loadbalancer'].IdleTimeout);
        // The longest silence the service allows itself behind nginx: the load balancer must not cut it sooner.
        expect(`${idle}s`).toBe(nginxDirective('proxy_read_timeout'));
        expect(`${idle}s`).toBe(nginxDirective('proxy_send_timeout'));
        expect(idle).toBeGreaterThan(60); // the default, which cut silent copies and big completes
        // nginx keeps an idle connection from the load balancer open longer than the load balancer does.
        expect(Number(/^(\d+)s$/.exec(nginxDirective('keepalive_timeout') ?? '')?.[1])).toBeGreaterThan(idle);
        expect(idle).toBeLessThanOrEqual(4000); // the ALB's maximum
      }
      expect(walkthrough()).toMatch(/eb create [^\n]*--elb-type application/);
    });

    describe('saved configuration (eb create --cfg)', () => {
      /** What `eb create` without --cfg sets directly on the environment (EB CLI, add_client_defaults). */
      const CLIENT_DEFAULTS: Record<string, string[]> = {
        'aws:elasticbeanstalk:command': ['BatchSize', 'BatchSizeType'],
        'aws:autoscaling:updatepolicy:rollingupdate': ['RollingUpdateEnabled', 'RollingUpdateType'],
        'aws:elasticbeanstalk:healthreporting:system': ['SystemType'],
      };

      it("should hold every option the EB CLI's client defaults would otherwise override, as .ebextensions sets it", () => {
        for (const [namespace, names] of Object.entries(CLIENT_DEFAULTS)) {
          for (const name of names) {
            expect({ namespace, name, value: savedConfig[namespace]?.[name] }).toEqual({
              namespace,
              name,
              value: options[namespace][name],
            });
          }
        }
        expect(savedConfig['aws:elasticbeanstalk:command'].DeploymentPolicy).toBe('RollingWithAdditionalBatch');
        // Everything in it agrees with .ebextensions, so an environment made without it behaves the same.
        for (const [namespace, values] of Object.entries(savedConfig)) {
          expect(options[namespace]).toMatchObject(values);
        }
      });

      it('should hold no environment property (secrets never go into a committed file)', () => {
        expect(savedConfig['aws:elasticbeanstalk:application:environment']).toBeUndefined();
      });

      it('should be used by the walkthrough, with everything the first boot needs passed at creation', () => {
        const create = /^\s*eb create (?:[^\n]*\\\n)*[^\n]*/m.exec(walkthrough())?.[0] ?? '';
        expect(create).toContain(`--cfg ${SAVED_CONFIG}`);
        // .ebextensions sets NODE_ENV=production: without these the container exits at its first boot.
        const envvars = /--envvars "([^"]+)"/.exec(create)?.[1] ?? '';
        const names = envvars.split(',').map((pair) => pair.split('=')[0].trim());
        // The key comes from `npm run -s keygen` (it prints API_KEYS=<key>) through a shell variable.
        const keyVariable = /^\s*(\w+)=\$\(npm run -s keygen\)/m.exec(walkthrough())?.[1];
        expect(names).toEqual(expect.arrayContaining(['S3_BUCKET', 'ALLOWED_HOSTS', `$${keyVariable}`]));
        // `eb create --envvars` splits on commas: a list value must use spaces.
        const allowedHosts = envvars.split(',').find((pair) => pair.trim().startsWith('ALLOWED_HOSTS='));
        expect(allowedHosts).toMatch(/^\s*ALLOWED_HOSTS=\S+( \S+)+$/);
        expect(walkthrough()).toMatch(/4,096 bytes/);
      });
    });

    it('should listen with HTTPS on 443 and redirect port 80 to it at the load balancer', () => {
      expect(options['aws:elbv2:listener:443']).toEqual({
        ListenerEnabled: 'true',
        Protocol: 'HTTPS',
        // The placeholder the walkthrough replaces, or a real ACM certificate: one ARN, not a list left empty.
        SSLCertificateArns: expect.stringMatching(/^arn:aws:acm:[a-zA-Z0-9-_]+:[A-Z0-9_]+:certificate\/[\w-]+$/),
        SSLPolicy: expect.stringMatching(/^ELBSecurityPolicy-TLS13-1-2-/),
      });
      // EB's own port-80 listener resource, overridden (AWS's sample alb-http-to-https-redirection.config).
      expect(ebResources.AWSEBV2LoadBalancerListener).toEqual({
        Type: 'AWS::ElasticLoadBalancingV2::Listener',
        Properties: {
          LoadBalancerArn: { Ref: 'AWSEBV2LoadBalancer' },
          Port: 80,
          Protocol: 'HTTP',
          DefaultActions: [
            {
              Type: 'redirect',
              RedirectConfig: {
                Protocol: 'HTTPS',
                Port: '443',
                Host: '#{host}',
                Path: '/#{path}',
                Query: '#{query}',
                StatusCode: 'HTTP_301',
              },
            },
          ],
        },
      });
      expect(options['aws:elbv2:listener:default']?.ListenerEnabled).not.toBe('false');
      // The placeholder the walkthrough's sed replaces, or (once replaced) one real ACM certificate ARN.
      const placeholder = 'arn:aws:acm:REGION:ACCOUNT_ID:certificate/CERTIFICATE_ID';
      expect(read('docs/elastic-beanstalk.md')).toContain(`sed -i 's|${placeholder}|`);
      const certificate = options['aws:elbv2:listener:443'].SSLCertificateArns;
      const real = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/;
      expect(certificate === placeholder || real.test(certificate)).toBe(true);
    });

    it('should set environment defaults the service knows and accepts', () => {
      for (const name of Object.keys(ebEnv)) {
        expect(ENVIRONMENT_VARIABLES).toContain(name);
      }
      const config = toAppConfig(validateEnvironment({ ...ebEnv, ...REQUIRED }));
      expect(config).toMatchObject({
        production: true,
        allowedHostsFromEc2: true,
        trustProxy: ['loopback', 'uniquelocal'],
        // Neither EB's nginx nor the load balancer sets X-Forwarded-Host: a client-written one must not count.
        useForwardedHost: false,
        docs: 'off',
      });
      // EB's documented character set for environment properties has no comma: lists are separated by spaces.
      expect(Object.values(ebEnv).filter((value) => value.includes(','))).toEqual([]);
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

    it("should cut idle request bodies in nginx after the service's idle body timeout", () => {
      const idleMs = defaults.uploads.idleTimeoutMs;
      expect(directives.get('client_body_timeout')).toBe(`${idleMs / 1000}s`);
    });

    describe('the IMDSv2 hop-limit hook', () => {
      const hook = path.join(ROOT, '.platform/hooks/prebuild/01-imds-hop-limit.sh');
      let bin: string;
      beforeEach(() => {
        bin = mkdtempSync(path.join(tmpdir(), 'hook-bin-'));
      });
      afterEach(() => rmSync(bin, { recursive: true, force: true }));

      /** A stand-in command on the hook's PATH (bash script body). */
      const tool = (name: string, body: string): void => {
        writeFileSync(path.join(bin, name), `#!${BASH}\n${body}\n`);
        chmodSync(path.join(bin, name), 0o755);
      };
      const BASH = spawnSync('bash', ['-c', 'command -v bash'], { encoding: 'utf8' }).stdout.trim();
      /** The metadata service as curl would see it on an instance. */
      const fakeCurl = () =>
        tool(
          'curl',
          `case "$*" in
            *api/token*) echo token-1 ;;
            *meta-data/instance-id) echo i-0abc ;;
            *meta-data/placement/region) echo eu-west-1 ;;
            *) exit 22 ;;
          esac`,
        );
      // Only the stand-ins: no real aws or curl from this machine.
      const run = () => spawnSync(BASH, [hook], { env: { PATH: bin }, encoding: 'utf8' });

      it('should be executable bash that stops at the first error', () => {
        expect(statSync(hook).mode & 0o111).toBe(0o111);
        const script = readFileSync(hook, 'utf8');
        expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true);
        expect(script).toMatch(/^set -euo pipefail$/m);
        expect(spawnSync('bash', ['-n', hook]).status).toBe(0);
      });

      it('should set tokens required and hop limit 2 on this instance, in its region', () => {
        fakeCurl();
        tool('aws', `echo "$*" > ${bin}/aws-args`);
        const result = run();
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        expect(readFileSync(path.join(bin, 'aws-args'), 'utf8').trim().split(/\s+/)).toEqual([
          'ec2',
          'modify-instance-metadata-options',
          '--region',
          'eu-west-1',
          '--instance-id',
          'i-0abc',
          '--http-endpoint',
          'enabled',
          '--http-tokens',
          'required',
          '--http-put-response-hop-limit',
          '2',
        ]);
        expect(result.stdout).toMatch(/i-0abc: tokens required \(IMDSv2 only\), hop limit 2/);
      });

      it('should fail the deployment, saying why, without the AWS CLI', () => {
        fakeCurl();
        const result = run();
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(/hop limit NOT raised: the AWS CLI \(aws\) is not installed/);
        expect(result.stderr).toMatch(/health checks get 400/);
      });

      it('should fail the deployment, naming the permission, when the call is refused', () => {
        fakeCurl();
        tool('aws', 'echo "An error occurred (UnauthorizedOperation)" >&2; exit 254');
        const result = run();
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(
          /refused for i-0abc: does the instance role grant\s+ec2:ModifyInstanceMetadataOptions/,
        );
      });

      it('should fail the deployment when the metadata service does not answer', () => {
        tool('curl', 'exit 28');
        tool('aws', 'exit 0');
        const result = run();
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(/the instance metadata service did not answer/);
      });
    });
  });

  describe('deploy/cloudwatch (opt-in: Prometheus metrics to CloudWatch)', () => {
    const hook = 'deploy/cloudwatch/prometheus-metrics.sh';
    const script = read(hook);
    const heredoc = (file: string): string => {
      const match = new RegExp(`cat >"\\$dir/${file.replace('.', '\\.')}" <<EOF\n([\\s\\S]*?)\nEOF\n`).exec(script);
      expect(match).not.toBeNull();
      return match![1].replaceAll('$dir', '/opt/s3-file-service-metrics');
    };

    it('should be an executable, valid hook that does nothing without METRICS_TOKEN', () => {
      expect(statSync(path.join(ROOT, hook)).mode & 0o111).toBe(0o111);
      expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true);
      expect(script).toMatch(/set -euo pipefail/);
      expect(spawnSync('bash', ['-n', path.join(ROOT, hook)]).status).toBe(0);
      expect(script).toMatch(
        /get-config environment -k METRICS_TOKEN[^\n]*\nif \[ -z "\$token" \]; then\n[^\n]*\n {2}exit 0/,
      );
    });

    it('should scrape /metrics through nginx with the token, as the service serves it', () => {
      const prometheus = loadYaml(heredoc('prometheus.yaml')) as {
        scrape_configs: { metrics_path: string; authorization: object; static_configs: { targets: string[] }[] }[];
      };
      const [job] = prometheus.scrape_configs;
      expect(job.metrics_path).toBe(METRICS_PATH);
      expect(job.authorization).toEqual({ credentials_file: '/opt/s3-file-service-metrics/token' });
      expect(job.static_configs[0].targets).toEqual(['127.0.0.1:80']);
    });

    it("should select only metrics the service exposes, with their labels as dimensions, into EB's log groups", async () => {
      const agent = JSON.parse(heredoc('cloudwatch-agent.json')) as {
        logs: { metrics_collected: { prometheus: { log_group_name: string; emf_processor: EmfProcessor } } };
      };
      interface EmfProcessor {
        metric_unit: Record<string, string>;
        metric_declaration: { dimensions: string[][]; metric_selectors: string[] }[];
      }
      const { log_group_name: logGroup, emf_processor: emf } = agent.logs.metrics_collected.prometheus;
      // AWSElasticBeanstalkWebTier lets the instance write under /aws/elasticbeanstalk* but not create a log group:
      // the operations guide creates this one beforehand.
      expect(logGroup).toMatch(/^\/aws\/elasticbeanstalk\//);
      expect(read('docs/operations.md')).toContain(`aws logs create-log-group --log-group-name ${logGroup}\n`);
      const metrics = await Metrics.create();
      metrics.recordHttp({
        method: 'GET',
        route: '/files/{key}',
        status: 200,
        seconds: 0,
        bytesIn: 1,
        bytesOut: 1,
        complete: true,
      });
      metrics.recordS3('GetObject', 'success', 0, 1);
      metrics.watchCredentials(() => ({ source: 'instance role (IMDS)', expiration: new Date(Date.now() + 3600_000) }));
      const samples = (await metrics.exposition()).body.split('\n').filter((line) => /^[a-z]/.test(line));
      for (const { dimensions, metric_selectors: selectors } of emf.metric_declaration) {
        for (const selector of selectors) {
          const matching = samples.filter((line) => new RegExp(selector).test(line.split(/[{ ]/)[0]));
          expect({ selector, found: matching.length > 0 }).toEqual({ selector, found: true });
          for (const name of dimensions.flat().filter((d) => d !== 'job')) {
            expect(matching.every((line) => line.includes(`${name}="`))).toBe(true);
          }
        }
      }
      for (const name of Object.keys(emf.metric_unit)) {
        expect(samples.some((line) => line.split(/[{ ]/)[0] === name)).toBe(true);
      }
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
        'METRICS_TOKEN',
        'SIGNING_SECRET',
      ]) {
        expect(env[name]).toMatch(/^replace-with-/);
      }
    });
  });

  describe('deploy/iam-policy.json', () => {
    interface Statement {
      Sid: string;
      Effect: 'Allow' | 'Deny';
      Action: string[];
      Resource?: string | string[];
      NotResource?: string[];
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
              Effect: { type: 'string', enum: ['Allow', 'Deny'] },
              Action: {
                type: 'array',
                minItems: 1,
                items: { type: 'string', pattern: '^[a-z0-9-]+:([A-Za-z]+\\*?|\\*)$' },
              },
              Resource: {
                oneOf: [
                  { type: 'string', pattern: '^(\\*|arn:aws:.+)$' },
                  { type: 'array', minItems: 1, items: { type: 'string', pattern: '^arn:aws:.+$' } },
                ],
              } as never,
              NotResource: {
                type: 'array',
                nullable: true,
                minItems: 1,
                items: { type: 'string', pattern: '^arn:aws:.+$' },
              },
              Condition: {
                type: 'object',
                nullable: true,
                required: [],
                additionalProperties: { type: 'object', required: [], additionalProperties: { type: 'string' } },
              },
            },
            required: ['Sid', 'Effect', 'Action'],
            additionalProperties: false,
          },
        },
      },
      required: ['Version', 'Statement'],
      additionalProperties: false,
    };
    const policy = valid(policySchema, JSON.parse(read('deploy/iam-policy.json')));
    const resources = (s: Statement) => [s.Resource ?? []].flat();
    const allows = policy.Statement.filter((s) => s.Effect === 'Allow');
    const denies = policy.Statement.filter((s) => s.Effect === 'Deny');

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
      // The source is read (GetObject), the target written; an abort needs AbortMultipartUpload (granted for Upload).
      UploadPartCopyCommand: ['s3:GetObject', 's3:PutObject'],
      CompleteMultipartUploadCommand: ['s3:PutObject'],
      AbortMultipartUploadCommand: ['s3:AbortMultipartUpload'],
      DeleteObjectCommand: ['s3:DeleteObject'],
      DeleteObjectsCommand: ['s3:DeleteObject'],
      ListMultipartUploadsCommand: ['s3:ListBucketMultipartUploads'],
      ListPartsCommand: ['s3:ListMultipartUploadParts'],
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
        ...[...code.matchAll(/\b(createPresignedPost)\(/g)].map((m) => m[1]),
      ]);
      expect(calls.size).toBeGreaterThan(0);
      const unmapped = [...calls].filter((c) => IAM_ACTIONS[c] === undefined);
      expect(unmapped).toEqual([]); // add the call's IAM action to IAM_ACTIONS and to the policy
      const needed = new Set([...calls].flatMap((c) => IAM_ACTIONS[c]));

      const onBucket = allows.filter((s) => resources(s).some((r) => r.includes(':::BUCKET_NAME')));
      const granted = onBucket.flatMap((s) => s.Action);
      expect([...new Set(granted)].sort()).toEqual([...needed].sort());
      expect(granted).toHaveLength(new Set(granted).size);
      for (const statement of onBucket) {
        const bucketLevel = statement.Action.every((a) => a === 's3:ListBucket' || a.startsWith('s3:ListBucket'));
        // Objects only under S3_PREFIX (OBJECT_PREFIX: the prefix, or nothing), lists only of that prefix: a credential
        // used by one tenant's service reads no other tenant's objects in a shared bucket.
        expect(resources(statement)).toEqual([
          bucketLevel ? 'arn:aws:s3:::BUCKET_NAME' : 'arn:aws:s3:::BUCKET_NAME/OBJECT_PREFIX*',
        ]);
        // HeadBucket (the health check) sends no prefix, hence IfExists; every list the service sends has one.
        expect(statement.Condition).toEqual(
          bucketLevel ? { StringLikeIfExists: { 's3:prefix': 'OBJECT_PREFIX*' } } : undefined,
        );
      }
    });

    it("should leave EB's needs to AWSElasticBeanstalkWebTier and EB's service role, and allow no wildcard action", () => {
      const actions = allows.flatMap((s) => s.Action);
      expect(actions.filter((a) => a.endsWith('*'))).toEqual([]);
      // AWSElasticBeanstalkWebTier (attached in the walkthrough) grants EB's bucket, logs, X-Ray and health reporting;
      // EB's service role describes instances and target health. A copy here would only drift from AWS's.
      expect(
        actions.filter((a) => /^(logs|xray|elasticbeanstalk|elasticloadbalancing):|^ec2:Describe/.test(a)),
      ).toEqual([]);
      expect(allows.flatMap(resources).filter((r) => r.includes(':::elasticbeanstalk-'))).toEqual([]);
      expect(walkthrough()).toMatch(
        /attach-role-policy [^\n]*\\\n\s*--policy-arn arn:aws:iam::aws:policy\/AWSElasticBeanstalkWebTier\n/,
      );
    });

    it('should name its resources in exactly one way per statement', () => {
      for (const statement of policy.Statement) {
        expect([statement.Resource, statement.NotResource].filter((r) => r !== undefined)).toHaveLength(1);
      }
    });

    it('should deny what AWSElasticBeanstalkWebTier v9 grants and the container must never use', () => {
      expect(denies).toEqual([
        {
          Sid: 'DenyModelsAndMarketplace',
          Effect: 'Deny',
          Action: ['bedrock:*', 'aws-marketplace:*'],
          Resource: '*',
        },
        {
          // Every bucket of this account but the service's and EB's own in this region (this application's source
          // bundles and EB's resources/ there): not other regions' EB buckets, not other applications' bundles.
          Sid: 'DenyOtherBucketsOfThisAccount',
          Effect: 'Deny',
          Action: ['s3:*'],
          NotResource: [
            'arn:aws:s3:::BUCKET_NAME',
            'arn:aws:s3:::BUCKET_NAME/*',
            'arn:aws:s3:::elasticbeanstalk-REGION-ACCOUNT_ID',
            'arn:aws:s3:::elasticbeanstalk-REGION-ACCOUNT_ID/APPLICATION_NAME/*',
            'arn:aws:s3:::elasticbeanstalk-REGION-ACCOUNT_ID/resources/*',
          ],
          Condition: { StringEquals: { 'aws:ResourceAccount': 'ACCOUNT_ID' } },
        },
      ]);
    });

    it('should let an instance raise the hop limit only on instances of its own environment', () => {
      const hop = policy.Statement.filter((s) => s.Action.includes('ec2:ModifyInstanceMetadataOptions'));
      expect(hop).toEqual([
        expect.objectContaining({
          Action: ['ec2:ModifyInstanceMetadataOptions'],
          Resource: 'arn:aws:ec2:*:*:instance/*',
          // EB tags every instance of an environment with its name; an exact match, not StringLike "*".
          Condition: { StringEquals: { 'aws:ResourceTag/elasticbeanstalk:environment-name': 'ENVIRONMENT_NAME' } },
        }),
      ]);
    });

    it("should have every placeholder filled by the walkthrough's sed", () => {
      const placeholders = [...new Set(read('deploy/iam-policy.json').match(/\b[A-Z][A-Z_]{3,}\b/g))].sort();
      expect(placeholders).toEqual([
        'ACCOUNT_ID',
        'APPLICATION_NAME',
        'BUCKET_NAME',
        'ENVIRONMENT_NAME',
        'OBJECT_PREFIX',
        'REGION',
      ]);
      const sed = /sed ((?:-e '[^']+' (?:\\\n\s*)?)+)deploy\/iam-policy\.json/.exec(walkthrough());
      expect(sed).not.toBeNull();
      const filled = [...sed![1].matchAll(/s([/|])([A-Z_]+)\1/g)].map((m) => m[2]).sort();
      expect(filled).toEqual(placeholders);
    });

    it('should grant KMS only in the SSE-KMS snippet: the data-key actions S3 needs, on one key, through S3 only', () => {
      expect(policy.Statement.flatMap((s) => s.Action).filter((a) => a.startsWith('kms:'))).toEqual([]);
      const kms = valid(policySchema, JSON.parse(read('deploy/iam-policy-kms.json')));
      expect(kms.Statement).toHaveLength(1);
      const [statement] = kms.Statement;
      // PutObject and CreateMultipartUpload generate a data key; GetObject and CompleteMultipartUpload decrypt it.
      expect([...statement.Action].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(resources(statement)).toEqual(['arn:aws:kms:REGION:ACCOUNT_ID:key/KEY_ID']);
      expect(statement.Condition).toEqual({ StringEquals: { 'kms:ViaService': 's3.REGION.amazonaws.com' } });
      // The service asks for SSE-KMS only when configured to.
      expect(toAppConfig(validateEnvironment(REQUIRED)).objects.sse).toBeUndefined();
    });
  });
});
