#pragma once
// The process's one V8 platform (Node's, so that the resource-module host can run a Node.js environment on it
// beside the event-script isolates), with V8 and Node's per-process state set up on first use. Inside script/ only.

namespace node {
class MultiIsolatePlatform;
}

namespace dpd::script {

node::MultiIsolatePlatform* SharedPlatform();

}  // namespace dpd::script
