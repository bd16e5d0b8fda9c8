// Filesystem system calls Node's fs does not offer (see fs_natives.h). Each function is one
// system call (the xattr readers: the size query plus the read) and throws, or rejects with, an
// Error carrying `errno` (negative) and `syscall`. mount, umount2 and syncfs can block on I/O
// (an unmount writes back dirty data), so they run on the thread pool and return Promises.
#include "fs_natives.h"
#include "sys_error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace {

std::string StringArg(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

// null or undefined stand for a NULL pointer (mount(2)'s source, fstype and data may be NULL).
bool OptionalStringArg(const Napi::CallbackInfo &info, size_t i, const char *name, std::string *out) {
  if (info[i].IsNull() || info[i].IsUndefined()) return false;
  *out = StringArg(info, i, name);
  return true;
}

int64_t IntegerArg(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

int64_t BigIntArg(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (!info[i].IsBigInt()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a bigint");
  bool lossless = false;
  int64_t value = info[i].As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(info.Env(), std::string(name) + " does not fit in 64 bits");
  return value;
}

// One blocking system call on the thread pool; the Promise resolves with undefined or rejects
// with the SystemError. `call` returns 0 or an errno value.
class SyscallWorker : public Napi::AsyncWorker {
 public:
  SyscallWorker(Napi::Env env, const char *syscall, std::function<int()> call)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        syscall_(syscall),
        call_(std::move(call)) {}

  static Napi::Promise Run(Napi::Env env, const char *syscall, std::function<int()> call) {
    auto *worker = new SyscallWorker(env, syscall, std::move(call));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override { err_ = call_(); }
  void OnOK() override {
    if (err_ != 0) deferred_.Reject(NsgSystemError(Env(), err_, syscall_).Value());
    else deferred_.Resolve(Env().Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  const char *syscall_;
  std::function<int()> call_;
  int err_ = 0;
};

// mount(source | null, target, fstype | null, flags, data | null): Promise<void>
Napi::Value Mount(const Napi::CallbackInfo &info) {
  std::string source, fstype, data;
  bool has_source = OptionalStringArg(info, 0, "source", &source);
  std::string target = StringArg(info, 1, "target");
  bool has_fstype = OptionalStringArg(info, 2, "fstype", &fstype);
  unsigned long flags = static_cast<unsigned long>(IntegerArg(info, 3, "flags"));
  bool has_data = OptionalStringArg(info, 4, "data", &data);
  return SyscallWorker::Run(info.Env(), "mount", [=]() {
    int rc = mount(has_source ? source.c_str() : nullptr, target.c_str(), has_fstype ? fstype.c_str() : nullptr, flags,
                   has_data ? data.c_str() : nullptr);
    return rc == 0 ? 0 : errno;
  });
}

// umount2(target, flags): Promise<void>
Napi::Value Umount2(const Napi::CallbackInfo &info) {
  std::string target = StringArg(info, 0, "target");
  int flags = static_cast<int>(IntegerArg(info, 1, "flags"));
  return SyscallWorker::Run(info.Env(), "umount2", [=]() { return umount2(target.c_str(), flags) == 0 ? 0 : errno; });
}

// syncfs(fd): Promise<void> — writes back the whole filesystem that holds fd.
Napi::Value Syncfs(const Napi::CallbackInfo &info) {
  int fd = static_cast<int>(IntegerArg(info, 0, "fd"));
  return SyscallWorker::Run(info.Env(), "syncfs", [=]() { return syncfs(fd) == 0 ? 0 : errno; });
}

// lgetxattr(path, name): Buffer. Asks for the size first; retries if the value grew meanwhile.
Napi::Value Lgetxattr(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0, "path");
  std::string name = StringArg(info, 1, "name");
  for (;;) {
    ssize_t size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) throw NsgSystemError(info.Env(), errno, "lgetxattr");
    std::vector<char> value(static_cast<size_t>(size) + 1);
    ssize_t got = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (got < 0 && errno == ERANGE) continue;
    if (got < 0) throw NsgSystemError(info.Env(), errno, "lgetxattr");
    return Napi::Buffer<char>::Copy(info.Env(), value.data(), static_cast<size_t>(got));
  }
}

// llistxattr(path): string[] — the kernel's NUL-separated list, split.
Napi::Value Llistxattr(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0, "path");
  for (;;) {
    ssize_t size = llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) throw NsgSystemError(info.Env(), errno, "llistxattr");
    std::vector<char> list(static_cast<size_t>(size) + 1);
    ssize_t got = llistxattr(path.c_str(), list.data(), list.size());
    if (got < 0 && errno == ERANGE) continue;
    if (got < 0) throw NsgSystemError(info.Env(), errno, "llistxattr");
    Napi::Array names = Napi::Array::New(info.Env());
    uint32_t n = 0;
    for (ssize_t start = 0; start < got;) {
      size_t len = strnlen(list.data() + start, static_cast<size_t>(got - start));
      if (len > 0) names.Set(n++, Napi::String::New(info.Env(), list.data() + start, len));
      start += static_cast<ssize_t>(len) + 1;
    }
    return names;
  }
}

// lsetxattr(path, name, value: Buffer, flags): void
Napi::Value Lsetxattr(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0, "path");
  std::string name = StringArg(info, 1, "name");
  if (!info[2].IsBuffer()) throw Napi::TypeError::New(info.Env(), "value must be a Buffer");
  Napi::Buffer<char> value = info[2].As<Napi::Buffer<char>>();
  int flags = static_cast<int>(IntegerArg(info, 3, "flags"));
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), flags) != 0)
    throw NsgSystemError(info.Env(), errno, "lsetxattr");
  return info.Env().Undefined();
}

