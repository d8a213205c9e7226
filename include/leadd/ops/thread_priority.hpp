#pragma once
// Background work (a snapshot's encoding, preparing the next log segment) runs at nice 10, for
// the calling thread only (Linux keeps a nice value per thread): against busy nice-0 workers it
// gets about a tenth of a core, so it takes mostly what the request workers leave and still
// finishes under full load. Best effort.

#include <sys/resource.h>
#include <unistd.h>

namespace leadd::ops {

inline void lower_this_threads_priority() { ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10); }

}  // namespace leadd::ops
