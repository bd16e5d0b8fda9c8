// One spawn seen from the parent: the processes it made (pidfds), the report pipe (setup errors,
// requests, pids), the sync pipe (go-ahead bytes), and the memory its children may share with
// us (CLONE_VM). Events reach JavaScript through one callback: ("record", kind, step, err,
// index, value) for errors and requests, ("child_pid", pid) once the command's process is
// known, ("violation", reason) for a report that breaks the protocol, ("eof"), and last
// ("exit", si_code, si_status, user_us, system_us, max_rss_kb, nvcsw, nivcsw): the exit and
// the rusage the kernel gave when it reaped the command's process and the init.
//
// The processes: the first child; with a pid namespace made or joined after clone, it forks
// the init (pid 1) and the command's process as our own children and exits. The command's
// process is then the one whose exit is the spawn's exit; the init is killed once it has
// ended, and 'exit' comes only when every process of the spawn is reaped.
#ifndef NSGROUPS_CHILD_WATCH_H
#define NSGROUPS_CHILD_WATCH_H

#include <napi.h>
#include <sys/types.h>
#include <uv.h>

#include <initializer_list>
#include <memory>
#include <vector>

#include "report.h"

struct EnvState;
struct rusage;
struct SpawnMemory;  // spawn.h
struct HandoverMemory;  // spawn.h
class ChildHandle;

// Why a report broke the protocol (the "violation" event's argument).
enum class Violation : int {
  kMalformed = 1,  // bad magic, unknown kind
  kTooMany = 2,  // more records than any plan writes
  kOutOfState = 3,  // a pid report that cannot come now (twice, unexpected role, after release)
  kNotOurChild = 4  // a pid that is not a child of ours
};

class ChildWatch {
 public:
  // Which processes the first child forks into a pid namespace and reports.
  struct Expect {
    bool command;  // the command's process (fork_into_pidns)
    bool init;  // the init
  };

  ChildWatch(EnvState *state, pid_t pid, int pidfd, int sync_fd, int report_fd, Expect expect,
             std::unique_ptr<SpawnMemory> memory, std::unique_ptr<HandoverMemory> handover);
  ~ChildWatch();

  // Starts polling; events go to callback, with `self` (the JS handle) kept alive meanwhile.
  void Start(Napi::Object self, Napi::Function callback);
  int Release();  // writes the first go-ahead byte; 0 or -errno
  void CloseSync();  // the parent is done talking to the child (EOF: a waiting child exits)
  int Kill(int sig);  // the command (pidfd_send_signal); before its process exists, see .cc
  void Ref(bool ref);
  pid_t pid() const { return pid_; }

  // A parked child (plan.park) that has said so, and not been handed its command yet: the
  // shared memory to write the command into, else null.
  HandoverMemory *ParkedMemory();
  // Sends the hand-over message (a byte and `fds`, SCM_RIGHTS); once. 0 or -errno.
  int SendHandover(const std::vector<int> &fds);

  // Environment teardown: SIGKILL, reap (bounded wait), close everything, call no JS.
  void Terminate();

  // The JS object that fronts this watch, told when the watch is deleted.
  void SetHandle(ChildHandle *handle) { handle_ = handle; }

 private:
  enum class Kind { Main, First, Init, Report };
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

  void OnProcessExit(Poll *poll);
  void OnReport();
  bool DrainReport();  // reads the records there are; true at EOF
  void HandleRecord(const nsg_report &rec);
  void Adopt(int role, pid_t pid);
  void Violate(Violation why);
  void KillAll();
  void AddUsage(const struct rusage &ru);
  void MaybeFinish();  // once the main process exited: end the init, wait for the rest
  void Finish();  // stop everything, then delete once the handles closed
  void Emit(const char *event, std::initializer_list<double> numbers);

  EnvState *state_;
  pid_t pid_;
  int pidfd_, sync_fd_, report_fd_;  // until Start hands them to polls
  Expect expect_;
  std::unique_ptr<SpawnMemory> memory_;
  std::unique_ptr<HandoverMemory> handover_;
  bool parked_ = false, handed_over_ = false;

  Poll *main_ = nullptr, *first_ = nullptr, *init_ = nullptr, *report_ = nullptr;
  int open_polls_ = 0;
  bool started_ = false, referenced_ = true, finished_ = false;
  bool command_adopted_ = false, init_adopted_ = false, children_released_ = false;
  bool violated_ = false, init_killed_ = false;
  bool main_exited_ = false;
  int exit_code_ = 0, exit_status_ = 0;  // the main process's si_code, si_status
  int pending_signal_ = 0;  // asked for before the command's process existed
  int records_ = 0;
  // summed over the reaped processes that count (child_watch.cc OnProcessExit); max_rss a peak
  struct Usage {
    double user_us = 0, system_us = 0, max_rss_kb = 0, voluntary = 0, involuntary = 0;
  } usage_;

  char partial_[sizeof(nsg_report)];
  size_t partial_len_ = 0;

  ChildHandle *handle_ = nullptr;
  Napi::ObjectReference self_;
  Napi::FunctionReference callback_;
};

#endif
