// The service manager's notification protocol (sd_notify(3)), spoken directly: one datagram of "KEY=value" lines
// to the unix socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Without the variable
// (not started by systemd with Type=notify) every call does nothing.
#pragma once

#include <string>
#include <string_view>

namespace dpd::cli {

// Sends `state`, e.g. "READY=1" or "RELOADING=1\nMONOTONIC_USEC=…". Returns false when the message could not be
// sent (logged by the caller if it matters); true also when there is no service manager to tell.
bool NotifyServiceManager(std::string_view state);

// "MONOTONIC_USEC=<now>", which systemd 253+ wants beside RELOADING=1.
std::string_view MonotonicField();

}  // namespace dpd::cli
