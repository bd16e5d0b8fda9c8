// The JavaScript face of a ChildWatch: start(cb), release(), closeSync(), handOver(command),
// kill(sig), ref(), unref(). Methods after the child is gone answer -ESRCH instead of touching freed memory.
#ifndef NSGROUPS_CHILD_HANDLE_H
#define NSGROUPS_CHILD_HANDLE_H

#include <napi.h>

class ChildWatch;

class ChildHandle : public Napi::ObjectWrap<ChildHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ChildHandle(const Napi::CallbackInfo &info);
  ~ChildHandle();

  // ChildWatch calls this when it is deleted.
  void Detach() { watch_ = nullptr; }

 private:
  Napi::Value Start(const Napi::CallbackInfo &info);
  Napi::Value Release(const Napi::CallbackInfo &info);
  Napi::Value CloseSync(const Napi::CallbackInfo &info);
  Napi::Value HandOver(const Napi::CallbackInfo &info);
  Napi::Value Kill(const Napi::CallbackInfo &info);
  Napi::Value Ref(const Napi::CallbackInfo &info);
  Napi::Value Unref(const Napi::CallbackInfo &info);

  ChildWatch *watch_ = nullptr;
};

#endif
