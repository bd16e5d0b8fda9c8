// One spawned child seen from the parent: its pidfd (exit), the report pipe (setup errors, the
// init's messages), the sync pipe (go-ahead), and the memory it may share with us (CLONE_VM).
// Events reach JavaScript through one callback: ("record", kind, step, err, index, value),
// ("eof"), ("child_pid", pid) and last ("exit", si_code, si_status).
#ifndef NSGROUPS_CHILD_WATCH_H
#define NSGROUPS_CHILD_WATCH_H

#include <napi.h>
#include <sys/types.h>
#include <uv.h>

#include <initializer_list>
#include <memory>

#include "report.h"

struct EnvState;
struct SpawnMemory;  // spawn.h
class ChildHandle;

class ChildWatch {
 public:
  ChildWatch(EnvState *state, pid_t pid, int pidfd, int sync_fd, int report_fd,
             std::unique_ptr<SpawnMemory> memory);
  ~ChildWatch();

  // Starts polling; events go to callback, with `self` (the JS handle) kept alive meanwhile.
  void Start(Napi::Object self, Napi::Function callback);
  int Release();     // writes the go-ahead byte; 0 or -errno
  void CloseSync();  // the parent is done talking to the child
  int Kill(int sig); // pidfd_send_signal; 0 or -errno
  void Ref(bool ref);
  pid_t pid() const { return pid_; }

  // Environment teardown: SIGKILL, reap (bounded wait), close everything, call no JS.
  void Terminate();

  // The JS object that fronts this watch, told when the watch is deleted.
  void SetHandle(ChildHandle *handle) { handle_ = handle; }

 private:
  enum class Kind { Main, Intermediate, Report };
  struct Poll {
    uv_poll_t handle;
    ChildWatch *owner;
    int fd;  // owned: closed once the handle is closed
    Kind kind;
  };

  Poll *StartPoll(int fd, Kind kind);
  void StopPoll(Poll *&poll);
  static void OnReadable(uv_poll_t *handle, int status, int events);
  static void OnClosed(uv_handle_t *handle);

  void OnMainExit(Poll *poll);
  void OnReport();
  bool DrainReport();  // reads the records there are; true at EOF
  void HandleRecord(const nsg_report &rec);
  void AdoptChild(pid_t pid);
  void Finish();       // after exit: stop everything, then delete once the handles closed
  void Emit(const char *event, std::initializer_list<double> numbers);

  EnvState *state_;
  pid_t pid_;
  int pidfd_, sync_fd_, report_fd_;  // until Start hands them to polls
  std::unique_ptr<SpawnMemory> memory_;

  Poll *main_ = nullptr, *intermediate_ = nullptr, *report_ = nullptr;
  int open_polls_ = 0;
  bool started_ = false, exited_ = false, referenced_ = true, finished_ = false;

  char partial_[sizeof(nsg_report)];
  size_t partial_len_ = 0;

  ChildHandle *handle_ = nullptr;
  Napi::ObjectReference self_;
  Napi::FunctionReference callback_;
};

#endif
