/* tmem: a repair of one half of the pool leaves the other half's chunks
 * alone, even one that a writer has just taken off the free lists.
 *
 * A repair of the cache half holds chunk_lock and the cache stripes, not
 * the swap stripes, so a swap put runs on beside it.  A put takes a free
 * chunk under chunk_lock, lets go of the lock, and writes into the chunk.
 * Were the chunk left in a free state meanwhile, the repair, which
 * rebuilds the free lists from the chunks' states, would list it again:
 * the next taker would get the chunk the writer is filling.
 *
 * A writer stops (crash point 12) just after it took a chunk for a swap
 * put; the cache half is then due (as after a cache process died holding a
 * cache stripe) and a cache put here repairs it.  The writer's chunk must
 * be on no free list; once the writer has finished, the check must find
 * nothing wrong and the swap page must read back.
 *
 * Then a process that dies holding no lock costs only the repair of the
 * half it left something in: one that stored cache pages only (its open
 * cache chunk to close), then one that stored a swap page only.  Each
 * death must cost exactly one half's repair, free the slot, and leave
 * the pool clean. */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>

#include "test-pool.h"
#include "tmem-internal.h"

static const char *name;

/* The writer: one swap put, stopped once it holds its new chunk. */
static void writer(void)
{
	unsigned char page[4096];
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;

	test_options(&o, name, 0);
	o.create = false;
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_find(t, "swap", &p), 0);
	page_random(page, 4242);
	tmem_crash_signal = SIGSTOP;
	tmem_crash_at = 12;
	CHECK_RC(tmem_put(t, p, 7, 7, page), 0);
	tmem_close(t);
	_exit(0);
}

/* A process that puts one page into sub-pool sub, stops, and is killed
 * there by the parent (no lock held). */
static void put_and_stop(const char *sub, uint64_t seed)
{
	unsigned char page[4096];
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;

	test_options(&o, name, 0);
	o.create = false;
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_find(t, sub, &p), 0);
	page_random(page, seed);
	CHECK_RC(tmem_put(t, p, 9, seed, page), 0);
	raise(SIGSTOP);
	_exit(0);
}

/* Kill such a process and repair after it: the half repairs it cost. */
static uint64_t repairs_after_death(struct tmem *t, const char *sub,
				    uint64_t seed)
{
	uint64_t before;
	int status;
	unsigned s;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0)
		put_and_stop(sub, seed);
	CHECK(test_wait_stop(pid, &status));
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	before = atomic_load(&t->hdr->repairs);
	CHECK_RC(tmem_reap_dead(t), 0);
	for (s = 0; s < TMEM_MAX_SLOTS; s++)
		CHECK(seg_slot(t, s)->state != SLOT_ATTACHED ||
		      tmem_slot_alive(t, s));
	return atomic_load(&t->hdr->repairs) - before;
}

static bool listed(struct tmem *t, uint32_t head, uint32_t count, uint32_t c)
{
	uint32_t n;

	for (n = 0; head && n <= count; head = seg_chunk(t, head)->next, n++)
		if (head == c)
			return true;
	return false;
}

int main(void)
{
	unsigned char page[4096], back[4096];
	struct tmem_options o;
	struct tmem_header *h;
	struct tmem *t;
	uint32_t e, p, taken;
	uint64_t n;
	int status;
	pid_t w;
	bool ok = true;

#ifndef TMEM_TEST_HOOKS
	fprintf(stderr, "built without test hooks\n");
	return 77;
#endif
	name = test_segment_name("halves");
	test_options(&o, name, 16 << 20);
	o.dedup = false;
	o.prefault = true; /* every chunk on the reserve list */
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	h = t->hdr;
	taken = h->reserve_head; /* the writer's first take */
	CHECK(taken != 0);
	w = fork();
	CHECK(w >= 0);
	if (w == 0)
		writer();
	CHECK(test_wait_stop(w, &status));
	CHECK(!listed(t, h->reserve_head, h->reserve_count, taken));

	/* The cache half due; this process runs no grower and the pool has
	 * no server, so the cache put repairs it here. */
	atomic_fetch_or(&h->needs_repair, TMEM_HALF_BIT(TMEM_EPHEMERAL));
	page_random(page, 1);
	CHECK_RC(tmem_put(t, e, 1, 1, page), 0);
	CHECK(!tmem_repair_pending(t));
	if (listed(t, h->reserve_head, h->reserve_count, taken)) {
		fprintf(stderr,
			"FAIL: the repair of the cache half put chunk %u, "
			"which the swap writer holds, back on the reserve "
			"list\n",
			taken);
		ok = false;
	}

	kill(w, SIGCONT);
	CHECK(!test_wait_stop(w, &status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (tmem_fsck(t, false) != 0) {
		fprintf(stderr, "FAIL: the check finds problems after the "
				"writer finished\n");
		ok = false;
	}
	page_random(page, 4242);
	if (tmem_get(t, p, 7, 7, back) != 0 || memcmp(page, back, 4096)) {
		fprintf(stderr, "FAIL: the swap page does not read back\n");
		ok = false;
	}
	if (ok)
		printf("chunk %u, taken by a swap writer, stayed its own "
		       "through a repair of the cache half\n",
		       taken);

	/* Deaths outside every lock: one half's repair each. */
	n = repairs_after_death(t, "cache", 11);
	if (n != 1) {
		fprintf(stderr,
			"FAIL: a cache process's death cost %llu half "
			"repairs, want 1 (the cache half only)\n",
			(unsigned long long)n);
		ok = false;
	}
	n = repairs_after_death(t, "swap", 12);
	if (n != 1) {
		fprintf(stderr,
			"FAIL: a swap writer's death cost %llu half repairs, "
			"want 1 (the swap half only)\n",
			(unsigned long long)n);
		ok = false;
	}
	if (tmem_fsck(t, false) != 0) {
		fprintf(stderr, "FAIL: the check finds problems after the "
				"deaths\n");
		ok = false;
	}
	page_random(page, 12);
	if (tmem_get(t, p, 9, 12, back) != 0 || memcmp(page, back, 4096)) {
		fprintf(stderr, "FAIL: the dead writer's swap page does not "
				"read back\n");
		ok = false;
	}
	if (ok)
		printf("a process that died outside every lock cost one half's "
		       "repair\n");
	tmem_close(t);
	tmem_unlink(name);
	return ok ? 0 : 1;
}
