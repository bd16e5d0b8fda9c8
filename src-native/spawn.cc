// spawn(plan): the only place that clones. Runs on the JS thread that called it (main or
// worker): PR_SET_PDEATHSIG fires when the creating *thread* exits (prctl(2)), so cloning from a
// thread-pool thread would kill the child at a random moment. Everything the child will read is
// prepared here first; after clone the parent only closes the child's ends and returns.
#include "sys_error.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "child_handle.h"
#include "child_watch.h"
#include "env_state.h"
#include "rawsys.h"

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
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};

constexpr size_t kGuardSize = 4096;
constexpr size_t kStackSize = 128 * 1024;  // the child's deepest frame holds a PATH_MAX buffer

// fds this spawn created; whatever is still listed when it goes out of scope gets closed.
class OwnedFds {
 public:
  ~OwnedFds() {
    for (int fd : fds_) close(fd);
  }
  int Add(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  void Keep(int fd) {  // handed over to the caller
    for (auto it = fds_.begin(); it != fds_.end(); ++it)
      if (*it == fd) {
        fds_.erase(it);
        return;
      }
  }
  // fcntl(F_DUPFD_CLOEXEC) to at least `min` (child-side internal fds must stay clear of the
  // stdio slots the child will overwrite); returns the new fd.
  int Lift(int fd, int min) {
    if (fd < 0 || fd >= min) return fd;
    int lifted = Add(fcntl(fd, F_DUPFD_CLOEXEC, min));
    if (lifted < 0) return -1;
    Keep(fd);
    close(fd);
    return lifted;
  }

 private:
  std::vector<int> fds_;
};

double Number(Napi::Object obj, const char *key, double fallback = 0) {
  Napi::Value v = obj.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

bool Bool(Napi::Object obj, const char *key) {
  Napi::Value v = obj.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

// A string from the plan, kept in the spawn's memory; nullptr when absent.
const char *String(SpawnMemory &mem, Napi::Object obj, const char *key) {
  Napi::Value v = obj.Get(key);
  if (!v.IsString()) return nullptr;
  return mem.Keep(v.As<Napi::String>().Utf8Value());
}

void StringList(SpawnMemory &mem, Napi::Object obj, const char *key,
                std::vector<const char *> &out) {
  Napi::Value v = obj.Get(key);
  if (v.IsArray()) {
    Napi::Array array = v.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); i++)
      out.push_back(mem.Keep(array.Get(i).As<Napi::String>().Utf8Value()));
  }
  out.push_back(nullptr);
}

Napi::Array ArrayOrEmpty(Napi::Env env, Napi::Object obj, const char *key) {
  Napi::Value v = obj.Get(key);
  return v.IsArray() ? v.As<Napi::Array>() : Napi::Array::New(env);
}

}  // namespace

