#ifndef BERTH_THREAD_PLACEMENT_H
#define BERTH_THREAD_PLACEMENT_H

#include <pthread.h>
#include <stddef.h>

#include "spin_wait.h"

/// An opaque copy of a thread's CPU affinity (a Linux cpu_set_t; unused elsewhere).
typedef struct { unsigned long words[16]; } berth_cpu_mask;

/// The CPU the calling thread is running on, or -1 where the platform does not say.
int berth_current_cpu(void);

/// Reads `thread`'s affinity into `mask`; 0 on success.
int berth_thread_mask(pthread_t thread, berth_cpu_mask *mask);

/// Lets `thread` run on `mask` minus `cpu`, which moves it off `cpu` at once if it is there.
/// Returns 0 when done, -1 when `mask` holds no other CPU or the platform cannot do it.
int berth_thread_avoid_cpu(pthread_t thread, const berth_cpu_mask *mask, int cpu);

/// Sets `thread`'s affinity back to `mask` (it stays where it runs now); 0 on success.
int berth_thread_restore_mask(pthread_t thread, const berth_cpu_mask *mask);

/// Names the calling thread (shown by ps -L, top -H, perf; at most 15 bytes kept).
void berth_name_current_thread(const char *name);

/// Sets glibc's mmap threshold and heap trim threshold (bytes, each below 2^31) unless the
/// environment sets MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_; 1 when both were set,
/// 0 when left alone (another C library, or the user's settings).
int berth_configure_allocator(size_t mmap_threshold, size_t trim_threshold);

#endif
