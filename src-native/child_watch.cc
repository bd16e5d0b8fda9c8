// Exit and report watching on the environment's own loop: uv_poll on the pidfd and on the report
// pipe. Never the thread pool, never SIGCHLD, so it coexists with child_process (libuv reaps
// only the pids it spawned itself).
#include "child_watch.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_handle.h"
#include "env_state.h"
#include "spawn.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

ChildWatch::ChildWatch(EnvState *state, pid_t pid, int pidfd, int sync_fd, int report_fd,
                       std::unique_ptr<SpawnMemory> memory)
    : state_(state), pid_(pid), pidfd_(pidfd), sync_fd_(sync_fd), report_fd_(report_fd),
      memory_(std::move(memory)) {
  state_->live.insert(this);
}

ChildWatch::~ChildWatch() {
  if (handle_) handle_->Detach();
  if (!started_) {  // once started, each poll owns and closes its fd
    if (pidfd_ >= 0) close(pidfd_);
    if (report_fd_ >= 0) close(report_fd_);
  }
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
  main_ = StartPoll(pidfd_, Kind::Main);
  if (report_fd_ >= 0) report_ = StartPoll(report_fd_, Kind::Report);
}

int ChildWatch::Release() {
  if (sync_fd_ < 0) return -EBADF;
  char go = 'g';
  ssize_t n;
  do n = write(sync_fd_, &go, 1);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : -errno;
}

void ChildWatch::CloseSync() {
  if (sync_fd_ >= 0) close(sync_fd_);
  sync_fd_ = -1;
}

int ChildWatch::Kill(int sig) {
  if (exited_) return -ESRCH;
  int fd = main_ ? main_->fd : pidfd_;
  return syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) < 0 ? -errno : 0;
}

void ChildWatch::Ref(bool ref) {
  referenced_ = ref;
  for (Poll *poll : {main_, intermediate_, report_}) {
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
  napi_value self, fn, argv[8];
  size_t argc = 0;
  if (napi_get_reference_value(env, self_ref, &self) == napi_ok &&
      napi_get_reference_value(env, fn_ref, &fn) == napi_ok && fn &&
      napi_create_string_utf8(env, event, NAPI_AUTO_LENGTH, &argv[argc++]) == napi_ok) {
    for (double n : numbers)
      if (argc < 8) napi_create_double(env, n, &argv[argc++]);
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
  ChildWatch *self = poll->owner;
  switch (poll->kind) {
  case Kind::Report:
    self->OnReport();
    break;
  case Kind::Main:
    self->OnMainExit(poll);
    break;
  case Kind::Intermediate: {
    siginfo_t info{};
    if (waitid((idtype_t)P_PIDFD, poll->fd, &info, WEXITED | WNOHANG) == 0 && info.si_pid == 0)
      return;
    self->StopPoll(self->intermediate_);
    break;
  }
  }
}

void ChildWatch::OnReport() {
  if (!DrainReport() || !report_) return;
  StopPoll(report_);
  Emit("eof", {});
}

bool ChildWatch::DrainReport() {
  if (!report_) return true;
  for (;;) {
    char buf[sizeof(nsg_report) * 16];
    ssize_t n = read(report_->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno != EAGAIN;
    if (n == 0) return true;
    for (ssize_t i = 0; i < n; i++) {
      partial_[partial_len_++] = buf[i];
      if (partial_len_ < sizeof(nsg_report)) continue;
      nsg_report rec;
      memcpy(&rec, partial_, sizeof rec);
      partial_len_ = 0;
      HandleRecord(rec);
    }
  }
}

void ChildWatch::HandleRecord(const nsg_report &rec) {
  if (rec.magic != NSG_REPORT_MAGIC) return;
  if (rec.kind == NSG_REPORT_CHILD_PID) {
    AdoptChild(rec.value);
    return;
  }
  Emit("record", {(double)rec.kind, (double)rec.step, (double)rec.err, (double)rec.index,
                  (double)rec.value});
}

// A pid-namespace join forks once more (CLONE_PARENT): the grandchild is our child too and is
// the one that execs; the first child exits. Watch the grandchild; reap the first one quietly.
void ChildWatch::AdoptChild(pid_t pid) {
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0 || !main_) {
    if (fd >= 0) close(fd);
    return;  // gone already: the first child's exit ends the spawn
  }
  main_->kind = Kind::Intermediate;
  intermediate_ = main_;
  pidfd_ = fd;
  pid_ = pid;
  main_ = StartPoll(fd, Kind::Main);
  Emit("child_pid", {(double)pid});
}

void ChildWatch::OnMainExit(Poll *poll) {
  siginfo_t info{};
  int r = waitid((idtype_t)P_PIDFD, poll->fd, &info, WEXITED | WNOHANG);
  if (r == 0 && info.si_pid == 0) return;  // not yet
  if (r != 0 && errno == EINTR) return;
  // r != 0 with ECHILD: somebody else reaped it (waitpid(-1) elsewhere); the status is lost,
  // reported as si_code 0.
  // Records written before the exit are in the pipe now; they come before 'exit'. One of them
  // may name a grandchild (pid-namespace join): then what exited was only the first child.
  DrainReport();
  if (poll != main_) {
    if (intermediate_ == poll) StopPoll(intermediate_);
    return;
  }
  exited_ = true;
  memory_.reset();  // a reaped child no longer uses our memory
  // Keep the callback for one last event, but release every fd first: by the time JS hears of
  // the exit, nothing of the child is open any more.
  Napi::FunctionReference callback = std::move(callback_);
  Napi::ObjectReference self = std::move(self_);
  EnvState *state = state_;
  Finish();  // may delete this
  if (!state->tearing_down)
    CallJs(state->env, self, callback, "exit", {(double)info.si_code, (double)info.si_status});
}

void ChildWatch::Finish() {
  if (finished_) return;
  finished_ = true;
  CloseSync();
  StopPoll(main_);
  StopPoll(report_);
  if (intermediate_) {  // the first child of a pid-namespace join: it exits right after forking
    siginfo_t info{};
    waitid((idtype_t)P_PIDFD, intermediate_->fd, &info, WEXITED);
    StopPoll(intermediate_);
  }
  self_.Reset();
  callback_.Reset();
  if (open_polls_ == 0) {
    state_->Forget(this);
    delete this;
  }
}

void ChildWatch::Terminate() {
  // The environment is going away (process exit, worker terminated): no JS from here on.
  int fds[] = {main_ ? main_->fd : started_ ? -1 : pidfd_, intermediate_ ? intermediate_->fd : -1};
  bool reaped = true;
  for (int fd : fds) {
    if (fd < 0) continue;
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    // Bounded: a process in a frozen cgroup does not die until thawed.
    struct pollfd pfd = {fd, POLLIN, 0};
    while (::poll(&pfd, 1, 2000) < 0 && errno == EINTR) {
    }
    siginfo_t info{};
    if (waitid((idtype_t)P_PIDFD, fd, &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0)
      reaped = false;
  }
  exited_ = true;
  if (reaped) memory_.reset();
  else memory_.release();  // it may still run on that memory: leak it rather than free it
  Finish();
}
