// spawn(plan): the only place that clones. Runs on the JS thread that called it (main or
// worker): PR_SET_PDEATHSIG fires when the creating *thread* exits (prctl(2)), so cloning from a
// thread-pool thread would kill the child at a random moment. Everything the child will read is
// prepared here first; after clone the parent only closes the child's ends and returns.
#include "spawn.h"
#include "sys_error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "child_handle.h"
#include "child_watch.h"
#include "env_state.h"
#include "owned_fds.h"
#include "plan_reader.h"
#include "rawsys.h"
#include "stdio_ends.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

namespace {

// clone3 answered ENOSYS once: it will again (a kernel or seccomp policy does not change)
std::atomic<bool> clone3_refused{false};

struct CloneArgs {  // struct clone_args (linux/sched.h), spelled out for old headers
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

constexpr size_t kGuardSize = 4096;
constexpr size_t kStackSize = 128 * 1024;  // the deepest frames hold two PATH_MAX buffers
constexpr size_t kInitStackSize = 16 * 1024;  // the init's process only closes fds and execs

// Stack mappings that no process runs on any more (SpawnMemory is freed only then), kept for the
// next spawn of the same layout: a fresh one costs an mmap, an mprotect per guard page, a munmap
// (a TLB shoot-down on every CPU that runs one of our threads) and the child's page faults on
// zeroed pages. A few per layout; the rest are unmapped. Any thread of ours may free one.
struct StackCache {
  std::mutex lock;
  struct Entry {
    void *base;
    size_t size;
    uint64_t layout;  // the stacks' sizes, in order: where the guard pages are
  };
  std::vector<Entry> free;
  static constexpr size_t kKeep = 8;
};
StackCache &Stacks() {
  static StackCache *cache = new StackCache();  // never destroyed: a worker may free late
  return *cache;
}

void *TakeCachedStacks(uint64_t layout) {
  StackCache &c = Stacks();
  std::lock_guard<std::mutex> hold(c.lock);
  for (auto it = c.free.begin(); it != c.free.end(); ++it) {
    if (it->layout != layout) continue;
    void *base = it->base;
    c.free.erase(it);
    return base;
  }
  return nullptr;
}

// One mapping for the stacks of a CLONE_VM spawn, each with a guard page below it.
bool MapStacks(SpawnMemory &mem, std::initializer_list<std::pair<nsg_stack *, size_t>> stacks) {
  size_t total = 0;
  uint64_t layout = 0;
  for (auto &s : stacks) {
    total += kGuardSize + s.second;
    layout = layout * 1000003u + s.second;
  }
  void *base = TakeCachedStacks(layout);
  const bool fresh = base == nullptr;
  if (fresh) {
    base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) return false;
    char *at = static_cast<char *>(base);
    for (auto &s : stacks) {
      if (mprotect(at, kGuardSize, PROT_NONE) < 0) {
        munmap(base, total);  // never cached without its guard pages
        return false;
      }
      at += kGuardSize + s.second;
    }
  }
  mem.stacks = base;
  mem.stacks_size = total;
  mem.stacks_layout = layout;
  char *at = static_cast<char *>(base);
  for (auto &s : stacks) {
    s.first->base = at + kGuardSize;
    s.first->size = s.second;
    at += kGuardSize + s.second;
  }
  return true;
}

// The id maps of the user namespace the clone made, written by us as soon as it exists
// (user_namespaces(7): once each, by a process in the parent namespace, uid_map in one write;
// setgroups before an unprivileged gid_map). The child waits for its go-ahead meanwhile.
struct IdMapWrites {
  bool given = false;
  bool deny_setgroups = false;
  std::string uid_map, gid_map;
};

IdMapWrites ReadIdMapWrites(Napi::Env env, const Napi::Value &value) {
  IdMapWrites maps;
  if (value.IsUndefined() || value.IsNull()) return maps;
  if (!value.IsObject()) throw Napi::TypeError::New(env, "spawn(plan, idMaps): idMaps must be an object");
  Napi::Object o = value.As<Napi::Object>();
  Napi::Value uid = o.Get("uidMap"), gid = o.Get("gidMap"), deny = o.Get("denySetgroups");
  if (!uid.IsString() || !gid.IsString() || !deny.IsBoolean())
    throw Napi::TypeError::New(env, "spawn idMaps: { uidMap: string, gidMap: string, denySetgroups: boolean }");
  maps.given = true;
  maps.uid_map = uid.As<Napi::String>().Utf8Value();
  maps.gid_map = gid.As<Napi::String>().Utf8Value();
  maps.deny_setgroups = deny.As<Napi::Boolean>().Value();
  return maps;
}

// 0, or -errno of the open or the write of /proc/PID/<name>
int WriteProcFile(long pid, const char *name, const char *data, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/%s", pid, name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = write(fd, data, len);
  int err = n < 0 ? errno : (size_t)n != len ? EIO : 0;
  close(fd);
  return -err;
}

// The file that failed and why, or nullptr when all were written.
const char *WriteIdMaps(long pid, const IdMapWrites &maps, int *err) {
  *err = 0;
  if (maps.deny_setgroups && (*err = WriteProcFile(pid, "setgroups", "deny", 4)) < 0) return "setgroups";
  if ((*err = WriteProcFile(pid, "uid_map", maps.uid_map.data(), maps.uid_map.size())) < 0) return "uid_map";
  if ((*err = WriteProcFile(pid, "gid_map", maps.gid_map.data(), maps.gid_map.size())) < 0) return "gid_map";
  return nullptr;
}

}  // namespace

