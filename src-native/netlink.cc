// rtnetlink(7) requests over a NETLINK_ROUTE socket. A netlink socket acts on the network
// namespace it was created in, for its whole life (network_namespaces(7)); so to work in a
// sandbox's namespace we create the socket there, on a dedicated short-lived thread that
// setns()es and exits (setns(2): joining a network namespace changes only the calling thread,
// and it is allowed in a multithreaded process). The JS thread and libuv's pool never change
// namespace. Every request after that runs on the calling thread with the socket fd.
#include "netlink.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "sys_error.h"

namespace {

std::atomic<uint32_t> next_seq{1};

// One request: header, fixed payload (ifinfomsg / ifaddrmsg), then attributes, nested ones
// closed by End(). Offsets, not pointers: the buffer grows.
class Request {
 public:
  Request(uint16_t type, uint16_t flags) : buf_(NLMSG_HDRLEN, 0) {
    Header()->nlmsg_type = type;
    Header()->nlmsg_flags = NLM_F_REQUEST | flags;
  }
  template <class T>
  void Put(const T &payload) {
    Append(&payload, sizeof payload);
  }
  void Attr(uint16_t type, const void *data, size_t len) {
    rtattr rta{};
    rta.rta_len = RTA_LENGTH(len);
    rta.rta_type = type;
    Append(&rta, sizeof rta);  // 4 bytes: already aligned
    Append(data, len);  // padded; rta_len counts the data unpadded
  }
  void AttrU32(uint16_t type, uint32_t value) { Attr(type, &value, sizeof value); }
  void AttrString(uint16_t type, const std::string &s) { Attr(type, s.c_str(), s.size() + 1); }
  size_t Begin(uint16_t type) {
    size_t at = buf_.size();
    Attr(type, nullptr, 0);
    return at;
  }
  void End(size_t at) { reinterpret_cast<rtattr *>(&buf_[at])->rta_len = buf_.size() - at; }
  nlmsghdr *Finish(uint32_t seq) {
    Header()->nlmsg_len = buf_.size();
    Header()->nlmsg_seq = seq;
    return Header();
  }

 private:
  nlmsghdr *Header() { return reinterpret_cast<nlmsghdr *>(buf_.data()); }
  void Append(const void *data, size_t len) {
    size_t at = buf_.size();
    buf_.resize(at + NLMSG_ALIGN(len), 0);  // NLMSG_ALIGN == RTA_ALIGN == 4
    if (len) memcpy(&buf_[at], data, len);
  }
  std::vector<char> buf_;
};

// The kernel's own explanation of an error (NETLINK_EXT_ACK), when it gave one.
std::string ExtAckMessage(const nlmsghdr *h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const auto *err = static_cast<const nlmsgerr *>(NLMSG_DATA(h));
  size_t offset = sizeof(nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
  const char *start = reinterpret_cast<const char *>(err) + offset;
  const char *end = reinterpret_cast<const char *>(h) + h->nlmsg_len;
  int len = end - start;
  for (auto *a = reinterpret_cast<const rtattr *>(start); len > 0 && RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == NLMSGERR_ATTR_MSG) return std::string(static_cast<const char *>(RTA_DATA(a)));
  }
  return "";
}

// Sends `req` and reads until its ack (or, for a dump, NLMSG_DONE), handing every reply
// message to `on_reply`. A kernel error becomes a thrown JS error (errno, syscall 'netlink').
void Transact(Napi::Env env, int fd, Request &req, const char *what,
              const std::function<void(const nlmsghdr *)> &on_reply = nullptr) {
  uint32_t seq = next_seq++;
  nlmsghdr *out = req.Finish(seq);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do sent = sendto(fd, out, out->nlmsg_len, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) throw NsgSystemError(env, errno, "sendto", what);

  std::vector<char> buf(65536);
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw NsgSystemError(env, errno, "recv", what);
    if (static_cast<size_t>(n) > buf.size()) throw NsgSystemError(env, EMSGSIZE, "recv", what);
    int len = n;
    for (auto *h = reinterpret_cast<const nlmsghdr *>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;  // a late reply to an earlier request
      if (h->nlmsg_type == NLMSG_ERROR) {
        int err = -static_cast<const nlmsgerr *>(NLMSG_DATA(h))->error;
        if (err == 0) return;  // the ack
        std::string detail = ExtAckMessage(h);
        Napi::Error error =
            NsgSystemError(env, err, "netlink", detail.empty() ? what : std::string(what) + ": " + detail);
        if (!detail.empty()) error.Set("extack", detail);
        throw error;
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        int err = h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) ? -*static_cast<const int *>(NLMSG_DATA(h)) : 0;
        if (err > 0) throw NsgSystemError(env, err, "netlink", what);
        return;
      }
      if (on_reply) on_reply(h);
    }
  }
}

