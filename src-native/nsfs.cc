// ioctl_ns(2) on namespace fds, and pinning by bind mount. Mechanism only: lib/namespace opens
// the fds (O_CLOEXEC), checks identities and decides what an errno means.
#include "nsfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "sys_error.h"

namespace {

// NS_GET_USERNS / NS_GET_PARENT hand back a new fd. The kernel opens it O_CLOEXEC
// (fs/nsfs.c open_related_ns); we check rather than trust it, since a leaked namespace fd
// in an exec'd child would keep that namespace alive and let the child setns into it.
Napi::Value RelatedNamespace(const Napi::CallbackInfo &info, unsigned long request, const char *what) {
  int fd = NsgIntArg(info, 0);
  int related = ioctl(fd, request);
  if (related < 0) throw NsgSystemError(info.Env(), errno, "ioctl", what);
  int flags = fcntl(related, F_GETFD);
  if (flags < 0 || (!(flags & FD_CLOEXEC) && fcntl(related, F_SETFD, flags | FD_CLOEXEC) < 0)) {
    int err = errno;
    close(related);
    throw NsgSystemError(info.Env(), err, "fcntl", "FD_CLOEXEC");
  }
  return Napi::Number::New(info.Env(), related);
}

// The CLONE_NEW* flag of the namespace `fd` refers to.
Napi::Value GetType(const Napi::CallbackInfo &info) {
  int type = ioctl(NsgIntArg(info, 0), NS_GET_NSTYPE);
  if (type < 0) throw NsgSystemError(info.Env(), errno, "ioctl", "NS_GET_NSTYPE");
  return Napi::Number::New(info.Env(), type);
}

// The owning user namespace; EPERM when it lies outside the caller's view (ioctl_ns(2)).
Napi::Value GetUserns(const Napi::CallbackInfo &info) {
  return RelatedNamespace(info, NS_GET_USERNS, "NS_GET_USERNS");
}

// The parent of a pid or user namespace; EPERM at the top the caller can see, EINVAL for the
// other types (ioctl_ns(2)).
Napi::Value GetParent(const Napi::CallbackInfo &info) {
  return RelatedNamespace(info, NS_GET_PARENT, "NS_GET_PARENT");
}

// The uid (in the caller's user namespace) that created a user namespace.
Napi::Value GetOwnerUid(const Napi::CallbackInfo &info) {
  uid_t uid = 0;
  if (ioctl(NsgIntArg(info, 0), NS_GET_OWNER_UID, &uid) < 0) {
    throw NsgSystemError(info.Env(), errno, "ioctl", "NS_GET_OWNER_UID");
  }
  return Napi::Number::New(info.Env(), uid);
}

// Bind-mounts a namespace file (/proc/PID/ns/TYPE or /proc/self/fd/N) onto an existing file:
// the mount holds a reference, so the namespace outlives its last member (ip-netns(8)).
Napi::Value Pin(const Napi::CallbackInfo &info) {
  std::string source = NsgStringArg(info, 0), target = NsgStringArg(info, 1);
  if (mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    throw NsgSystemError(info.Env(), errno, "mount", target);
  }
  return info.Env().Undefined();
}

// Detaches the pin's mount. MNT_DETACH: a process holding the file open must not make this
// fail with EBUSY (ip netns del does the same); UMOUNT_NOFOLLOW: never follow a symlink
// planted at the path.
Napi::Value Unpin(const Napi::CallbackInfo &info) {
  std::string target = NsgStringArg(info, 0);
  if (umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
    throw NsgSystemError(info.Env(), errno, "umount2", target);
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterNsfsNatives(Napi::Env env, Napi::Object exports) {
  exports.Set("nsGetType", Napi::Function::New(env, GetType));
  exports.Set("nsGetUserns", Napi::Function::New(env, GetUserns));
  exports.Set("nsGetParent", Napi::Function::New(env, GetParent));
  exports.Set("nsGetOwnerUid", Napi::Function::New(env, GetOwnerUid));
  exports.Set("nsPin", Napi::Function::New(env, Pin));
  exports.Set("nsUnpin", Napi::Function::New(env, Unpin));
}
