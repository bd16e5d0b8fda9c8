#include "cgroup_eventfd.h"
#include "sys_error.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <string>
#include <unordered_set>
#include <vector>

namespace {

struct Poller;

// Per environment: the live pollers, so teardown can close them before the loop goes away.
struct EventfdState {
  uv_loop_t *loop = nullptr;
  std::unordered_set<Poller *> live;
  napi_async_cleanup_hook_handle cleanup = nullptr;
  bool tearing_down = false;
};

class EventfdWatch;

// The uv side of one watch. It outlives its JS object only while its handle is closing.
struct Poller {
  uv_poll_t handle;
  int fd = -1;
  EventfdState *state = nullptr;
  EventfdWatch *wrap = nullptr;
  Napi::FunctionReference callback;
  Napi::ObjectReference self;  // keeps the JS object alive while polling
  bool closing = false;
};

void FinishTeardown(EventfdState *state) {
  if (state->tearing_down && state->live.empty() && state->cleanup) {
    napi_async_cleanup_hook_handle handle = state->cleanup;
    state->cleanup = nullptr;
    napi_remove_async_cleanup_hook(handle);
    delete state;
  }
}

class EventfdWatch : public Napi::ObjectWrap<EventfdWatch> {
 public:
  static Napi::Function Define(Napi::Env env, EventfdState *state) {
    return DefineClass(env, "EventfdWatch",
                       {InstanceAccessor<&EventfdWatch::Fd>("fd"), InstanceMethod<&EventfdWatch::Close>("close"),
                        InstanceMethod<&EventfdWatch::Ref>("ref"), InstanceMethod<&EventfdWatch::Unref>("unref")},
                       state);
  }

  explicit EventfdWatch(const Napi::CallbackInfo &info) : Napi::ObjectWrap<EventfdWatch>(info) {
    Napi::Env env = info.Env();
    EventfdState *state = static_cast<EventfdState *>(info.Data());
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(env, "EventfdWatch(callback): callback must be a function").ThrowAsJavaScriptException();
      return;
    }
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) {
      ThrowSystemError(env, errno, "eventfd");
      return;
    }
    Poller *p = new Poller();
    p->fd = fd;
    p->state = state;
    p->handle.data = p;
    int r = uv_poll_init(state->loop, &p->handle, fd);
    if (r != 0) {
      close(fd);
      delete p;
      ThrowSystemError(env, -r, "uv_poll_init");
      return;
    }
    p->wrap = this;
    p->callback = Napi::Persistent(info[0].As<Napi::Function>());
    p->self = Napi::Persistent(info.This().As<Napi::Object>());
    state->live.insert(p);
    uv_poll_start(&p->handle, UV_READABLE, OnReadable);
    poller_ = p;
  }

  ~EventfdWatch() override {
    if (poller_) {
      poller_->wrap = nullptr;
      StartClose(poller_);
    }
  }

  // Stops polling and closes the eventfd (which also unregisters it in the kernel). No JS is
  // called from here, so environment teardown can use it.
  static void StartClose(Poller *p) {
    if (p->closing) return;
    p->closing = true;
    if (p->wrap) p->wrap->poller_ = nullptr;
    p->wrap = nullptr;
    p->callback.Reset();
    p->self.Reset();
    uv_poll_stop(&p->handle);
    uv_close(reinterpret_cast<uv_handle_t *>(&p->handle), OnClosed);
  }

  static void CloseAll(EventfdState *state) {
    std::vector<Poller *> live(state->live.begin(), state->live.end());
    for (Poller *p : live) StartClose(p);
  }

 private:
  static void ThrowSystemError(Napi::Env env, int err, const char *syscall) {
    NsgSystemError(env, err, syscall).ThrowAsJavaScriptException();
  }

  static void OnReadable(uv_poll_t *handle, int status, int events) {
    (void)events;
    Poller *p = static_cast<Poller *>(handle->data);
    if (p->closing || p->state->tearing_down) return;
    uint64_t count = 0;
    ssize_t n;
    do n = read(p->fd, &count, sizeof count);
    while (n < 0 && errno == EINTR);
    if (status < 0 || (n < 0 && errno != EAGAIN)) count = 0;  // report a wakeup anyway: JS re-reads state
    else if (n != (ssize_t)sizeof count) return;  // spurious (EAGAIN)
    Napi::Env env = p->callback.Env();
    Napi::HandleScope scope(env);
    // MakeCallback: microtasks run and async context is kept, as for any libuv callback.
    try {
      p->callback.MakeCallback(p->self.Value(), {Napi::Number::New(env, (double)count)});
    } catch (const Napi::Error &e) {
      napi_fatal_exception(env, e.Value());  // the callback threw: an uncaught exception, as from any event
    }
  }

  static void OnClosed(uv_handle_t *handle) {
    Poller *p = static_cast<Poller *>(handle->data);
    EventfdState *state = p->state;
    close(p->fd);
    state->live.erase(p);
    delete p;
    FinishTeardown(state);
  }

  Napi::Value Fd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), poller_ ? poller_->fd : -1); }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    if (poller_) StartClose(poller_);
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo &info) {
    if (poller_) uv_ref(reinterpret_cast<uv_handle_t *>(&poller_->handle));
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo &info) {
    if (poller_) uv_unref(reinterpret_cast<uv_handle_t *>(&poller_->handle));
    return info.Env().Undefined();
  }

  Poller *poller_ = nullptr;
};

// An async cleanup hook (not a plain one): closing uv handles needs one more turn of the loop
// before a worker's loop is closed (the same reason as env_state.cc).
void OnTeardown(napi_async_cleanup_hook_handle handle, void *arg) {
  EventfdState *state = static_cast<EventfdState *>(arg);
  state->tearing_down = true;
  state->cleanup = handle;
  EventfdWatch::CloseAll(state);
  FinishTeardown(state);  // nothing was open: done now; else the last OnClosed finishes
}

}  // namespace

void RegisterCgroupNatives(Napi::Env env, Napi::Object exports) {
  EventfdState *state = new EventfdState();
  napi_get_uv_event_loop(env, &state->loop);
  napi_add_async_cleanup_hook(env, OnTeardown, state, nullptr);
  exports.Set("EventfdWatch", EventfdWatch::Define(env, state));
}
