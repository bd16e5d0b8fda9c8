// The default seccomp profile: a deny list of the class Docker's and Podman's defaults block
// (moby/profiles seccomp/default_linux.go refuses these to a container without the capability
// named), plus TIOCSTI/TIOCLINUX. Everything not listed is allowed: a deny list keeps every
// normal program working, and the capabilities a sandbox drops guard most of the rest.

/** args[i] of seccomp_data */
export type ArgIndex = 0 | 1 | 2 | 3 | 4 | 5;

/** What the filter does with one system call (the errno is the profile's, default EPERM). */
export type SyscallRule =
  | {
      /** every call is refused with the errno */
      kind: 'deny';
    }
  | {
      /** every call answers ENOSYS, as a kernel without it would (callers then fall back) */
      kind: 'enosys';
    }
  | {
      /** refused when (low 32 bits of args[arg]) & mask is not 0: flags that live in the low word */
      kind: 'denyIfFlags';
      /** the argument checked */
      arg: ArgIndex;
      /** the flags that refuse the call */
      mask: number;
    }
  | {
      /** refused when the low 32 bits of args[arg] are one of values: the kernel reads the argument
       *  as a 32-bit int, so the high word must not decide (a caller can put anything there) */
      kind: 'denyIfValue';
      /** the argument checked */
      arg: ArgIndex;
      /** the values that refuse the call */
      values: readonly number[];
    }
  | {
      /** refused unless all 64 bits of args[arg] are one of values (each < 2^32) */
      kind: 'denyUnlessValue';
      /** the argument checked */
      arg: ArgIndex;
      /** the only values that pass */
      values: readonly number[];
    };

/** One system call of the default profile and what the filter does with it. */
export interface DenyEntry {
  /** the system call's name, e.g. 'keyctl' */
  name: string;
  /** what the filter does with it */
  rule: SyscallRule;
  /** one line: why a sandbox should not have it */
  why: string;
}

// <linux/sched.h>, <asm-generic/ioctls.h> (x86 and arm64 both use the generic numbers),
// <linux/personality.h>
export const CLONE_NEWUSER = 0x10000000;
export const TIOCSTI = 0x5412;
export const TIOCLINUX = 0x541c;
/** PER_LINUX, PER_LINUX32, UNAME26, PER_LINUX32|UNAME26, and 0xffffffff (query): Docker's set */
export const SAFE_PERSONALITIES: readonly number[] = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const deny = (name: string, why: string): DenyEntry => ({ name, rule: { kind: 'deny' }, why });
const frozen = (e: DenyEntry): DenyEntry => {
  if ('values' in e.rule) Object.freeze(e.rule.values);
  return Object.freeze({ ...e, rule: Object.freeze(e.rule) });
};

/**
 * The default profile (docs/seccomp.md): every system call it refuses or restricts, with why.
 * Frozen. `seccomp: { allow: [name] }` takes one out.
 * @example
 * for (const { name, why } of DEFAULT_DENY) console.log(name.padEnd(20), why);
 */
