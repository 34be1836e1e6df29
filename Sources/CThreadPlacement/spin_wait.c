// Spin-waits for the intra-op pool (see spin_wait.h and ThreadPool.swift).
#define _GNU_SOURCE
#include "spin_wait.h"
#include <sched.h>
#include <time.h>

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

uint64_t berth_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int berth_wait_while_equal(const uint64_t *p, uint64_t mask, uint64_t value, uint64_t spin_ns, int yields) {
    if ((berth_atomic_load(p) & mask) != value) return 1;
    if (spin_ns > 0) {
        uint64_t deadline = berth_now_ns() + spin_ns;
        // The clock is read every 64 hints (a hint is tens of cycles): a few ns per check.
        for (;;) {
            for (int i = 0; i < 64; i++) {
                if ((__atomic_load_n(p, __ATOMIC_ACQUIRE) & mask) != value) return 1;
                cpu_relax();
            }
            if (berth_now_ns() >= deadline) break;
        }
    }
    for (int i = 0; i < yields; i++) {
        sched_yield();
        if ((berth_atomic_load(p) & mask) != value) return 2;
    }
    return (berth_atomic_load(p) & mask) != value ? 2 : 0;
}
