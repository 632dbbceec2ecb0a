/* tmem: process-shared robust mutexes and stopping the world.
 *
 * Every lock in the segment is PTHREAD_PROCESS_SHARED and ROBUST.  When a
 * holder dies, the next taker gets EOWNERDEAD: it marks the mutex
 * consistent and raises needs_repair in the header.  Whoever sees that flag
 * after taking a data-path lock lets go and runs the repair, which takes
 * every lock in the documented order (tmem-internal.h) and rebuilds what
 * the dead process may have left half done.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "tmem-lock-internal.h"
#include "tmem-segment-internal.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TMEM_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(TMEM_TSAN)
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

/* No log here: the taker may be a swap request, and a log callback may
 * write, allocate or block (syslog).  The repair says what it repaired. */
static void owner_died(struct tmem *t, pthread_mutex_t *m)
{
	atomic_store_explicit(&t->hdr->needs_repair, 1, memory_order_release);
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

/* Wait at most ms milliseconds: the persistent path must never wait long
 * on a lock a stopped process might hold. */
bool tmem_timedlock(struct tmem *t, pthread_mutex_t *m, long ms)
{
	struct timespec ts;
	int r;

	if (tmem_trylock(t, m))
		return true;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	r = pthread_mutex_timedlock(m, &ts);
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

/* Take every lock in order.  Slow, and only for repair and check. */
void tmem_world_stop(struct tmem *t)
{
	unsigned i;

	tmem_lock(t, &t->hdr->slots_lock);
	tmem_lock(t, &t->hdr->pool_lock);
	for (i = 0; i < TMEM_NR_STRIPES; i++)
		tmem_lock(t, &seg_istripe(t, i)->lock);
	for (i = 0; i < TMEM_NR_STRIPES; i++)
		tmem_lock(t, &seg_dstripe(t, i)->lock);
	tmem_lock(t, &t->hdr->chunk_lock);
}

void tmem_world_start(struct tmem *t)
{
	unsigned i;

	tmem_unlock(&t->hdr->chunk_lock);
	for (i = TMEM_NR_STRIPES; i-- > 0;)
		tmem_unlock(&seg_dstripe(t, i)->lock);
	for (i = TMEM_NR_STRIPES; i-- > 0;)
		tmem_unlock(&seg_istripe(t, i)->lock);
	tmem_unlock(&t->hdr->pool_lock);
	tmem_unlock(&t->hdr->slots_lock);
}
