// Module registration. Context-aware: each environment (main thread, every worker) gets its own
// EnvState and ChildHandle class.
#include <napi.h>

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "bpf.h"
#include "cgroup_eventfd.h"
#include "child.h"
#include "child_handle.h"
#include "child_watch.h"
#include "env_state.h"
#include "fs_natives.h"
#include "netlink.h"
#include "nsfs.h"
#include "plan_reader.h"
#include "report.h"
#include "spawn.h"

namespace {

Napi::Array Steps(Napi::Env env) {
  struct Step {
    const char *name, *syscall;
  };
#define NSG_STEP_ENTRY(id, name, syscall) {name, syscall},
  static const Step steps[] = {NSG_STEPS(NSG_STEP_ENTRY)};
#undef NSG_STEP_ENTRY
  Napi::Array array = Napi::Array::New(env, NSG_STEP_COUNT);
  for (uint32_t i = 0; i < NSG_STEP_COUNT; i++) {
    Napi::Object step = Napi::Object::New(env);
    step.Set("name", steps[i].name);
    step.Set("syscall", steps[i].syscall);
    array.Set(i, step);
  }
  return array;
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object ops = Napi::Object::New(env);
  ops.Set("mount", (int)NSG_OP_MOUNT);
  ops.Set("bind", (int)NSG_OP_BIND);
  ops.Set("mkdir", (int)NSG_OP_MKDIR);
  ops.Set("mkfile", (int)NSG_OP_MKFILE);
  ops.Set("symlink", (int)NSG_OP_SYMLINK);
  ops.Set("setattr", (int)NSG_OP_SETATTR);
  ops.Set("root", (int)NSG_OP_ROOT);
  ops.Set("pivotRoot", (int)NSG_OP_PIVOT_ROOT);
  ops.Set("sethostname", (int)NSG_OP_SETHOSTNAME);
  ops.Set("loopbackUp", (int)NSG_OP_LOOPBACK_UP);
  ops.Set("earlyIds", (int)NSG_OP_EARLY_IDS);
  ops.Set("mask", (int)NSG_OP_MASK);
  ops.Set("readonly", (int)NSG_OP_READONLY);
  ops.Set("dev", (int)NSG_OP_DEV);
  Napi::Object reports = Napi::Object::New(env);
  reports.Set("error", (int)NSG_REPORT_ERROR);
  reports.Set("request", (int)NSG_REPORT_REQUEST);
  Napi::Object requests = Napi::Object::New(env);
  requests.Set("idMaps", (int)NSG_REQUEST_ID_MAPS);
  requests.Set("timeOffsets", (int)NSG_REQUEST_TIME_OFFSETS);
  Napi::Object violations = Napi::Object::New(env);
  violations.Set("malformed", (int)Violation::kMalformed);
  violations.Set("tooMany", (int)Violation::kTooMany);
  violations.Set("outOfState", (int)Violation::kOutOfState);
  violations.Set("notOurChild", (int)Violation::kNotOurChild);
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("ops", ops);
  constants.Set("reports", reports);
  constants.Set("requests", requests);
  constants.Set("violations", violations);
  return constants;
}

// Kills and reaps every live child of this environment now (process.on('exit'): process.exit()
// skips the environment's cleanup hooks, and a child must not outlive its environment).
Napi::Value TerminateAll(const Napi::CallbackInfo &info) {
  EnvState *state = EnvState::Get(info.Env());
  std::vector<ChildWatch *> live(state->live.begin(), state->live.end());
  for (ChildWatch *watch : live) watch->Terminate();
  return info.Env().Undefined();
}

// Is clone3 there? With no arguments the kernel answers EINVAL if it is, ENOSYS (or a seccomp
// filter's errno) if not.
Napi::Value ProbeClone3(const Napi::CallbackInfo &info) {
  long r = syscall(__NR_clone3, nullptr, 0);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// Landlock's ABI version (landlock_create_ruleset with LANDLOCK_CREATE_RULESET_VERSION), or -errno.
Napi::Value ProbeLandlock(const Napi::CallbackInfo &info) {
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
  long r = syscall(__NR_landlock_create_ruleset, nullptr, 0, 1U /* LANDLOCK_CREATE_RULESET_VERSION */);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

Napi::Value StrError(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), strerror(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvState *state = EnvState::Install(env);
  state->child_ctor = Napi::Persistent(ChildHandle::Define(env));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("terminateAll", Napi::Function::New(env, TerminateAll));
  exports.Set("strerror", Napi::Function::New(env, StrError));
  exports.Set("probeClone3", Napi::Function::New(env, ProbeClone3));
  exports.Set("probeLandlock", Napi::Function::New(env, ProbeLandlock));
  exports.Set("steps", Steps(env));
  exports.Set("constants", Constants(env));
  exports.Set("planSchema", PlanSchema(env));
  RegisterCgroupNatives(env, exports);
  RegisterBpfNatives(env, exports);
  RegisterFsNatives(env, exports);
  RegisterNsfsNatives(env, exports);
  RegisterNetlinkNatives(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(nsgroups, Init)
