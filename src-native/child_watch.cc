// Exit and report watching on the environment's own loop: uv_poll on the pidfds and on the report
// pipe. Never the thread pool, never SIGCHLD, so it coexists with child_process (libuv reaps
// only the pids it spawned itself).
//
// Reports are untrusted input even though only our own code writes them: each is checked, they
// are bounded in number, a pid report is accepted only while the first child is forking and only
// for a process that the kernel says is our child, and nothing ever chooses a pid to signal or
// wait for from a report alone. A report that breaks these rules kills the spawn's processes and
// fails that spawn ("violation"); it never reaches another process.
#include "child_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "child_handle.h"
#include "env_state.h"
#include "spawn.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace {

// The most records a plan writes: two requests and two pids from the first child, the parked
// request, an error from each of three processes; anything beyond that is not ours.
constexpr int kMaxRecords = 9;

// How deep in nested pid namespaces a process is: the number of pids its status lists (NSpid),
// which /proc shows to anyone (no ptrace access needed, unlike /proc/PID/ns). 0 if unknown.
int PidNamespaceDepth(const char *pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%s/status", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *line = strstr(buf, "\nNSpid:");
  if (!line) return 0;
  int depth = 0;
  for (const char *p = line + 7; *p && *p != '\n'; p++)
    if ((*p >= '0' && *p <= '9') && (p[-1] == '\t' || p[-1] == ' ' || p[-1] == ':')) depth++;
  return depth;
}

// A process of a sandbox is in a pid namespace below ours; one child_process spawned is not.
bool InOurPidNamespace(pid_t pid) {
  static const int ours = PidNamespaceDepth("self");
  int theirs = PidNamespaceDepth(std::to_string(pid).c_str());
  return ours == 0 || theirs <= ours;  // cannot tell: refuse
}

int SendSignal(int pidfd, int sig) {
  return syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) < 0 ? -errno : 0;
}

// waitid(2) as the kernel has it: glibc's wrapper drops the fifth argument, the reaped process's
// rusage (RUSAGE_BOTH: its own and that of the children it waited for, kernel/exit.c
// wait_task_zombie). It costs no extra system call: the reaping one fills it.
int WaitReap(int pidfd, siginfo_t *info, struct rusage *usage) {
  return (int)syscall(SYS_waitid, P_PIDFD, pidfd, info, WEXITED | WNOHANG, usage);
}

double Micros(const struct timeval &tv) {
  return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

}  // namespace

ChildWatch::ChildWatch(EnvState *state, pid_t pid, int pidfd, int sync_fd, int report_fd, Expect expect,
                       std::unique_ptr<SpawnMemory> memory, std::unique_ptr<HandoverMemory> handover)
    : state_(state),
      pid_(pid),
      pidfd_(pidfd),
      sync_fd_(sync_fd),
      report_fd_(report_fd),
      expect_(expect),
      memory_(std::move(memory)),
      handover_(std::move(handover)) {
  state_->live.insert(this);
}

ChildWatch::~ChildWatch() {
  if (handle_) handle_->Detach();
  if (pidfd_ >= 0) close(pidfd_);  // not handed to a poll
  if (report_fd_ >= 0) close(report_fd_);
  if (sync_fd_ >= 0) close(sync_fd_);
}

ChildWatch::Poll *ChildWatch::StartPoll(int fd, Kind kind) {
  Poll *poll = new Poll{};
  poll->owner = this;
  poll->fd = fd;
  poll->kind = kind;
  poll->handle.data = poll;
  if (uv_poll_init(state_->loop, &poll->handle, fd) != 0) {
    delete poll;
    return nullptr;
  }
  open_polls_++;
  uv_poll_start(&poll->handle, UV_READABLE, OnReadable);
  if (!referenced_) uv_unref((uv_handle_t *)&poll->handle);
  return poll;
}

void ChildWatch::StopPoll(Poll *&poll) {
  if (!poll) return;
  uv_poll_stop(&poll->handle);
  // uv_close unregisters the fd from the loop before it returns; closing the fd right after
  // (not in the close callback, a loop turn later) means no fd outlives the child's exit event.
  uv_close((uv_handle_t *)&poll->handle, OnClosed);
  close(poll->fd);
  poll->fd = -1;
  poll = nullptr;
}

