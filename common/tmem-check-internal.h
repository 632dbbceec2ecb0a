/* tmem: tmem-check.c's functions for the other pool files: repair and check;
 * test hooks. */
#ifndef TMEM_CHECK_INTERNAL_H
#define TMEM_CHECK_INTERNAL_H

#include "tmem-handle.h"

/* How long a process without a grower waits for a live serving
 * process's grower to repair or check the pool before it fails with
 * -ETIMEDOUT (it never does either itself while that process lives). */
#define TMEM_SERVED_WAIT_MS 10000

/* Rebuild (repair: each half this process repairs) or compare (check:
 * each half), stopping one half's world at a time. */
int tmem_fsck(struct tmem *t, bool repair);
void tmem_repair_if_needed(struct tmem *t);
/* 0, or -ETIMEDOUT: a live server did not repair in time. */
int tmem_reap_dead(struct tmem *t);
/* A data-path thread that found a repair of the given halves due (those
 * of the lock it took), holding no pool lock: wait for the grower to
 * repair, or repair (see tmem-check.c).  0 to look again, or -ETIMEDOUT:
 * the caller fails its request.  *since: 0 before the request's first
 * call, then kept by the callee between the calls of one request (when
 * its wait began). */
int tmem_repair_wait(struct tmem *t, unsigned halves, long long *since);
/* A data-path thread found no repair of the given halves due: their
 * requests wait the full bound again (tmem_repair_wait).  A load, and a
 * store only after a request gave up. */
static inline void tmem_repair_seen_done(struct tmem *t, unsigned halves)
{
	if (atomic_load_explicit(&t->repair_given_up, memory_order_relaxed) &
	    halves)
		atomic_fetch_and_explicit(&t->repair_given_up, ~halves,
					  memory_order_relaxed);
}
/* Whether this thread leaves repairs to a grower thread: a serving
 * process's request threads, and a process without a grower while a live
 * process runs one. */
bool tmem_repair_deferred(struct tmem *t);
/* Grower thread: run a check another process asked for; false if none. */
bool tmem_check_serve(struct tmem *t);
/* The pid of a live process other than this one whose grower serves the
 * pool, when this process runs none; else 0. */
int tmem_served_by(struct tmem *t);
/* The pid of a live process other than this one whose grower serves a
 * persistent sub-pool (a swap server), or 0. */
int tmem_swap_server(struct tmem *t);
/* In a process that handed the destroy of sub-pool pool (POOL_DESTROYING,
 * pool_lock not held) to a swap server's grower: wait for it, holding no
 * lock.  0: destroyed; 1: no swap server is alive any more (the caller
 * drops the entries itself); -ETIMEDOUT, logged, when the server did not
 * within the served wait (it finishes later). */
int tmem_destroy_wait(struct tmem *t, unsigned pool);
/* Grower thread of a swap server, each round and once more as it stops:
 * finish the destroys of persistent sub-pools handed to it
 * (tmem_pool_destroy); false if there were none. */
bool tmem_destroy_serve(struct tmem *t);
/* Grower thread: the quick tmem_verify of the persistent sub-pools' index
 * stripes, which a process without a grower leaves to the server. */
void tmem_verify_persistent(struct tmem *t, struct tmem_verify_result *res);

/* ---- test hooks (crash points, corruption) ----------------------- */
#ifdef TMEM_TEST_HOOKS
/* Step at which to die (0: none); from TMEM_CRASH_POINT at tmem_open. */
extern int tmem_crash_at;
/* What a crash point raises: SIGKILL, or SIGSTOP to stall there. */
extern int tmem_crash_signal;
void tmem_crash_point(int n);
#define CRASH_POINT(n)                                         \
	do {                                                   \
		if (__builtin_expect(tmem_crash_at == (n), 0)) \
			tmem_crash_point(n);                   \
	} while (0)
/* TMEM_SERVED_WAIT_MS, or TMEM_SERVED_WAIT_MS=N from the environment at
 * tmem_open (tests, to fail sooner). */
extern unsigned tmem_served_wait_ms;
/* Corrupt one stored byte of the blob under a key (tests). */
int tmem_test_corrupt(struct tmem *t, uint32_t pool, uint64_t object,
		      uint64_t index);
#else
#define CRASH_POINT(n) ((void)0)
#endif

#endif /* TMEM_CHECK_INTERNAL_H */
