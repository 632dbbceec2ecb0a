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
 * At 2M, 4M, 16M and 64M, with incompressible pages (every data chunk but
 * the compaction spare full) and with pages of every compressed size
 * (every such chunk taken, at least 97% payload).
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

/* The first n bytes random, so that pages compress to every size. */
static void page_random_prefix(unsigned char *p, uint64_t seed, size_t n)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t k;

	for (k = 32; k < n; k++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		p[k] = (unsigned char)s;
	}
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

static void test_fill(const char *name, uint64_t size, int round,
		      bool flush_between)
{
	struct tmem_options o;
	struct tmem_segment_info si;
	struct tmem *t;
	uint64_t stored, chunks, k, nospace;
	uint32_t p;
	int r;

	test_options(&o, name, size);
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
	/* Every chunk of the ceiling but the compaction spare, full (chunk
	 * 0, "none", lies beyond the ceiling). */
	chunks = (si.pool_size >> 16) - 1;
	if (stored != chunks * PER_CHUNK)
		fprintf(stderr,
			"%lluM round %d: nospace after %llu pages, room for "
			"%llu\n",
			(unsigned long long)(size >> 20), round,
			(unsigned long long)stored,
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

/* Pages of every compressed size: the pool says full only with every data
 * chunk but the spare taken, and those chunks packed. */
static void test_fill_mixed(const char *name, uint64_t size)
{
	struct tmem_options o;
	struct tmem_stats st;
	struct tmem *t;
	uint64_t i, retries = 0, nospace, chunks, used;
	uint32_t p;
	int r;

	test_options(&o, name, size);
	o.grower = true;
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (i = 0;; i++) {
		page_text(page, i);
		page_random_prefix(page, i, (size_t)(i * 37 % 3000));
		nospace = rejects(t, TMEM_REJECT_NOSPACE);
		r = tmem_put(t, p, 1, i, page);
		if (r == -ENOSPC) {
			if (rejects(t, TMEM_REJECT_NOSPACE) > nospace)
				break;
			CHECK(++retries < 200000);
			sleep_ms(1);
			i--;
			continue;
		}
		CHECK_RC(r, 0);
	}
	{
		struct tmem_pool_info info[2];

		CHECK(tmem_pool_list(t, info, 2) == 1);
		st = info[0].stats;
	}
	chunks = (size >> 16) - 1; /* all of the ceiling but the spare */
	used = (uint64_t)atomic_load(&seg_pool(t, 0)->g[G_CHUNKS]);
	fprintf(stderr,
		"%lluM mixed: nospace after %llu pages, %llu of %llu chunks, "
		"payload %llu of %llu bytes\n",
		(unsigned long long)(size >> 20), (unsigned long long)i,
		(unsigned long long)used, (unsigned long long)chunks,
		(unsigned long long)st.bytes_compressed,
		(unsigned long long)(chunks << 16));
	CHECK(used == chunks);
	/* What is left: a 4-byte header per page and each chunk's tail
	 * shorter than the next page, about 2% in all. */
	CHECK(st.bytes_compressed >= (chunks << 16) / 100 * 97);
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
		test_fill(name, 2 << 20, round, round % 2);
	/* Larger pools: more reserve and index, the same answer. */
	for (round = 0; round < 4; round++) {
		test_fill(name, 4 << 20, round, round % 2);
		test_fill(name, 16 << 20, round, round % 2);
		test_fill(name, 64 << 20, round, round % 2);
	}
	test_fill_mixed(name, 4 << 20);
	test_fill_mixed(name, 16 << 20);
	test_fill_mixed(name, 64 << 20);
	return 0;
}