export const DEFAULT_DENY: readonly DenyEntry[] = Object.freeze(
  (
    [
      deny('init_module', "loads a kernel module from memory: kernel code of the sandbox's choosing (CAP_SYS_MODULE)"),
      deny('finit_module', 'loads a kernel module from a file (CAP_SYS_MODULE)'),
      deny('delete_module', 'unloads a kernel module the host relies on (CAP_SYS_MODULE)'),
      deny('kexec_load', 'loads a new kernel to boot into (CAP_SYS_BOOT)'),
      deny('kexec_file_load', 'loads a new kernel to boot into, from a file (CAP_SYS_BOOT)'),
      deny('reboot', 'reboots or halts the machine, or changes what Ctrl-Alt-Del does (CAP_SYS_BOOT)'),
      deny('swapon', 'adds swap space to the whole machine (CAP_SYS_ADMIN)'),
      deny('swapoff', 'removes swap space from the whole machine (CAP_SYS_ADMIN)'),
      deny('settimeofday', 'sets the system clock, which no namespace virtualises (time namespaces shift only the monotonic and boot clocks) (CAP_SYS_TIME)'),
      deny('clock_settime', 'sets the system clock, which no namespace virtualises (CAP_SYS_TIME)'),
      deny('acct', 'switches process accounting for the whole machine on, off or to another file (CAP_SYS_PACCT)'),
      deny('quotactl', 'reads and changes the disk quotas of host filesystems (CAP_SYS_ADMIN to change)'),
      deny('quotactl_fd', 'reads and changes the disk quotas of host filesystems, by fd (CAP_SYS_ADMIN to change)'),
      deny('add_key', 'the kernel keyrings are not namespaced: keys of the same uid outside are in reach'),
      deny('keyctl', 'the kernel keyrings are not namespaced: keys of the same uid outside are in reach'),
      deny('request_key', 'the kernel keyrings are not namespaced, and a request can run a helper on the host'),
      deny('bpf', 'loads eBPF programs and maps: a large kernel attack surface (CAP_BPF, or unprivileged where kernel.unprivileged_bpf_disabled allows)'),
      deny('perf_event_open', 'observes other processes and the kernel, with a long record of kernel exploits (kernel.perf_event_paranoid)'),
      deny('userfaultfd', 'handles page faults in user space: the classic way to win a race against the kernel (vm.unprivileged_userfaultfd)'),
      deny('io_uring_setup', 'io_uring does I/O through a shared ring, not system calls a filter sees, and is much exploited'),
      deny('io_uring_enter', 'io_uring does I/O through a shared ring, not system calls a filter sees, and is much exploited'),
      deny('io_uring_register', 'io_uring does I/O through a shared ring, not system calls a filter sees, and is much exploited'),
      deny('open_by_handle_at', 'opens a file by handle, past the mount namespace and the path walk (the "shocker" container escape) (CAP_DAC_READ_SEARCH)'),
      deny('iopl', 'raw access to every I/O port (x86) (CAP_SYS_RAWIO)'),
      deny('ioperm', 'raw access to I/O ports (x86) (CAP_SYS_RAWIO)'),
      deny('syslog', 'reads or clears the kernel log, which is not namespaced (CAP_SYSLOG, or kernel.dmesg_restrict=0)'),
      deny('uselib', 'the obsolete a.out library loader (x86)'),
      deny('vhangup', 'hangs up the calling terminal (CAP_SYS_TTY_CONFIG)'),
      {
        name: 'personality',
        rule: { kind: 'denyUnlessValue', arg: 0, values: SAFE_PERSONALITIES },
        why: "only the plain Linux personalities and the query pass (Docker's set): others turn off ASLR (ADDR_NO_RANDOMIZE) or make readable memory executable (READ_IMPLIES_EXEC)",
      },
      {
        name: 'ioctl',
        rule: { kind: 'denyIfValue', arg: 1, values: [TIOCSTI, TIOCLINUX] },
        why: "TIOCSTI pushes input into a terminal, so a sandbox sharing the caller's terminal could type commands into the shell outside; TIOCLINUX can paste into a virtual console",
      },
      {
        name: 'clone',
        rule: { kind: 'denyIfFlags', arg: 0, mask: CLONE_NEWUSER },
        why: 'no new user namespaces (CLONE_NEWUSER): one grants every capability over its new namespaces, where most unprivileged kernel exploits start',
      },
      {
        name: 'unshare',
        rule: { kind: 'denyIfFlags', arg: 0, mask: CLONE_NEWUSER },
        why: 'no new user namespaces (CLONE_NEWUSER), as for clone',
      },
      {
        name: 'clone3',
        rule: { kind: 'enosys' },
        why: 'its flags are in memory seccomp cannot read, so CLONE_NEWUSER cannot be checked: ENOSYS makes glibc fall back to clone, which is checked',
      },
    ] satisfies DenyEntry[]
  ).map(frozen),
);

/**
 * Calls the spawn itself makes after the filter is in place (unblock signals, execve the command
 * or the init, report a failure to exec on the error pipe, exit), and that every program needs:
 * denying one would make the sandbox unable to start, so the options refuse it.
 */
export const ESSENTIAL_SYSCALLS: readonly string[] = ['execve', 'execveat', 'write', 'exit', 'exit_group', 'rt_sigprocmask', 'rt_sigreturn'];

/**
 * Calls the kernel never filters: the uprobe trampolines' (x86_64; kernel/seccomp.c
 * seccomp_uprobe_exception, 6.11 and 6.16). A rule for them would have no effect.
 */
export const UNFILTERED_SYSCALLS: readonly string[] = ['uretprobe', 'uprobe'];