SpawnMemory::~SpawnMemory() {
  if (!stacks) return;
  StackCache &c = Stacks();
  {
    std::lock_guard<std::mutex> hold(c.lock);
    if (c.free.size() < StackCache::kKeep) {
      c.free.push_back({stacks, stacks_size, stacks_layout});
      return;
    }
  }
  munmap(stacks, stacks_size);
}

HandoverMemory::~HandoverMemory() {
  if (base) munmap(base, size);
}

Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  EnvState *state = EnvState::Get(env);
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "spawn(plan): plan must be an object");
  auto mem = std::make_unique<SpawnMemory>();
  std::vector<StdioEntry> stdio;
  ReadPlan(info[0].As<Napi::Object>(), *mem, stdio);
  const IdMapWrites id_maps = ReadIdMapWrites(env, info[1]);
  nsg_plan &plan = mem->plan;
  if (stdio.size() > NSG_MAX_STDIO) throw Napi::RangeError::New(env, "spawn plan: at most 64 stdio entries");
  if (plan.inherit_env) {
    // the caller's environment as it is now (process.env writes go to environ)
    if (plan.envp_count) throw Napi::TypeError::New(env, "spawn plan: inheritEnv with a non-empty envp");
    std::vector<const char *> &copy = mem->NewList();
    for (char **e = environ; e && *e; e++) copy.push_back(mem->Keep(*e));
    plan.envp_count = (int32_t)copy.size();
    copy.push_back(nullptr);
    plan.envp = const_cast<char *const *>(copy.data());
  }
  if (id_maps.given && !(plan.clone_flags & CLONE_NEWUSER))
    throw Napi::TypeError::New(env, "spawn: idMaps without a user namespace made at clone");
  if (plan.init && !plan.fork_into_pidns)
    throw Napi::TypeError::New(env, "spawn plan: init needs forkIntoPidns (the init is forked into the pid namespace)");
  if (plan.park &&
      (stdio.size() || plan.candidates_count || plan.argv_count || plan.envp_count || plan.inherit_env || plan.cwd))
    throw Napi::TypeError::New(
        env,
        "spawn plan: a parked plan's stdio, cwd, candidates, argv and envp come with the hand-over: leave them empty");
  OwnedFds owned;  // child ends and temporaries: closed when Spawn returns, whatever happens
  OwnedFds parent_owned;  // parent ends: closed unless the spawn succeeds

  // The sync channel (parent -> child) and the report pipe (child -> parent). A parked child
  // gets its command's fds on the sync channel later: then it is a socket (SCM_RIGHTS).
  int sync_pipe[2], report_pipe[2];
  if (plan.park ? socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync_pipe) < 0
                : pipe2(sync_pipe, O_CLOEXEC) < 0)
    throw NsgSystemError(env, errno, plan.park ? "socketpair" : "pipe2");
  owned.Add(sync_pipe[0]);
  parent_owned.Add(sync_pipe[1]);
  if (pipe2(report_pipe, O_CLOEXEC) < 0) throw NsgSystemError(env, errno, "pipe2");
  owned.Add(report_pipe[1]);
  parent_owned.Add(report_pipe[0]);
  if (fcntl(report_pipe[0], F_SETFL, O_NONBLOCK) < 0) throw NsgSystemError(env, errno, "fcntl");
  // the child's ends of them must stay clear of the stdio slots it will overwrite (a parked
  // child's stdio comes later: clear of every slot there may be)
  const int nstdio = (int)stdio.size();
  const int clear_of = plan.park ? NSG_MAX_STDIO : nstdio;
  plan.sync_fd = owned.Lift(sync_pipe[0], clear_of);
  plan.sync_peer_fd = sync_pipe[1];
  plan.report_fd = owned.Lift(report_pipe[1], clear_of);
  if (plan.sync_fd < 0 || plan.report_fd < 0) throw NsgSystemError(env, errno, "fcntl");

  // a parked child reads its command from memory we share with it, fork-style or not
  std::unique_ptr<HandoverMemory> handover;
  if (plan.park) {
    handover = std::make_unique<HandoverMemory>();
    void *base =
        mmap(nullptr, kHandoverSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw NsgSystemError(env, errno, "mmap");
    handover->base = base;
    handover->size = kHandoverSize;
    plan.handover = static_cast<nsg_handover *>(base);
  }

  // stdio: what fd i of the command will be
  StdioEnds ends = MakeStdioEnds(env, stdio, owned, parent_owned, plan.report_fd);
  std::vector<int> &parent_ends = ends.parent;
  mem->stdio = ends.child;
  plan.stdio = mem->stdio.data();
  plan.stdio_count = nstdio;

  plan.init_fd = -1;
  if (plan.init) {
    int init_fd = InitExecutableFd();
    if (init_fd < 0) throw NsgSystemError(env, -init_fd, "memfd_create");
    plan.init_fd = init_fd >= nstdio ? init_fd : owned.Add(fcntl(init_fd, F_DUPFD_CLOEXEC, nstdio));
  }
  if (plan.init && plan.init_fd < 0) throw NsgSystemError(env, errno, "fcntl");

  // A CLONE_VM child runs on its own stack in our memory, and so do the init and the command's
  // process it forks into a pid namespace.
  CloneArgs args{};
  if (plan.use_vm) {
    nsg_stack first{};
    bool mapped =
        !plan.fork_into_pidns ? MapStacks(*mem, {{&first, kStackSize}})
        : plan.init
            ? MapStacks(*mem,
                        {{&first, kStackSize}, {&plan.init_stack, kInitStackSize}, {&plan.command_stack, kStackSize}})
            : MapStacks(*mem, {{&first, kStackSize}, {&plan.command_stack, kStackSize}});
    if (!mapped) throw NsgSystemError(env, errno, "mmap");
    args.stack = (uint64_t)(uintptr_t)first.base;
    args.stack_size = first.size;
  }
  int pidfd = -1;
  args.flags =
      plan.clone_flags | CLONE_PIDFD | (plan.use_vm ? CLONE_VM : 0) | (plan.cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  args.cgroup = plan.cgroup_fd >= 0 ? (uint64_t)plan.cgroup_fd : 0;

  // Every signal blocked across clone: the child must not run a handler of Node's before it
  // has reset them (libuv's uv_spawn does the same).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = -ENOSYS;
  const char *call = "clone3";
  if (!clone3_refused.load(std::memory_order_relaxed)) {
    pid = nsg_clone_call(__NR_clone3, (long)&args, (long)sizeof args, 0, 0, 0, nsg_child_main, &plan);
    if (pid == -ENOSYS) clone3_refused.store(true, std::memory_order_relaxed);
  }
  if (pid == -ENOSYS && plan.cgroup_fd < 0) {
    // Where clone3 is refused (Linux < 5.3, or a seccomp filter such as Docker's default
    // profile), the legacy clone: CLONE_PIDFD returns the pidfd through parent_tid (Linux 5.2);
    // the exit signal sits in the low byte of the flags; no CLONE_INTO_CGROUP (the caller
    // retries without a cgroup fd, and the child moves itself in).
    call = "clone";
    long flags = (long)(args.flags & 0xffffffffULL) | SIGCHLD;
    long sp = plan.use_vm ? (long)(args.stack + args.stack_size) : 0;
    pid = nsg_clone_call(__NR_clone, flags, sp, (long)&pidfd, 0, 0, nsg_child_main, &plan);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) throw NsgSystemError(env, (int)-pid, call);
  int maps_err = 0;
  const char *maps_failed = id_maps.given ? WriteIdMaps(pid, id_maps, &maps_err) : nullptr;

  // Success: the parent ends are the caller's now; the child ends close with `owned`.
  for (int fd : parent_ends) parent_owned.Keep(fd);
  parent_owned.Keep(sync_pipe[1]);
  parent_owned.Keep(report_pipe[0]);
  ChildWatch::Expect expect{plan.fork_into_pidns != 0, plan.init != 0};
  ChildWatch *watch = new ChildWatch(state, (pid_t)pid, pidfd, sync_pipe[1], report_pipe[0], expect,
                                     plan.use_vm ? std::move(mem) : nullptr,  // fork-style: a copy
                                     std::move(handover));
  Napi::Object handle = state->child_ctor.New({Napi::External<ChildWatch>::New(env, watch)});
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, (double)pid));
  result.Set("handle", handle);
  Napi::Array stdio_ends = Napi::Array::New(env, nstdio);
  for (int i = 0; i < nstdio; i++) stdio_ends.Set(i, Napi::Number::New(env, parent_ends[i]));
  result.Set("stdio", stdio_ends);
  if (maps_failed) {
    // the child waits for a go-ahead it will not get: the caller fails the spawn (and kills it)
    Napi::Object failure = Napi::Object::New(env);
    failure.Set("file", Napi::String::New(env, maps_failed));
    failure.Set("errno", Napi::Number::New(env, -maps_err));
    result.Set("idMapsError", failure);
  }
  return result;
}
