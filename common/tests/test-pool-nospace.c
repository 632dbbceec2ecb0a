/* tmem: a put answers nospace only when the segment is full.
 *
 * With the grower running, a persistent sub-pool is filled with
 * incompressible pages (16 to a chunk) until a put is refused for want of
 * room.  Refusals while the segment is below its ceiling must be counted
 * as reserve_empty (retry) and never as nospace; the first nospace must
 * come with the segment full, and must stay: a retry after the grower has
 * settled is refused again.  Repeated, because the chunks the grower has
 * in hand (faulting in, punching) come and go; and once with a chunk held
 * in hand on purpose, as the grower holds one while it faults it in.
 */
#include <config.h>

#include <time.h>

#include "test-pool.h"
#include "tmem-internal.h"

#define PER_CHUNK 16

static unsigned char page[4096];

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static uint64_t rejects(struct tmem *t, enum tmem_reject why)
{
	struct tmem_stats st;

	CHECK_RC(tmem_stats_get(t, &st), 0);
	return st.rejects[why];
}

/* Put until nospace; returns the pages stored. */
static uint64_t fill(struct tmem *t, uint32_t p, uint64_t seed)
{
	uint64_t i, retries = 0, nospace;
	int r;

	for (i = 0;; i++) {
		page_random(page, seed + i);
		for (;;) {
			nospace = rejects(t, TMEM_REJECT_NOSPACE);
			r = tmem_put(t, p, 1, i, page);
			if (r != -ENOSPC)
				break;
			if (rejects(t, TMEM_REJECT_NOSPACE) > nospace)
				return i;
			CHECK(++retries < 200000);
			sleep_ms(1);
		}
		CHECK_RC(r, 0);
	}
}

static void test_fill(const char *name, int round, bool flush_between)
{
	struct tmem_options o;
	struct tmem_segment_info si;
	struct tmem *t;
	uint64_t stored, chunks, k, nospace;
	uint32_t p;
	int r;

	test_options(&o, name, 2 << 20);
	o.grower = true;
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_segment_info(t, &si), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	stored = fill(t, p, (uint64_t)round * 1000000);
	if (flush_between) {
		/* Give memory back and take it again: punched chunks, a
		 * trimmed reserve, holes faulted in anew. */
		CHECK_RC(tmem_flush_object(t, p, 1), 0);
		sleep_ms(120);
		stored = fill(t, p, (uint64_t)round * 1000000 + 500000);
	}
	/* Every data chunk but chunk 0 and the compaction spare, full. */
	chunks = (si.pool_size >> 16) - 2;
	if (stored != chunks * PER_CHUNK)
		fprintf(stderr,
			"round %d: nospace after %llu pages, room for %llu\n",
			round, (unsigned long long)stored,
			(unsigned long long)(chunks * PER_CHUNK));
	CHECK(stored == chunks * PER_CHUNK);
	/* Full means full: once the grower has settled, still nospace. */
	sleep_ms(60);
	for (k = 0; k < 4; k++) {
		nospace = rejects(t, TMEM_REJECT_NOSPACE);
		page_random(page, 999000000 + k); /* no duplicate */
		r = tmem_put(t, p, 2, k, page);
		CHECK_RC(r, -ENOSPC);
		CHECK(rejects(t, TMEM_REJECT_NOSPACE) == nospace + 1);
	}
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

/* Caller holds chunk_lock: move a chunk from the reserve into our hand, as
 * the grower does while it trims one, or back. */
static uint32_t reserve_take(struct tmem *t)
{
	uint32_t c = t->hdr->reserve_head;

	CHECK(c != 0);
	t->hdr->reserve_head = seg_chunk(t, c)->next;
	t->hdr->reserve_count--;
	atomic_store(&seg_chunk(t, c)->sl,
		     SL_MAKE(CHUNK_PUNCHING, t->slot + 1, 0));
	return c;
}

static void reserve_give(struct tmem *t, uint32_t c)
{
	atomic_store(&seg_chunk(t, c)->sl, SL_MAKE(CHUNK_RESERVE, 0, 0));
	seg_chunk(t, c)->next = t->hdr->reserve_head;
	t->hdr->reserve_head = c;
	t->hdr->reserve_count++;
}

static void test_in_hand(const char *name)
{
	struct tmem_options o;
	struct tmem *t;
	uint64_t i, chunks, nospace, empty;
	uint32_t p, c;

	/* A grower is wanted but not started: nobody else moves chunks. */
	test_options(&o, name, 2 << 20);
	o.grower = true;
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	tmem_chunk_lock(t, -1);
	while (t->hdr->hole_count) {
		c = tmem_hole_pop(t);
		reserve_give(t, c);
	}
	tmem_unlock(&t->hdr->chunk_lock);
	chunks = t->geo->nr_chunks - 2;
	/* All but the last chunk a put may take. */
	for (i = 0; i < (chunks - 1) * PER_CHUNK; i++) {
		page_random(page, i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
	}
	tmem_chunk_lock(t, -1);
	CHECK(t->hdr->reserve_count == 2);
	c = reserve_take(t);
	tmem_unlock(&t->hdr->chunk_lock);
	/* Only the compaction spare is listed, but a chunk is on its way
	 * back: not full. */
	nospace = rejects(t, TMEM_REJECT_NOSPACE);
	empty = rejects(t, TMEM_REJECT_RESERVE_EMPTY);
	page_random(page, i);
	CHECK_RC(tmem_put(t, p, 1, i, page), -ENOSPC);
	CHECK(rejects(t, TMEM_REJECT_NOSPACE) == nospace);
	CHECK(rejects(t, TMEM_REJECT_RESERVE_EMPTY) == empty + 1);
	tmem_chunk_lock(t, -1);
	reserve_give(t, c);
	tmem_unlock(&t->hdr->chunk_lock);
	for (; i < chunks * PER_CHUNK; i++) {
		page_random(page, i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
	}
	page_random(page, i);
	CHECK_RC(tmem_put(t, p, 1, i, page), -ENOSPC);
	CHECK(rejects(t, TMEM_REJECT_NOSPACE) == nospace + 1);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

int main(void)
{
	const char *name = test_segment_name("nospace");
	int round;

	test_in_hand(name);
	for (round = 0; round < 20; round++)
		test_fill(name, round, round % 2);
	return 0;
}
