// Environment teardown. An async cleanup hook (napi_add_async_cleanup_hook) rather than a plain
// one: closing our uv handles needs the loop to turn once more before a worker's loop is closed.
#include "env_state.h"

#include <vector>

#include "child_watch.h"

static void OnTeardown(napi_async_cleanup_hook_handle handle, void *arg) {
  EnvState *state = static_cast<EnvState *>(arg);
  state->tearing_down = true;
  state->cleanup = handle;
  std::vector<ChildWatch *> live(state->live.begin(), state->live.end());
  for (ChildWatch *watch : live) watch->Terminate();
  if (state->live.empty() && state->cleanup) {  // else the last closing handle removes it
    state->cleanup = nullptr;
    napi_remove_async_cleanup_hook(handle);
  }
}

EnvState *EnvState::Install(Napi::Env env) {
  EnvState *state = new EnvState();
  state->env = env;
  napi_get_uv_event_loop(env, &state->loop);
  env.SetInstanceData<EnvState>(state);
  napi_add_async_cleanup_hook(env, OnTeardown, state, nullptr);
  return state;
}

void EnvState::Forget(ChildWatch *watch) {
  live.erase(watch);
  if (tearing_down && live.empty() && cleanup) {
    napi_async_cleanup_hook_handle handle = cleanup;
    cleanup = nullptr;
    napi_remove_async_cleanup_hook(handle);
  }
}
