/* tmem: process-shared robust mutexes and stopping the world.
 *
 * Every lock in the segment is PTHREAD_PROCESS_SHARED and ROBUST.  When a
 * holder dies, the next taker gets EOWNERDEAD: it marks the mutex
 * consistent and raises the half of needs_repair that the lock guards (a
 * stripe's kind; both for a header lock).  Whoever sees its half due
 * after taking a data-path lock lets go and waits for the repair of that
 * half, which takes the half's locks in the documented order
 * (tmem-layout.h) and rebuilds what the dead process may have left half
 * done.  The other half's requests go on meanwhile.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "deadline.h"
#include "tmem-lock-internal.h"
#include "tmem-segment-internal.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TMEM_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(TMEM_TSAN)
#define TMEM_TSAN_BUILD 1
/* Stopping the world holds every stripe lock at once, more than TSan's
 * deadlock detector can track (64): keep the race detector, not that. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "detect_deadlocks=0";
}
#endif

int tmem_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int r;

	r = pthread_mutexattr_init(&a);
	if (r)
		return -r;
	r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!r)
		r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!r)
		r = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -r;
}

/* The halves of the pool that lock m guards: its kind's for a stripe
 * lock, both for a header lock (slots, pools, chunks). */
unsigned tmem_lock_halves(struct tmem *t, pthread_mutex_t *m)
{
	uintptr_t a = (uintptr_t)m, i0 = (uintptr_t)seg_istripe(t, 0),
		  d0 = (uintptr_t)seg_dstripe(t, 0);
	uintptr_t n = TMEM_NR_STRIPES * sizeof(struct tmem_stripe);

	if (a >= i0 && a < i0 + n)
		return TMEM_HALF_BIT((a - i0) / sizeof(struct tmem_stripe) /
				     TMEM_HALF);
	if (a >= d0 && a < d0 + n)
		return TMEM_HALF_BIT((a - d0) / sizeof(struct tmem_stripe) /
				     TMEM_HALF);
	return TMEM_HALVES;
}

/* No log here: the taker may be a swap request, and a log callback may
 * write, allocate or block (syslog).  The repair says what it repaired. */
static void owner_died(struct tmem *t, pthread_mutex_t *m)
{
	unsigned i;

	atomic_fetch_or_explicit(&t->hdr->needs_repair, tmem_lock_halves(t, m),
				 memory_order_release);
	/* A holder of pool_lock may have died between a sub-pool record's
	 * change and its new seal: the records are sealed again as they are
	 * (the attach still checks their values). */
	if (m == &t->hdr->pool_lock)
		for (i = 0; i < TMEM_MAX_POOLS; i++)
			tmem_pool_reseal(seg_pool(t, i));
	pthread_mutex_consistent(m);
}

void tmem_lock(struct tmem *t, pthread_mutex_t *m)
{
	int r = pthread_mutex_lock(m);

	if (r == EOWNERDEAD)
		owner_died(t, m);
}

bool tmem_trylock(struct tmem *t, pthread_mutex_t *m)
{
	int r = pthread_mutex_trylock(m);

	if (r == EOWNERDEAD) {
		owner_died(t, m);
		return true;
	}
	return r == 0;
}

/* The clock a bounded wait for a lock ends by: the monotonic one, so that
 * a wall clock set back during the wait (an NTP step, at boot above all)
 * does not make it longer by as much.  ThreadSanitizer knows of
 * pthread_mutex_timedlock only (a lock it does not see taken would read
 * as races): its builds wait by the wall clock. */
#ifdef TMEM_TSAN_BUILD
#define LOCK_CLOCK CLOCK_REALTIME
#else
#define LOCK_CLOCK CLOCK_MONOTONIC
#endif

/* pthread_mutex_timedlock until end (a deadline by LOCK_CLOCK). */
static int lock_until(pthread_mutex_t *m, const struct timespec *end)
{
#ifdef TMEM_TSAN_BUILD
	return pthread_mutex_timedlock(m, end);
#else
	return pthread_mutex_clocklock(m, LOCK_CLOCK, end);
#endif
}

/* Wait at most ms milliseconds: the persistent path must never wait long
 * on a lock a stopped process might hold. */
bool tmem_timedlock(struct tmem *t, pthread_mutex_t *m, long ms)
{
	struct timespec ts;
	int r;

	if (tmem_trylock(t, m))
		return true;
	deadline_after_ms(LOCK_CLOCK, ms, &ts);
	r = lock_until(m, &ts);
	if (r == EOWNERDEAD) {
		owner_died(t, m);
		return true;
	}
	return r == 0;
}

void tmem_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}

/* The i-th lock of a world stop of the given halves, in the documented
 * order: slots_lock, pool_lock, the halves' index stripes, their blob
 * stripes, chunk_lock.  NULL for a stripe of another half. */
#define WORLD_LOCKS (2 * TMEM_NR_STRIPES + 3)
static pthread_mutex_t *world_lock(struct tmem *t, unsigned halves, unsigned i)
{
	unsigned s;

	if (i == 0)
		return &t->hdr->slots_lock;
	if (i == 1)
		return &t->hdr->pool_lock;
	if (i == WORLD_LOCKS - 1)
		return &t->hdr->chunk_lock;
	s = (i - 2) % TMEM_NR_STRIPES;
	if (!(halves & TMEM_HALF_BIT(s / TMEM_HALF)))
		return NULL;
	return i - 2 < TMEM_NR_STRIPES ? &seg_istripe(t, s)->lock
				       : &seg_dstripe(t, s)->lock;
}

static void world_release(struct tmem *t, unsigned halves, unsigned n)
{
	pthread_mutex_t *m;

	while (n-- > 0)
		if ((m = world_lock(t, halves, n)))
			tmem_unlock(m);
}

/* Take every lock of the given halves in order.  wait_ms < 0: as long as
 * it takes.  Otherwise at most wait_ms in all: a lock still busy then
 * (a stopped process may hold it) has every lock taken so far let go
 * again, and false is returned, so that the locks of the half that
 * was taken first are never held long while waiting for another's. */
bool tmem_world_stop(struct tmem *t, unsigned halves, long wait_ms)
{
	struct timespec end;
	pthread_mutex_t *m;
	unsigned i;
	int r;

	if (wait_ms >= 0)
		deadline_after_ms(LOCK_CLOCK, wait_ms, &end);
	for (i = 0; i < WORLD_LOCKS; i++) {
		if (!(m = world_lock(t, halves, i)))
			continue;
		if (wait_ms < 0) {
			tmem_lock(t, m);
			continue;
		}
		r = pthread_mutex_trylock(m);
		if (r == EBUSY)
			r = lock_until(m, &end);
		if (r == EOWNERDEAD)
			owner_died(t, m);
		else if (r) {
			world_release(t, halves, i);
			return false;
		}
	}
	return true;
}

void tmem_world_start(struct tmem *t, unsigned halves)
{
	world_release(t, halves, WORLD_LOCKS);
}
