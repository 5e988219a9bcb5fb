#ifndef TRIPTYCH_SERVICES_NODE_SIGNALS_H_
#define TRIPTYCH_SERVICES_NODE_SIGNALS_H_

namespace triptych::node {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it
// starts afterwards. Call first thing in main().
void BlockTerminationSignals();

// Waits for SIGTERM or SIGINT (after BlockTerminationSignals) and returns it.
int WaitForTerminationSignal();

}  // namespace triptych::node

#endif  // TRIPTYCH_SERVICES_NODE_SIGNALS_H_
