// Thread placement for the intra-op pool (see ThreadPool.swift): the calls Swift's Glibc module
// does not import (they need _GNU_SOURCE), with no-ops where the platform lacks them.
#define _GNU_SOURCE
#include "thread_placement.h"
#include <string.h>
#ifdef __linux__
#include <sched.h>

_Static_assert(sizeof(cpu_set_t) <= sizeof(berth_cpu_mask), "cpu_set_t larger than berth_cpu_mask");

int berth_current_cpu(void) { return sched_getcpu(); }

int berth_thread_mask(pthread_t thread, berth_cpu_mask *mask) {
    memset(mask, 0, sizeof *mask);
    return pthread_getaffinity_np(thread, sizeof(cpu_set_t), (cpu_set_t *)mask);
}

int berth_thread_avoid_cpu(pthread_t thread, const berth_cpu_mask *mask, int cpu) {
    cpu_set_t set;
    memcpy(&set, mask, sizeof set);
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -1;
    CPU_CLR(cpu, &set);
    if (CPU_COUNT(&set) == 0) return -1;
    return pthread_setaffinity_np(thread, sizeof set, &set) == 0 ? 0 : -1;
}

int berth_thread_restore_mask(pthread_t thread, const berth_cpu_mask *mask) {
    return pthread_setaffinity_np(thread, sizeof(cpu_set_t), (const cpu_set_t *)mask);
}

void berth_name_current_thread(const char *name) {
    char shortened[16];
    strncpy(shortened, name, sizeof shortened - 1);
    shortened[sizeof shortened - 1] = 0;
    pthread_setname_np(pthread_self(), shortened);
}
#else
void berth_name_current_thread(const char *name) { (void)name; }
int berth_current_cpu(void) { return -1; }
int berth_thread_mask(pthread_t thread, berth_cpu_mask *mask) { (void)thread; memset(mask, 0, sizeof *mask); return -1; }
int berth_thread_avoid_cpu(pthread_t thread, const berth_cpu_mask *mask, int cpu) { (void)thread; (void)mask; (void)cpu; return -1; }
int berth_thread_restore_mask(pthread_t thread, const berth_cpu_mask *mask) { (void)thread; (void)mask; return -1; }
#endif