void ConfigureSocket(int fd) {
  int one = 1;
  // Best effort: ext-ack only improves messages; CAP_ACK keeps acks small.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  // The kernel always answers; this only bounds a wait that should never happen.
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

// netlinkOpen(nsFd): a NETLINK_ROUTE socket (close-on-exec) in the network namespace of
// nsFd, or in the caller's with -1. The caller closes it.
Napi::Value Open(const Napi::CallbackInfo &info) {
  int ns_fd = NsgIntArg(info, 0);
  int fd = -1, err = 0;
  const char *syscall = "socket";
  auto make = [&]() {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) err = errno;
  };
  if (ns_fd < 0) {
    make();
  } else {
    try {
      std::thread worker([&]() {
        // No signal may land on this thread while it lives in another namespace.
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        if (setns(ns_fd, CLONE_NEWNET) < 0) {
          err = errno;
          syscall = "setns";
          return;
        }
        make();
      });  // the thread ends here, and its namespace with it
      worker.join();
    } catch (const std::system_error &e) {
      throw NsgSystemError(info.Env(), e.code().value(), "pthread_create", "netlink thread");
    }
  }
  if (fd < 0) throw NsgSystemError(info.Env(), err, syscall, "NETLINK_ROUTE socket");
  ConfigureSocket(fd);
  return Napi::Number::New(info.Env(), fd);
}

int32_t OptInt(Napi::Object obj, const char *key, int32_t fallback) {
  Napi::Value v = obj.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

// netlinkNewLink(sock, { name, kind, peer?, peerNsFd? }): creates a link in the socket's
// namespace; a veth's peer goes to peerNsFd's namespace (IFLA_NET_NS_FD), else beside it.
Napi::Value NewLink(const Napi::CallbackInfo &info) {
  int fd = NsgIntArg(info, 0);
  Napi::Object spec = info[1].As<Napi::Object>();
  std::string name = spec.Get("name").As<Napi::String>().Utf8Value();
  std::string kind = spec.Get("kind").As<Napi::String>().Utf8Value();
  Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
  req.Put(ifinfomsg{});
  req.AttrString(IFLA_IFNAME, name);
  size_t linkinfo = req.Begin(IFLA_LINKINFO);
  req.AttrString(IFLA_INFO_KIND, kind);
  if (spec.Get("peer").IsString()) {
    size_t data = req.Begin(IFLA_INFO_DATA);
    size_t peer = req.Begin(VETH_INFO_PEER);
    req.Put(ifinfomsg{});
    req.AttrString(IFLA_IFNAME, spec.Get("peer").As<Napi::String>().Utf8Value());
    int peer_ns = OptInt(spec, "peerNsFd", -1);
    if (peer_ns >= 0) req.AttrU32(IFLA_NET_NS_FD, peer_ns);
    req.End(peer);
    req.End(data);
  }
  req.End(linkinfo);
  Transact(info.Env(), fd, req, "RTM_NEWLINK");
  return info.Env().Undefined();
}

// netlinkSetLink(sock, index, { up?, mtu?, master?, nsFd? }): master 0 detaches from a
// bridge; nsFd moves the link to that namespace.
Napi::Value SetLink(const Napi::CallbackInfo &info) {
  int fd = NsgIntArg(info, 0);
  Napi::Object change = info[2].As<Napi::Object>();
  ifinfomsg ifi{};
  ifi.ifi_index = NsgIntArg(info, 1);
  Napi::Value up = change.Get("up");
  if (up.IsBoolean()) {
    ifi.ifi_change = IFF_UP;
    ifi.ifi_flags = up.As<Napi::Boolean>().Value() ? IFF_UP : 0;
  }
  Request req(RTM_NEWLINK, NLM_F_ACK);
  req.Put(ifi);
  int32_t mtu = OptInt(change, "mtu", -1), master = OptInt(change, "master", -1), ns = OptInt(change, "nsFd", -1);
  if (mtu >= 0) req.AttrU32(IFLA_MTU, mtu);
  if (master >= 0) req.AttrU32(IFLA_MASTER, master);
  if (ns >= 0) req.AttrU32(IFLA_NET_NS_FD, ns);
  Transact(info.Env(), fd, req, "RTM_NEWLINK");
  return info.Env().Undefined();
}

// netlinkDelLink(sock, index); deleting one end of a veth pair deletes both.
Napi::Value DelLink(const Napi::CallbackInfo &info) {
  int fd = NsgIntArg(info, 0);
  ifinfomsg ifi{};
  ifi.ifi_index = NsgIntArg(info, 1);
  Request req(RTM_DELLINK, NLM_F_ACK);
  req.Put(ifi);
  Transact(info.Env(), fd, req, "RTM_DELLINK");
  return info.Env().Undefined();
}

// netlinkGetLinks(sock): [{ index, name, flags, mtu, master, link, kind, mac }] of the namespace.
Napi::Value GetLinks(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = NsgIntArg(info, 0);
  Request req(RTM_GETLINK, NLM_F_DUMP);
  req.Put(ifinfomsg{});
  Napi::Array links = Napi::Array::New(env);
  Transact(env, fd, req, "RTM_GETLINK", [&](const nlmsghdr *h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    const auto *ifi = static_cast<const ifinfomsg *>(NLMSG_DATA(h));
    Napi::Object link = Napi::Object::New(env);
    link.Set("index", ifi->ifi_index);
    link.Set("flags", ifi->ifi_flags);
    link.Set("master", 0);
    link.Set("link", 0);
    int len = IFLA_PAYLOAD(h);
    for (auto *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      const void *data = RTA_DATA(a);
      switch (a->rta_type) {
      case IFLA_IFNAME:
        link.Set("name", static_cast<const char *>(data));
        break;
      case IFLA_MTU:
        link.Set("mtu", *static_cast<const uint32_t *>(data));
        break;
      case IFLA_MASTER:
        link.Set("master", *static_cast<const uint32_t *>(data));
        break;
      case IFLA_LINK:
        link.Set("link", *static_cast<const uint32_t *>(data));
        break;
      case IFLA_ADDRESS:
        link.Set("mac", Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t *>(data), RTA_PAYLOAD(a)));
        break;
      case IFLA_LINKINFO: {
        int inner = RTA_PAYLOAD(a);
        for (auto *b = static_cast<const rtattr *>(data); RTA_OK(b, inner); b = RTA_NEXT(b, inner))
          if (b->rta_type == IFLA_INFO_KIND)
            link.Set("kind", std::string(static_cast<const char *>(RTA_DATA(b)),
                                         strnlen(static_cast<const char *>(RTA_DATA(b)), RTA_PAYLOAD(b))));
        break;
      }
      }
    }
    links.Set(links.Length(), link);
  });
  return links;
}