void ChildWatch::OnClosed(uv_handle_t *handle) {
  Poll *poll = static_cast<Poll *>(handle->data);
  ChildWatch *self = poll->owner;
  delete poll;
  if (--self->open_polls_ == 0 && self->finished_) {
    self->state_->Forget(self);
    delete self;
  }
}

void ChildWatch::Start(Napi::Object self, Napi::Function callback) {
  if (started_ || finished_) return;
  started_ = true;
  self_ = Napi::Persistent(self);
  callback_ = Napi::Persistent(callback);
  // each poll owns its fd from here on
  if ((main_ = StartPoll(pidfd_, Kind::Main))) pidfd_ = -1;
  if (report_fd_ >= 0 && (report_ = StartPoll(report_fd_, Kind::Report))) report_fd_ = -1;
}

int ChildWatch::Release() {
  if (sync_fd_ < 0) return -EBADF;
  char go = 'g';
  ssize_t n;
  do n = write(sync_fd_, &go, 1);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : -errno;
}

HandoverMemory *ChildWatch::ParkedMemory() {
  return parked_ && !handed_over_ && !finished_ && !main_exited_ && sync_fd_ >= 0 ? handover_.get() : nullptr;
}

int ChildWatch::SendHandover(const std::vector<int> &fds) {
  if (!ParkedMemory()) return -ESRCH;
  if (fds.size() > NSG_MAX_STDIO) return -EINVAL;
  char byte = 'h';
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * NSG_MAX_STDIO)];
  } control;
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(h), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = sendmsg(sync_fd_, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n != 1) return n < 0 ? -errno : -EIO;
  handed_over_ = true;
  return 0;
}

void ChildWatch::CloseSync() {
  if (sync_fd_ >= 0) close(sync_fd_);
  sync_fd_ = -1;
}

int ChildWatch::Kill(int sig) {
  if (main_exited_ || finished_) return -ESRCH;
  if (expect_.command && !command_adopted_) {
    // The command's process does not exist yet, or we do not know its pid, and the first child
    // keeps every signal blocked until it exits: nothing can take the signal. Make the whole
    // spawn give up instead (each of its processes exits at EOF of the sync pipe), and report
    // the signal as the cause of the end. The command never runs.
    if (sig == 0) return 0;
    pending_signal_ = sig;
    CloseSync();
    return 0;
  }
  if (!main_) return pidfd_ >= 0 ? SendSignal(pidfd_, sig) : -ESRCH;
  return SendSignal(main_->fd, sig);
}

void ChildWatch::Ref(bool ref) {
  referenced_ = ref;
  for (Poll *poll : {main_, first_, init_, report_}) {
    if (!poll) continue;
    if (ref) uv_ref((uv_handle_t *)&poll->handle);
    else uv_unref((uv_handle_t *)&poll->handle);
  }
}

