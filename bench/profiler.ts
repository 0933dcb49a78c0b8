/** A V8 CPU profile as the inspector returns it (the `.cpuprofile` format). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  readonly name: string;
  readonly selfPercent: number;
}

/** Takes CPU profiles of another Node process through its inspector (started with `--inspect=127.0.0.1:0`). */
export class InspectorProfiler {
  private readonly socket: WebSocket;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener('message', (event: MessageEvent) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (waiter && message.id !== undefined) {
        this.pending.delete(message.id);
        if (message.error) {
          waiter.reject(new Error(`inspector: ${message.error.message}`));
        } else {
          waiter.resolve(message.result);
        }
      }
    });
  }

  static async connect(url: string): Promise<InspectorProfiler> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${url}`)), { once: true });
    });
    const profiler = new InspectorProfiler(socket);
    await profiler.call('Profiler.enable');
    await profiler.call('Profiler.setSamplingInterval', { interval: 500 });
    return profiler;
  }

  async start(): Promise<void> {
    await this.call('Profiler.start');
  }

  async stop(): Promise<CpuProfile> {
    const { profile } = (await this.call('Profiler.stop')) as { profile: CpuProfile };
    return profile;
  }

  close(): void {
    this.socket.close();
  }

  private call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }
}

/** Where a frame's code lives: a package, a Node internal, or our own code. */
function origin(url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) {
    return pkg[1];
  }
  if (url.startsWith('node:')) {
    return 'node';
  }
  return url ? 'service' : '';
}

/** Self time by function (with its package) and by package, as percentages of the busy (non-idle) samples. */
export function hotSpots(profile: CpuProfile, top = 12): { functions: HotSpot[]; packages: HotSpot[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, index) => {
    const frame = byId.get(id)?.callFrame;
    const micros = profile.timeDeltas[index] ?? 0;
    if (!frame || frame.functionName === '(idle)') {
      return;
    }
    busy += micros;
    const where = origin(frame.url);
    const fn = `${frame.functionName || '(anonymous)'}${where ? ` [${where}]` : ''}`;
    functions.set(fn, (functions.get(fn) ?? 0) + micros);
    const group = where || frame.functionName;
    packages.set(group, (packages.get(group) ?? 0) + micros);
  });
  const rank = (totals: Map<string, number>): HotSpot[] =>
    [...totals.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => ({ name, selfPercent: busy ? (100 * micros) / busy : 0 }));
  return { functions: rank(functions), packages: rank(packages) };
}