// netlinkAddr(sock, add, { index, family, address, prefixLen }): RTM_NEWADDR or RTM_DELADDR.
Napi::Value Addr(const Napi::CallbackInfo &info) {
  int fd = NsgIntArg(info, 0);
  bool add = info[1].As<Napi::Boolean>().Value();
  Napi::Object spec = info[2].As<Napi::Object>();
  Napi::Uint8Array address = spec.Get("address").As<Napi::Uint8Array>();
  ifaddrmsg ifa{};
  ifa.ifa_family = OptInt(spec, "family", AF_INET);
  ifa.ifa_prefixlen = OptInt(spec, "prefixLen", 32);
  ifa.ifa_index = OptInt(spec, "index", 0);
  Request req(add ? RTM_NEWADDR : RTM_DELADDR, NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
  req.Put(ifa);
  // IPv4: IFA_LOCAL is the interface's address, IFA_ADDRESS the same for a non-point-to-point
  // link (as ip-address(8) sends them); IPv6 uses IFA_ADDRESS alone.
  if (ifa.ifa_family == AF_INET) req.Attr(IFA_LOCAL, address.Data(), address.ByteLength());
  req.Attr(IFA_ADDRESS, address.Data(), address.ByteLength());
  Transact(info.Env(), fd, req, add ? "RTM_NEWADDR" : "RTM_DELADDR");
  return info.Env().Undefined();
}

// netlinkGetAddrs(sock): [{ index, family, prefixLen, scope, address }] of the namespace.
Napi::Value GetAddrs(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = NsgIntArg(info, 0);
  Request req(RTM_GETADDR, NLM_F_DUMP);
  req.Put(ifaddrmsg{});
  Napi::Array addrs = Napi::Array::New(env);
  Transact(env, fd, req, "RTM_GETADDR", [&](const nlmsghdr *h) {
    if (h->nlmsg_type != RTM_NEWADDR) return;
    const auto *ifa = static_cast<const ifaddrmsg *>(NLMSG_DATA(h));
    const rtattr *local = nullptr, *address = nullptr;
    int len = IFA_PAYLOAD(h);
    for (auto *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == IFA_LOCAL) local = a;
      if (a->rta_type == IFA_ADDRESS) address = a;
    }
    const rtattr *own = local ? local : address;
    if (!own) return;
    Napi::Object addr = Napi::Object::New(env);
    addr.Set("index", ifa->ifa_index);
    addr.Set("family", ifa->ifa_family);
    addr.Set("prefixLen", ifa->ifa_prefixlen);
    addr.Set("scope", ifa->ifa_scope);
    addr.Set("address",
             Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t *>(RTA_DATA(own)), RTA_PAYLOAD(own)));
    addrs.Set(addrs.Length(), addr);
  });
  return addrs;
}

}  // namespace

void RegisterNetlinkNatives(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkOpen", Napi::Function::New(env, Open));
  exports.Set("netlinkNewLink", Napi::Function::New(env, NewLink));
  exports.Set("netlinkSetLink", Napi::Function::New(env, SetLink));
  exports.Set("netlinkDelLink", Napi::Function::New(env, DelLink));
  exports.Set("netlinkGetLinks", Napi::Function::New(env, GetLinks));
  exports.Set("netlinkAddr", Napi::Function::New(env, Addr));
  exports.Set("netlinkGetAddrs", Napi::Function::New(env, GetAddrs));
}
