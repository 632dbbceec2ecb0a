/* tmem: a chunk freed while a repair holds the pool is filed once.
 *
 * A process that frees a chunk (the last blob of an evicted chunk gone)
 * and finds chunk_lock busy for TMEM_LOCK_WAIT_MS leaves the chunk on the
 * orphan stack for the next holder, without a lock.  A repair holds
 * chunk_lock for its whole scan and rebuilds the free lists from the
 * chunks' states: were it to file a chunk pushed while it scans, the next
 * holder would file it again, and the reserve would hand the same chunk to
 * two writers.
 *
 * Three processes, two stopped at crash points: the evictor (B) dooms
 * every blob of a chunk and stops (crash point 31) before it frees it;
 * the repairer (C) stops in the repair's chunk scan (crash point 50) with
 * the locks of one half of the pool and chunk_lock held; B goes on, times out
 * on chunk_lock and pushes the chunk; C goes on and finishes.  Then this
 * process takes chunk_lock (which files the orphans) and walks the free lists:
 * each chunk must be on at most one, once, and each list as long as its count.
 */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "test-pool.h"
#include "tmem-internal.h"

static const char *name;

static struct tmem *attach(void)
{
	struct tmem_options o;
	struct tmem *t;

	test_options(&o, name, 0);
	o.create = false;
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	return t;
}

/* Fork a process that runs fn and wait until it stops at its crash point;
 * if it does not, fail (killing other, already stopped). */
static pid_t start_stopped(void (*fn)(void), const char *what, pid_t other)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0)
		fn();
	if (test_wait_stop(pid, &status))
		return pid;
	fprintf(stderr, "FAIL: %s did not stop at its crash point\n", what);
	if (other)
		kill(other, SIGKILL);
	tmem_unlink(name);
	exit(1);
}

/* B: evict one chunk of the cache sub-pool, stopping after its blobs are
 * doomed; once continued, it frees the chunk and exits without detaching
 * (detaching takes locks the stopped repairer holds). */
static void evictor(void)
{
	struct tmem *t = attach();
	uint32_t e;
	int r;

	CHECK_RC(tmem_pool_find(t, "cache", &e), 0);
	tmem_crash_signal = SIGSTOP;
	tmem_crash_at = 31;
	r = tmem_evict_chunk(t, e & 0xff, true);
	_exit(r == EVICT_FREED ? 0 : 3);
}

/* C: a repair, stopped in its chunk scan. */
static void repairer(void)
{
	struct tmem *t = attach();

	tmem_crash_signal = SIGSTOP;
	tmem_crash_at = 50;
	tmem_fsck(t, true);
	_exit(0);
}

/* Walk one free list: every chunk once, on no other list, count long. */
static bool list_sound(struct tmem *t, uint32_t head, uint32_t count,
		       unsigned char *seen, const char *what)
{
	uint32_t c, n = 0;

	for (c = head; c; c = seg_chunk(t, c)->next) {
		if (c >= t->geo->nr_chunks || seen[c] || ++n > count) {
			fprintf(stderr,
				"FAIL: %s list: chunk %u is listed twice "
				"(or the list is longer than its count, "
				"%u)\n",
				what, c, count);
			return false;
		}
		seen[c] = 1;
	}
	if (n != count) {
		fprintf(stderr, "FAIL: %s list holds %u chunks, count %u\n",
			what, n, count);
		return false;
	}
	return true;
}

int main(void)
{
	struct tmem_options o;
	unsigned char page[4096], *seen;
	struct tmem_header *h;
	struct tmem *t;
	uint32_t e, victim;
	uint64_t i;
	int status, n;
	pid_t b, c;
	bool ok;

#ifndef TMEM_TEST_HOOKS
	fprintf(stderr, "built without test hooks\n");
	return 77;
#endif
	name = test_segment_name("orphan");
	test_options(&o, name, 16 << 20);
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	/* Random pages, raw: 16 to a chunk, so a few closed chunks. */
	for (i = 0; i < 100; i++) {
		page_random(page, 900000 + i);
		CHECK_RC(tmem_put(t, e, 1, i, page), 0);
	}
	h = t->hdr;

	b = start_stopped(evictor, "the evictor (crash point 31)", 0);
	c = start_stopped(repairer, "the repairer (crash point 50)", b);
	/* B frees its chunk: chunk_lock is held by C, so after
	 * TMEM_LOCK_WAIT_MS the chunk goes on the orphan stack. */
	kill(b, SIGCONT);
	CHECK(!test_wait_stop(b, &status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	victim = atomic_load(&h->orphan_head);
	CHECK(victim != 0);
	/* C goes on.  It repairs one half of the pool at a time, so it
	 * stops once more, in the other half's chunk scan, then finishes. */
	kill(c, SIGCONT);
	for (n = 0; test_wait_stop(c, &status); n++) {
		CHECK(n < 1);
		kill(c, SIGCONT);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The next holder files the orphans. */
	CHECK(tmem_chunk_lock(t, -1));
	seen = calloc(t->geo->nr_chunks, 1);
	CHECK(seen != NULL);
	ok = list_sound(t, h->reserve_head, h->reserve_count, seen,
			"reserve") &&
	     list_sound(t, h->punch_head, h->punch_count, seen, "punch") &&
	     list_sound(t, h->hole_head,
			h->hole_count - (t->geo->nr_chunks - h->hole_bump),
			seen, "hole");
	if (ok && !seen[victim]) {
		fprintf(stderr, "FAIL: the orphaned chunk %u is on no list\n",
			victim);
		ok = false;
	}
	tmem_unlock(&h->chunk_lock);
	free(seen);
	if (ok)
		printf("the orphaned chunk %u was filed once\n", victim);
	/* And the rest agrees: states, live bytes, gauges -- checked as they
	 * are (tmem_check would first repair after the dead evictor). */
	if (ok && tmem_fsck(t, false) != 0) {
		fprintf(stderr, "FAIL: the check (no repair) finds problems\n");
		ok = false;
	}
	tmem_close(t);
	tmem_unlink(name);
	return ok ? 0 : 1;
}
