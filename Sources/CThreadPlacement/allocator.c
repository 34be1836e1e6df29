// glibc's allocator thresholds for the engine's tensors (see Session.swift): the calls Swift's
// Glibc module does not import (malloc.h), with a no-op elsewhere.
#include "thread_placement.h"
#include <stdlib.h>
#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>
#endif

int berth_configure_allocator(size_t mmap_threshold, size_t trim_threshold) {
#if defined(__linux__) && defined(__GLIBC__)
    // The user's MALLOC_*_ environment settings win.
    if (getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_")) return 0;
    return mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold) == 1;
#else
    (void)mmap_threshold;
    (void)trim_threshold;
    return 0;
#endif
}
