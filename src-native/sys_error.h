// A JS Error for a failed system call, shaped as lib/ expects from the binding: `errno`
// (negative, as in Node's SystemError) and `syscall`; lib/ turns it into an NsgroupsError.
#ifndef NSGROUPS_SYS_ERROR_H
#define NSGROUPS_SYS_ERROR_H

#include <napi.h>
#include <string.h>

#include <string>

inline Napi::Error NsgSystemError(Napi::Env env, int err, const char *syscall, const std::string &detail = "") {
  std::string message = std::string(syscall) + ": " + strerror(err);
  if (!detail.empty()) message += " (" + detail + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

// An int32 argument, or a TypeError: lib/ validated everything, so this only guards misuse.
inline int NsgIntArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number argument");
  return info[i].As<Napi::Number>().Int32Value();
}

inline std::string NsgStringArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), "expected a string argument");
  return info[i].As<Napi::String>().Utf8Value();
}

#endif