SpawnMemory::~SpawnMemory() {
  if (stack) munmap(stack, stack_size);
}

Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  EnvState *state = EnvState::Get(env);
  if (!info[0].IsObject()) {
    Napi::TypeError::New(env, "spawn(plan): plan must be an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object js = info[0].As<Napi::Object>();
  auto mem = std::make_unique<SpawnMemory>();
  nsg_plan &plan = mem->plan;
  OwnedFds owned;  // child ends and temporaries: closed when Spawn returns, whatever happens

  const uint64_t clone_flags = (uint64_t)Number(js, "cloneFlags");
  const int cgroup_fd = (int)Number(js, "cgroupFd", -1);
  const bool use_vm = Bool(js, "useVm");

  // stdio: what fd i of the command will be
  Napi::Array stdio = ArrayOrEmpty(env, js, "stdio");
  const int nstdio = (int)stdio.Length();
  if (nstdio > 64) {
    Napi::RangeError::New(env, "spawn(plan): at most 64 stdio entries").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<int> parent_ends(nstdio, -1);
  OwnedFds parent_owned;  // parent ends: closed unless the spawn succeeds
  int devnull = -1;
  for (int i = 0; i < nstdio; i++) {
    Napi::Object entry = stdio.Get(i).As<Napi::Object>();
    std::string kind = entry.Get("kind").As<Napi::String>().Utf8Value();
    int child_end = -1;
    if (kind == "pipe") {
      int p[2];
      if (pipe2(p, O_CLOEXEC) < 0) throw NsgSystemError(env, errno, "pipe2");
      bool child_reads = Bool(entry, "childReads");
      child_end = owned.Add(child_reads ? p[0] : p[1]);
      parent_ends[i] = parent_owned.Add(child_reads ? p[1] : p[0]);
    } else if (kind == "fd") {
      child_end = (int)Number(entry, "fd", -1);
      if (fcntl(child_end, F_GETFD) < 0) throw NsgSystemError(env, errno, "fcntl");
    } else if (kind == "null") {
      if (devnull < 0) devnull = owned.Add(open("/dev/null", O_RDWR | O_CLOEXEC));
      if (devnull < 0) throw NsgSystemError(env, errno, "open");
      child_end = devnull;
    }
    mem->stdio.push_back(child_end);
  }

  // the sync pipe (parent -> child) and the report pipe (child -> parent)
  int sync_pipe[2], report_pipe[2];
  if (pipe2(sync_pipe, O_CLOEXEC) < 0) throw NsgSystemError(env, errno, "pipe2");
  owned.Add(sync_pipe[0]);
  parent_owned.Add(sync_pipe[1]);
  if (pipe2(report_pipe, O_CLOEXEC) < 0) throw NsgSystemError(env, errno, "pipe2");
  owned.Add(report_pipe[1]);
  parent_owned.Add(report_pipe[0]);
  fcntl(report_pipe[0], F_SETFL, O_NONBLOCK);
  plan.sync_fd = owned.Lift(sync_pipe[0], nstdio);
  plan.sync_peer_fd = sync_pipe[1];
  plan.report_fd = owned.Lift(report_pipe[1], nstdio);
  plan.init_fd = -1;
  if (Bool(js, "init")) {
    int init_fd = InitExecutableFd();
    if (init_fd < 0) throw NsgSystemError(env, -init_fd, "memfd_create");
    plan.init_fd = init_fd >= nstdio ? init_fd : owned.Add(fcntl(init_fd, F_DUPFD_CLOEXEC, nstdio));
  }
  if (plan.sync_fd < 0 || plan.report_fd < 0 || (Bool(js, "init") && plan.init_fd < 0))
    throw NsgSystemError(env, errno, "fcntl");
  plan.nstdio = nstdio;
  plan.stdio = mem->stdio.data();

  // namespaces the child joins or makes after clone
  Napi::Array joins = ArrayOrEmpty(env, js, "joins");
  for (uint32_t i = 0; i < joins.Length(); i++) {
    Napi::Object j = joins.Get(i).As<Napi::Object>();
    mem->joins.push_back({(int32_t)Number(j, "fd", -1), (int32_t)Number(j, "nstype")});
  }
  plan.njoins = (int32_t)mem->joins.size();
  plan.joins = mem->joins.data();
  plan.nondumpable = Bool(js, "nondumpable");
  plan.unshare_user = Bool(js, "unshareUser");
  plan.unshare_flags = (uint64_t)Number(js, "unshareFlags");
  plan.fork_after_unshare = Bool(js, "forkAfterUnshare");
  plan.unshare_time = Bool(js, "unshareTime");
  plan.unshare_cgroup_late = Bool(js, "unshareCgroupLate");

  // filesystem and host-identity operations
  Napi::Array ops = ArrayOrEmpty(env, js, "ops");
  for (uint32_t i = 0; i < ops.Length(); i++) {
    Napi::Object o = ops.Get(i).As<Napi::Object>();
    nsg_op op{};
    op.kind = (int32_t)Number(o, "kind");
    op.mode = (uint32_t)Number(o, "mode");
    op.flags = (uint64_t)Number(o, "flags");
    op.flags2 = (uint64_t)Number(o, "flags2");
    op.a = String(*mem, o, "a");
    op.b = String(*mem, o, "b");
    op.c = String(*mem, o, "c");
    op.d = String(*mem, o, "d");
    mem->ops.push_back(op);
  }
  plan.nops = (int32_t)mem->ops.size();
  plan.ops = mem->ops.data();

  // the command
  plan.cwd = String(*mem, js, "cwd");
  StringList(*mem, js, "candidates", mem->candidates);
  StringList(*mem, js, "argv", mem->argv);
  StringList(*mem, js, "envp", mem->envp);
  plan.ncandidates = (int32_t)mem->candidates.size() - 1;
  plan.candidates = mem->candidates.data();
  plan.argv = const_cast<char *const *>(mem->argv.data());
  plan.envp = const_cast<char *const *>(mem->envp.data());
  if (plan.init_fd >= 0) {
    mem->init_argv = {"nsgroups-init", mem->Keep(std::to_string(plan.report_fd)), "--", nullptr};
    static_assert(NSG_INIT_ARGV_PATH == 3, "init argv layout");
    mem->init_argv.insert(mem->init_argv.end(), mem->argv.begin(), mem->argv.end());
    plan.init_argv = const_cast<char **>(mem->init_argv.data());
  }

  // identity
  Napi::Value ids = js.Get("ids");
  if (ids.IsObject()) {
    plan.set_ids = 1;
    plan.uid = (uint32_t)Number(ids.As<Napi::Object>(), "uid");
    plan.gid = (uint32_t)Number(ids.As<Napi::Object>(), "gid");
  }
  Napi::Value groups = js.Get("groups");
  if (groups.IsArray()) {
    Napi::Array g = groups.As<Napi::Array>();
    for (uint32_t i = 0; i < g.Length(); i++) mem->groups.push_back(g.Get(i).As<Napi::Number>().Uint32Value());
    plan.set_groups = 1;
    plan.ngroups = (int32_t)mem->groups.size();
    plan.groups = mem->groups.data();
  }
  plan.pdeathsig = (int32_t)Number(js, "pdeathsig");
  plan.new_session = Bool(js, "newSession");
  plan.no_new_privs = Bool(js, "noNewPrivs");

  // A CLONE_VM child runs on its own stack in our memory, under a guard page.
  CloneArgs args{};
  if (use_vm) {
    mem->stack_size = kStackSize + kGuardSize;
    mem->stack = mmap(nullptr, mem->stack_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mem->stack == MAP_FAILED) {
      mem->stack = nullptr;
      throw NsgSystemError(env, errno, "mmap");
    }
    mprotect(mem->stack, kGuardSize, PROT_NONE);
    args.stack = (uint64_t)(uintptr_t)mem->stack + kGuardSize;
    args.stack_size = kStackSize;
  }
  int pidfd = -1;
  args.flags = clone_flags | CLONE_PIDFD | (use_vm ? CLONE_VM : 0) |
               (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  args.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;

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
  if (pid == -ENOSYS && cgroup_fd < 0) {
    // Where clone3 is refused (Linux < 5.3, or a seccomp filter such as Docker's default
    // profile), the legacy clone: CLONE_PIDFD returns the pidfd through parent_tid (Linux 5.2);
    // the exit signal sits in the low byte of the flags; no CLONE_INTO_CGROUP (the caller
    // retries without a cgroup fd and moves the child instead).
    call = "clone";
    long flags = (long)(args.flags & 0xffffffffULL) | SIGCHLD;
    long sp = use_vm ? (long)(args.stack + args.stack_size) : 0;
    pid = nsg_clone_call(__NR_clone, flags, sp, (long)&pidfd, 0, 0, nsg_child_main, &plan);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) throw NsgSystemError(env, (int)-pid, call);

  // Success: the parent ends are the caller's now; the child ends close with `owned`.
  for (int fd : parent_ends) parent_owned.Keep(fd);
  parent_owned.Keep(sync_pipe[1]);
  parent_owned.Keep(report_pipe[0]);
  ChildWatch *watch = new ChildWatch(state, (pid_t)pid, pidfd, sync_pipe[1], report_pipe[0],
                                     use_vm ? std::move(mem) : nullptr);  // fork-style: a copy
  Napi::Object handle = state->child_ctor.New({Napi::External<ChildWatch>::New(env, watch)});
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, (double)pid));
  result.Set("handle", handle);
  Napi::Array ends = Napi::Array::New(env, nstdio);
  for (int i = 0; i < nstdio; i++) ends.Set(i, Napi::Number::New(env, parent_ends[i]));
  result.Set("stdio", ends);
  return result;
}
