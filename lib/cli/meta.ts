// `nsgroups run --meta FILE|-`: what the run used and why it ended, as isolate's meta file has it
// (key:value lines: time, time-wall, max-rss, csw-voluntary, csw-forced, exitcode, exitsig,
// killed, status, message, cg-mem, cg-oom-killed) plus nsgroups' own verdict word, or --json.
import { constants as osConstants } from 'node:os';
import type { ExitResult } from '../spawn/process';
import { cpuUsedMs, type RunStatus } from '../spawn/usage';

/** isolate's status codes (RE runtime error, SG signal, TO time, XX internal); 'ok' has none. */
const ISOLATE_STATUS: Record<RunStatus, string | null> = {
  ok: null,
  exit: 'RE',
  signal: 'SG',
  timeout: 'TO',
  cpuTime: 'TO',
  memory: 'SG',
  output: 'SG',
  setup: 'XX',
};

function message(r: ExitResult): string | null {
  switch (r.status) {
    case 'ok':
      return null;
    case 'exit':
      return `Exited with error status ${r.code}`;
    case 'signal':
      return `Caught fatal signal ${osConstants.signals[r.signal!] ?? r.signal}`;
    case 'timeout':
      return 'Time limit exceeded (wall clock)';
    case 'cpuTime':
      return 'Time limit exceeded';
    case 'memory':
      return 'Out of memory (the OOM killer ended a process of the run)';
    case 'output':
      return 'Output limit exceeded';
  }
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);
const kib = (bytes: number): string => String(Math.round(bytes / 1024));

export function formatMeta(r: ExitResult): string {
  const u = r.usage;
  const lines: Array<[string, string]> = [
    ['time', seconds(cpuUsedMs(u))],
    ['time-wall', seconds(u.wallMs)],
    ['max-rss', kib(u.maxRssBytes)],
    ['csw-voluntary', String(u.voluntaryContextSwitches)],
    ['csw-forced', String(u.involuntaryContextSwitches)],
  ];
  if (r.code !== null) lines.push(['exitcode', String(r.code)]);
  if (r.signal !== null) lines.push(['exitsig', String(osConstants.signals[r.signal] ?? 0)]);
  if (r.status === 'timeout' || r.status === 'cpuTime' || r.status === 'output') lines.push(['killed', '1']);
  const status = ISOLATE_STATUS[r.status];
  if (status) lines.push(['status', status]);
  const text = message(r);
  if (text) lines.push(['message', text]);
  if (u.cgroup) {
    if (u.cgroup.memoryPeakBytes !== null) lines.push(['cg-mem', kib(u.cgroup.memoryPeakBytes)], ['cg-mem-scope', u.cgroup.memoryPeakScope]);
    if (u.cgroup.cpuMs !== null) lines.push(['cg-time', seconds(u.cgroup.cpuMs)]);
    if (u.cgroup.oomKills) lines.push(['cg-oom-killed', '1']);
  }
  lines.push(['verdict', r.status]);
  return lines.map(([k, v]) => `${k}:${v}\n`).join('');
}

/** The meta of a run that never started: isolate's XX. */
export function formatSetupMeta(reason: string): string {
  return `status:XX\nmessage:${reason.split('\n')[0]}\nverdict:setup\n`;
}

export function formatJson(r: ExitResult): string {
  return `${JSON.stringify({ status: r.status, code: r.code, signal: r.signal, usage: r.usage })}\n`;
}

export function formatSetupJson(reason: string): string {
  return `${JSON.stringify({ status: 'setup', message: reason.split('\n')[0] })}\n`;
}