// Calls back into JS with the C API, not node-addon-api: while a worker terminates, JS cannot
// run, and node-addon-api would turn that status into a C++ exception out of a libuv callback.
// MakeCallback runs microtasks and keeps the async context, as for any libuv callback; an
// exception thrown by the listener becomes an uncaught exception, as it would in Node's own.
static void CallJs(napi_env env, napi_ref self_ref, napi_ref fn_ref, const char *event,
                   std::initializer_list<double> numbers) {
  napi_handle_scope scope;
  if (!fn_ref || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self, fn, argv[12];
  size_t argc = 0;
  if (napi_get_reference_value(env, self_ref, &self) == napi_ok &&
      napi_get_reference_value(env, fn_ref, &fn) == napi_ok && fn &&
      napi_create_string_utf8(env, event, NAPI_AUTO_LENGTH, &argv[argc++]) == napi_ok) {
    for (double n : numbers)
      if (argc < 12) napi_create_double(env, n, &argv[argc++]);
    napi_value result;
    if (napi_make_callback(env, nullptr, self, fn, argc, argv, &result) == napi_pending_exception) {
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

void ChildWatch::Emit(const char *event, std::initializer_list<double> numbers) {
  if (state_->tearing_down || callback_.IsEmpty()) return;
  CallJs(state_->env, self_, callback_, event, numbers);
}

void ChildWatch::OnReadable(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  Poll *poll = static_cast<Poll *>(handle->data);
  if (poll->kind == Kind::Report) poll->owner->OnReport();
  else poll->owner->OnProcessExit(poll);
}

void ChildWatch::OnReport() {
  if (!DrainReport() || !report_) return;
  StopPoll(report_);
  // EOF: every process that held the write end has exec'd or exited, so none runs our code on
  // the plan's memory any more.
  memory_.reset();
  handover_.reset();
  Emit("eof", {});
}

bool ChildWatch::DrainReport() {
  if (!report_) return true;
  for (;;) {
    char buf[sizeof(nsg_report) * 16];
    ssize_t n = read(report_->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno != EAGAIN;
    if (n == 0) {
      if (partial_len_ == 0) return true;
      Violate(Violation::kMalformed);  // records are written whole: a piece of one is not ours
      return false;
    }
    for (ssize_t i = 0; i < n && report_; i++) {
      partial_[partial_len_++] = buf[i];
      if (partial_len_ < sizeof(nsg_report)) continue;
      nsg_report rec;
      memcpy(&rec, partial_, sizeof rec);
      partial_len_ = 0;
      HandleRecord(rec);
    }
    if (!report_) return false;  // a violation stopped the reading
  }
}

void ChildWatch::HandleRecord(const nsg_report &rec) {
  if (++records_ > kMaxRecords) return Violate(Violation::kTooMany);
  if (rec.magic != NSG_REPORT_MAGIC) return Violate(Violation::kMalformed);
  switch (rec.kind) {
  case NSG_REPORT_CHILD_PID:
    return Adopt(rec.index, rec.value);
  case NSG_REPORT_REQUEST:
    // only the command's process parks, once, and only in a plan that parks
    if (rec.value == NSG_REQUEST_PARKED) {
      if (!handover_ || parked_ || (expect_.command && !command_adopted_)) return Violate(Violation::kOutOfState);
      parked_ = true;
    }
    [[fallthrough]];
  case NSG_REPORT_ERROR:
    // lib/spawn/process.ts checks the fields and the state
    return Emit("record", {(double)rec.kind, (double)rec.step, (double)rec.err, (double)rec.index, (double)rec.value});
  default:
    return Violate(Violation::kMalformed);
  }
}

// The first child forked `pid` into the pid namespace (CLONE_PARENT: it is our child too).
// Once every process it announces is ours, they get their go-ahead bytes.
void ChildWatch::Adopt(int role, pid_t pid) {
  const bool command = role == NSG_ROLE_COMMAND, init = role == NSG_ROLE_INIT;
  if (children_released_ || (!command && !init) || (command && (!expect_.command || command_adopted_)) ||
      (init && (!expect_.init || init_adopted_ || command_adopted_)))
    return Violate(Violation::kOutOfState);
  int fd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
  // waitid on a process that is not our child is ECHILD: only our own children are adopted, and
  // only one that lives in another pid namespace than ours (a child of the library's, not one
  // that child_process spawned)
  siginfo_t info{};
  if (fd < 0 || waitid((idtype_t)P_PIDFD, fd, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || InOurPidNamespace(pid)) {
    if (fd >= 0) close(fd);
    return Violate(Violation::kNotOurChild);
  }
  Poll *poll = StartPoll(fd, init ? Kind::Init : Kind::Main);
  if (!poll) {
    close(fd);
    return Violate(Violation::kNotOurChild);
  }
  if (init) {
    init_adopted_ = true;
    init_ = poll;
    return;
  }
  command_adopted_ = true;
  first_ = main_;  // from now on only the process that made the namespaces
  if (first_) first_->kind = Kind::First;
  main_ = poll;
  pid_ = pid;
  children_released_ = true;
  Emit("child_pid", {(double)pid});
  if (pending_signal_) {
    SendSignal(fd, pending_signal_);  // it blocks signals until its exec: it dies before the command runs
    return;
  }
  Release();  // the command's process may go on (the init never waits: it exec'd already)
}

void ChildWatch::Violate(Violation why) {
  if (violated_) return;
  violated_ = true;
  StopPoll(report_);
  CloseSync();
  KillAll();
  Emit("violation", {(double)why});
}

void ChildWatch::KillAll() {
  for (Poll *poll : {main_, first_, init_})
    if (poll) SendSignal(poll->fd, SIGKILL);
}

void ChildWatch::OnProcessExit(Poll *poll) {
  siginfo_t info{};
  struct rusage ru {};
  int r = WaitReap(poll->fd, &info, &ru);
  if (r == 0 && info.si_pid == 0) return;  // not yet
  if (r != 0 && errno == EINTR) return;
  // The run's usage is the command's process (with what it waited for) and the init (with the
  // orphans it reaped, and those the namespace's end killed: pid_namespaces(7)). The first
  // child of a pid-namespace spawn only made the namespaces: the library's setup, not counted.
  if (r == 0 && (poll->kind == Kind::Main || poll->kind == Kind::Init)) AddUsage(ru);
  // r != 0 with ECHILD: somebody else reaped it (waitpid(-1) elsewhere); the status is lost,
  // reported as si_code 0.
  // Records written before this exit are in the pipe now; they come before 'exit'. One of them
  // may name the command's process: then what exited was only the first child.
  OnReport();
  switch (poll->kind) {
  case Kind::First:
    StopPoll(first_);
    break;
  case Kind::Init:
    StopPoll(init_);
    break;
  case Kind::Main:
    main_exited_ = true;
    exit_code_ = info.si_code;
    exit_status_ = info.si_status;
    StopPoll(main_);
    break;
  case Kind::Report:
    break;
  }
  MaybeFinish();
}

void ChildWatch::AddUsage(const struct rusage &ru) {
  usage_.user_us += Micros(ru.ru_utime);
  usage_.system_us += Micros(ru.ru_stime);
  if ((double)ru.ru_maxrss > usage_.max_rss_kb) usage_.max_rss_kb = (double)ru.ru_maxrss;  // a peak: the largest
  usage_.voluntary += (double)ru.ru_nvcsw;
  usage_.involuntary += (double)ru.ru_nivcsw;
}

void ChildWatch::MaybeFinish() {
  if (!main_exited_ || finished_) return;
  // The command has ended: the namespace ends with it (killing its pid 1 kills everything left,
  // pid_namespaces(7)). 'exit' waits until that is done and every process here is reaped.
  if (init_ && !init_killed_) {
    init_killed_ = true;
    SendSignal(init_->fd, SIGKILL);
  }
  if (init_ || first_) return;
  // A signal asked for before the command's process existed made the spawn give up: that is
  // how it ended (CLD_KILLED), whatever the processes exited with.
  int code = exit_code_, status = exit_status_;
  if (pending_signal_ && !violated_) {
    code = CLD_KILLED;
    status = pending_signal_;
  }
  // Keep the callback for one last event, but release every fd first: by the time JS hears of
  // the exit, nothing of the child is open any more.
  Napi::FunctionReference callback = std::move(callback_);
  Napi::ObjectReference self = std::move(self_);
  EnvState *state = state_;
  Finish();  // may delete this
  const Usage u = usage_;
  if (!state->tearing_down)
    CallJs(state->env, self, callback, "exit",
           {(double)code, (double)status, u.user_us, u.system_us, u.max_rss_kb, u.voluntary, u.involuntary});
}

void ChildWatch::Finish() {
  if (finished_) return;
  finished_ = true;
  CloseSync();
  StopPoll(main_);
  StopPoll(first_);
  StopPoll(init_);
  // Every process we know of is reaped. Without EOF on the report pipe (a violation stopped the
  // reading, or the environment ends), some process might still run our code on the plan's
  // memory: leak it rather than free it.
  if (report_) {
    memory_.release();
    handover_.release();
  }
  StopPoll(report_);
  self_.Reset();
  callback_.Reset();
  if (open_polls_ == 0) {
    state_->Forget(this);
    delete this;
  }
}

void ChildWatch::Terminate() {
  // The environment is going away (process exit, worker terminated): no JS from here on.
  CloseSync();
  int fds[] = {main_ ? main_->fd : pidfd_, first_ ? first_->fd : -1, init_ ? init_->fd : -1};
  bool reaped = true;
  for (int fd : fds) {
    if (fd < 0) continue;
    SendSignal(fd, SIGKILL);
    // Bounded: a process in a frozen cgroup does not die until thawed.
    struct pollfd pfd = {fd, POLLIN, 0};
    while (::poll(&pfd, 1, 2000) < 0 && errno == EINTR) {}
    siginfo_t info{};
    if (waitid((idtype_t)P_PIDFD, fd, &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) reaped = false;
  }
  main_exited_ = true;
  if (!reaped) {  // it may still run on that memory: leak it rather than free it
    memory_.release();
    handover_.release();
  }
  if (reaped && DrainReport() && report_) {  // EOF, unless a process we never heard of holds the pipe
    StopPoll(report_);
    memory_.reset();
    handover_.reset();
  }
  Finish();
}
