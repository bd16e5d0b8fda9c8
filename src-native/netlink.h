// rtnetlink for lib/net: veth pairs, bridges, link state and IP addresses in any network
// namespace, without shelling out to ip(8).
#ifndef NSGROUPS_NETLINK_H
#define NSGROUPS_NETLINK_H

#include <napi.h>

// Adds netlinkOpen, netlinkNewLink, netlinkSetLink, netlinkDelLink, netlinkGetLinks,
// netlinkAddr, netlinkGetAddrs to `exports`.
void RegisterNetlinkNatives(Napi::Env env, Napi::Object exports);

#endif
