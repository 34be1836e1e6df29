#ifndef BERTH_SPIN_WAIT_H
#define BERTH_SPIN_WAIT_H

// Atomics and spin-waits for the intra-op pool's lock-free hand-off (ThreadPool.swift): words of
// one 64-byte line each, read and written sequentially consistent (plain loads on x86).

#include <stdint.h>

static inline uint64_t berth_atomic_load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void berth_atomic_store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline uint64_t berth_atomic_add(uint64_t *p, uint64_t v) { return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST); }
static inline uint64_t berth_atomic_sub(uint64_t *p, uint64_t v) { return __atomic_sub_fetch(p, v, __ATOMIC_SEQ_CST); }
/// 1 when `*p` held `expected` and now holds `desired`.
static inline int berth_atomic_cas(uint64_t *p, uint64_t expected, uint64_t desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 1 : 0;
}

/// CLOCK_MONOTONIC in nanoseconds (a vDSO read: tens of ns).
uint64_t berth_now_ns(void);

/// Waits while `(*p & mask) == value`: first on the CPU's spin-wait hint (`pause`: the sibling
/// hyper-thread keeps the core's resources) for `spin_ns`, then yielding the CPU `yields` times.
/// Returns 1 when the word changed while spinning, 2 when it changed while yielding, 0 when the
/// wait gave up (the caller then sleeps).
int berth_wait_while_equal(const uint64_t *p, uint64_t mask, uint64_t value, uint64_t spin_ns, int yields);

#endif