// mknod(path, mode, major, minor): void — mode includes the file type (S_IFCHR…).
Napi::Value Mknod(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0, "path");
  mode_t mode = static_cast<mode_t>(IntegerArg(info, 1, "mode"));
  unsigned int major_number = static_cast<unsigned int>(IntegerArg(info, 2, "major"));
  unsigned int minor_number = static_cast<unsigned int>(IntegerArg(info, 3, "minor"));
  if (mknod(path.c_str(), mode, makedev(major_number, minor_number)) != 0)
    throw NsgSystemError(info.Env(), errno, "mknod");
  return info.Env().Undefined();
}

// utimensat(path, atimeNs: bigint, mtimeNs: bigint, flags): void — nanoseconds since the epoch,
// which Node's utimes (seconds as a double) cannot carry exactly.
Napi::Value Utimensat(const Napi::CallbackInfo &info) {
  std::string path = StringArg(info, 0, "path");
  int64_t atime = BigIntArg(info, 1, "atimeNs");
  int64_t mtime = BigIntArg(info, 2, "mtimeNs");
  int flags = static_cast<int>(IntegerArg(info, 3, "flags"));
  auto split = [](int64_t ns) {
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    if (ts.tv_nsec < 0) {  // times before 1970: keep tv_nsec in [0, 1e9)
      ts.tv_sec -= 1;
      ts.tv_nsec += 1000000000;
    }
    return ts;
  };
  struct timespec times[2] = {split(atime), split(mtime)};
  if (utimensat(AT_FDCWD, path.c_str(), times, flags) != 0) throw NsgSystemError(info.Env(), errno, "utimensat");
  return info.Env().Undefined();
}

Napi::Object FsConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("MS_RDONLY", static_cast<double>(MS_RDONLY));
  c.Set("MS_NOSUID", static_cast<double>(MS_NOSUID));
  c.Set("MS_NODEV", static_cast<double>(MS_NODEV));
  c.Set("MS_NOEXEC", static_cast<double>(MS_NOEXEC));
  c.Set("MS_REMOUNT", static_cast<double>(MS_REMOUNT));
  c.Set("MS_BIND", static_cast<double>(MS_BIND));
  c.Set("MS_REC", static_cast<double>(MS_REC));
  c.Set("MS_PRIVATE", static_cast<double>(MS_PRIVATE));
  c.Set("MS_SLAVE", static_cast<double>(MS_SLAVE));
  c.Set("MNT_FORCE", static_cast<double>(MNT_FORCE));
  c.Set("MNT_DETACH", static_cast<double>(MNT_DETACH));
  c.Set("UMOUNT_NOFOLLOW", static_cast<double>(UMOUNT_NOFOLLOW));
  c.Set("XATTR_CREATE", static_cast<double>(XATTR_CREATE));
  c.Set("XATTR_REPLACE", static_cast<double>(XATTR_REPLACE));
  c.Set("AT_SYMLINK_NOFOLLOW", static_cast<double>(AT_SYMLINK_NOFOLLOW));
  return c;
}

}  // namespace

void RegisterFsNatives(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount, "mount"));
  exports.Set("umount2", Napi::Function::New(env, Umount2, "umount2"));
  exports.Set("syncfs", Napi::Function::New(env, Syncfs, "syncfs"));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr, "lgetxattr"));
  exports.Set("llistxattr", Napi::Function::New(env, Llistxattr, "llistxattr"));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr, "lsetxattr"));
  exports.Set("mknod", Napi::Function::New(env, Mknod, "mknod"));
  exports.Set("utimensat", Napi::Function::New(env, Utimensat, "utimensat"));
  exports.Set("fsConstants", FsConstants(env));
}
