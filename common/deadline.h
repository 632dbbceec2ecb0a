/* tmem: a deadline some milliseconds from now, for the timed waits of
 * pthreads (timedlock, clocklock, cond_timedwait, timedjoin_np): the
 * pool's bounded lock waits and the cache's waits for its drop thread.
 * Nothing but clock_gettime (the vDSO): no allocation, no lock. */
#ifndef TMEM_DEADLINE_H
#define TMEM_DEADLINE_H

#include <time.h>

/* *end: ms milliseconds (ms >= 0) from now by clock. */
static inline void deadline_after_ms(clockid_t clock, long ms,
				     struct timespec *end)
{
	clock_gettime(clock, end);
	end->tv_sec += ms / 1000;
	end->tv_nsec += (ms % 1000) * 1000000L;
	if (end->tv_nsec >= 1000000000L) {
		end->tv_sec++;
		end->tv_nsec -= 1000000000L;
	}
}

#endif /* TMEM_DEADLINE_H */
