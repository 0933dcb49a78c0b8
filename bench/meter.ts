import { readFileSync, writeFileSync } from 'node:fs';

/** Resources a process used while a meter ran. */
export interface Usage {
  /** User + system CPU time. */
  readonly cpuSeconds: number;
  /** Peak resident set size, or null when /proc cannot tell. */
  readonly peakRssMiB: number | null;
}

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture Node supports
const SAMPLE_MS = 20;

const kib = (status: string, field: string): number | undefined => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : undefined;
};

/**
 * CPU time and peak RSS of another process from /proc (Linux). The peak is the kernel's VmHWM after resetting it
 * (`clear_refs` 5) at `start()`; where that reset is not allowed, VmRSS sampled every 20 ms.
 */
export class ProcessMeter {
  private readonly pid: number;
  private startTicks = 0;
  private sampled = 0;
  private timer?: NodeJS.Timeout;
  private resetWorks = true;

  constructor(pid: number) {
    this.pid = pid;
  }

  start(): void {
    this.startTicks = this.cpuTicks();
    this.sampled = 0;
    if (this.resetWorks) {
      try {
        writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      } catch {
        this.resetWorks = false;
      }
    }
    if (!this.resetWorks) {
      this.sample();
      this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    }
  }

  stop(): Usage {
    clearInterval(this.timer);
    this.timer = undefined;
    const status = this.status();
    const peakKiB = this.resetWorks ? kib(status, 'VmHWM') : Math.max(this.sampled, kib(status, 'VmRSS') ?? 0);
    return {
      cpuSeconds: (this.cpuTicks() - this.startTicks) / TICKS_PER_SECOND,
      peakRssMiB: peakKiB ? peakKiB / 1024 : null,
    };
  }

  private sample(): void {
    this.sampled = Math.max(this.sampled, kib(this.status(), 'VmRSS') ?? 0);
  }

  private status(): string {
    try {
      return readFileSync(`/proc/${this.pid}/status`, 'utf8');
    } catch {
      return '';
    }
  }

  private cpuTicks(): number {
    try {
      // Fields after the command name (which may contain spaces): state is 3rd, utime 14th, stime 15th.
      const fields = readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(fields[11]) + Number(fields[12]);
    } catch {
      return 0;
    }
  }
}

/** CPU time of this process (the load generator), in the same shape. */
export class SelfMeter {
  private start = process.cpuUsage();

  reset(): void {
    this.start = process.cpuUsage();
  }

  read(): number {
    const used = process.cpuUsage(this.start);
    return (used.user + used.system) / 1e6;
  }
}
