// Per-environment state (main thread or a worker): the children it spawned that are still alive,
// so that a shutting-down environment kills and reaps them instead of leaving orphans.
#ifndef NSGROUPS_ENV_STATE_H
#define NSGROUPS_ENV_STATE_H

#include <napi.h>
#include <uv.h>

#include <unordered_set>

class ChildWatch;

struct EnvState {
  napi_env env = nullptr;
  uv_loop_t *loop = nullptr;
  std::unordered_set<ChildWatch *> live;
  Napi::FunctionReference child_ctor;
  napi_async_cleanup_hook_handle cleanup = nullptr;
  bool tearing_down = false;

  static EnvState *Get(Napi::Env env) { return env.GetInstanceData<EnvState>(); }
  static EnvState *Install(Napi::Env env);

  // A child's handles are closed: forget it, and finish teardown once none is left.
  void Forget(ChildWatch *watch);
};

#endif
