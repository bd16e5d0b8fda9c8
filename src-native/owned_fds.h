// fds a call created; whatever is still listed when it goes out of scope gets closed, so that a
// failure half way (a thrown Napi error) leaves nothing open.
#ifndef NSGROUPS_OWNED_FDS_H
#define NSGROUPS_OWNED_FDS_H

#include <fcntl.h>
#include <unistd.h>

#include <vector>

class OwnedFds {
 public:
  OwnedFds() = default;
  OwnedFds(const OwnedFds &) = delete;
  OwnedFds &operator=(const OwnedFds &) = delete;
  ~OwnedFds() {
    for (int fd : fds_) close(fd);
  }
  int Add(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  void Keep(int fd) {  // handed over to the caller
    for (auto it = fds_.begin(); it != fds_.end(); ++it)
      if (*it == fd) {
        fds_.erase(it);
        return;
      }
  }
  // fcntl(F_DUPFD_CLOEXEC) to at least `min` (child-side internal fds must stay clear of the
  // stdio slots the child will overwrite); returns the new fd.
  int Lift(int fd, int min) {
    if (fd < 0 || fd >= min) return fd;
    int lifted = Add(fcntl(fd, F_DUPFD_CLOEXEC, min));
    if (lifted < 0) return -1;
    Keep(fd);
    close(fd);
    return lifted;
  }

 private:
  std::vector<int> fds_;
};

#endif
