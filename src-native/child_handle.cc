#include "child_handle.h"

#include <errno.h>

#include "child_watch.h"
#include "handover.h"

Napi::Function ChildHandle::Define(Napi::Env env) {
  return DefineClass(env, "ChildHandle",
                     {InstanceMethod<&ChildHandle::Start>("start"), InstanceMethod<&ChildHandle::Release>("release"),
                      InstanceMethod<&ChildHandle::CloseSync>("closeSync"),
                      InstanceMethod<&ChildHandle::HandOver>("handOver"), InstanceMethod<&ChildHandle::Kill>("kill"),
                      InstanceMethod<&ChildHandle::Ref>("ref"), InstanceMethod<&ChildHandle::Unref>("unref")});
}

ChildHandle::ChildHandle(const Napi::CallbackInfo &info) : Napi::ObjectWrap<ChildHandle>(info) {
  if (!info[0].IsExternal()) {
    Napi::TypeError::New(info.Env(), "ChildHandle is made by spawn()").ThrowAsJavaScriptException();
    return;
  }
  watch_ = info[0].As<Napi::External<ChildWatch>>().Data();
  watch_->SetHandle(this);
}

ChildHandle::~ChildHandle() {
  if (watch_) watch_->SetHandle(nullptr);
}

Napi::Value ChildHandle::Start(const Napi::CallbackInfo &info) {
  if (watch_ && info[0].IsFunction()) watch_->Start(info.This().As<Napi::Object>(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value ChildHandle::Release(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), watch_ ? watch_->Release() : -ESRCH);
}

Napi::Value ChildHandle::CloseSync(const Napi::CallbackInfo &info) {
  if (watch_) watch_->CloseSync();
  return info.Env().Undefined();
}

Napi::Value ChildHandle::HandOver(const Napi::CallbackInfo &info) {
  return ::HandOver(info.Env(), watch_, info[0]);
}

Napi::Value ChildHandle::Kill(const Napi::CallbackInfo &info) {
  int sig = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 15;
  return Napi::Number::New(info.Env(), watch_ ? watch_->Kill(sig) : -ESRCH);
}

Napi::Value ChildHandle::Ref(const Napi::CallbackInfo &info) {
  if (watch_) watch_->Ref(true);
  return info.Env().Undefined();
}

Napi::Value ChildHandle::Unref(const Napi::CallbackInfo &info) {
  if (watch_) watch_->Ref(false);
  return info.Env().Undefined();
}
