/* fuzz-pool: random operation sequences against the pool, checked against
 * a simple model.
 *
 * Each input is read as a program: put (zero, same-filled, duplicate, text,
 * near-duplicate and random pages), get, probe, flush_page, flush_object,
 * pool open and destroy of both kinds, and calls with the id of a
 * destroyed pool.  The model knows what every key must hold.  A persistent
 * key holds exactly what was last put (-ENOSPC leaves it as it was); an
 * ephemeral key may lose its page at any time (-ENOSPC drops it)
 * but never returns wrong or stale bytes, and once it has missed it stays
 * missing until the next put.  At the end of every input all pools are
 * destroyed, the segment must hold no page nor any data chunk and
 * tmem_check must pass.
 *
 * Built as a libFuzzer target with --enable-fuzzing (fuzz/Makefile.am); the
 * same entry points are replayed by test-fuzz-pool in every `make check`.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tmem.h"

#define SLOTS	  4 /* sub-pools an input may have open at once */
#define OBJECTS	  4
#define INDICES	  256 /* pages per object */
#define STALE_MAX 8
#define OPS_MAX	  4096
/* Small enough that random pages fill it: eviction and -ENOSPC happen. */
#define FUZZ_POOL_SIZE (2ULL << 20)
/* bytes_used may exceed its first value by less than one 64 KiB chunk */
#define LEAK_SLACK (64 * 1024)

enum page_type {
	PT_ZERO = 0,
	PT_SAME,   /* one 8-byte word repeated */
	PT_BYTE,   /* one byte repeated */
	PT_TEXT,   /* compressible words */
	PT_NEAR,   /* a text page with one byte changed */
	PT_RANDOM, /* incompressible */
	PT_NR
};

enum key_state {
	K_ABSENT = 0,
	K_PRESENT, /* must be there with these bytes */
	K_MAYBE,   /* ephemeral: these bytes or a miss */
};

struct key {
	uint8_t state, type;
	uint16_t seed;
};

struct slot {
	bool open;
	enum tmem_kind kind;
	uint32_t id;
	uint64_t min_bytes, max_bytes;
	struct key keys[OBJECTS][INDICES];
};

struct input {
	const uint8_t *data;
	size_t size, at;
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_pool_summary(void);

static struct tmem *pool;
static char segment[TMEM_NAME_MAX + 1];
static struct slot slots[SLOTS];
static uint32_t stale[STALE_MAX];
static unsigned nstale;
static unsigned op_no;
static uint64_t baseline_used;
static unsigned settle_waits; /* 10 ms waits for bytes_used to settle */

/* The pool's last words, shown when a check fails: its warnings are
 * expected (a kind collision is one), so they are not printed as they
 * come. */
static char last_log[4][256];
static unsigned nlog;

static void log_cb(void *opaque, enum tmem_log_level level, const char *msg)
{
	if (level <= TMEM_LOG_WARNING)
		snprintf(last_log[nlog++ % 4], sizeof last_log[0], "%s", msg);
}

static void fuzz_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void fuzz_fail(const char *fmt, ...)
{
	char path[TMEM_NAME_MAX + 16];
	va_list ap;

	fprintf(stderr, "fuzz-pool: op %u: ", op_no);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (unsigned j = nlog > 4 ? nlog - 4 : 0; j < nlog; j++)
		fprintf(stderr, "fuzz-pool: the pool said: %s\n",
			last_log[j % 4]);
	/* dying without tmem_close: do not leave the segment behind */
	snprintf(path, sizeof path, "/dev/shm/%s", segment);
	unlink(path);
	abort();
}

static uint8_t next_byte(struct input *in)
{
	return in->at < in->size ? in->data[in->at++] : 0;
}

static uint16_t next_u16(struct input *in)
{
	uint16_t v = next_byte(in);

	return v | (uint16_t)next_byte(in) << 8;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The bytes a (type, seed) pair stands for: the model stores only these
 * four bytes per key and regenerates the page to compare. */
static void page_make(uint8_t type, uint16_t seed, uint8_t *page)
{
	static const char *const words[] = {
		"tmem ", "page ", "pool ", "swap ", "cache ", "zstd ",
		"the ",	 "of ",	  "and ",  "a ",    "\n",     "0x7f3a ",
	};
	uint64_t s = 0x9e3779b97f4a7c15ULL * (seed + 1) + type;
	size_t at = 0;

	switch (type) {
	case PT_ZERO:
		memset(page, 0, TMEM_PAGE_SIZE);
		break;
	case PT_SAME: {
		uint64_t w = xorshift(&s) | 1;

		for (size_t i = 0; i < TMEM_PAGE_SIZE; i += 8)
			memcpy(page + i, &w, 8);
		break;
	}
	case PT_BYTE:
		memset(page, (seed % 255) + 1, TMEM_PAGE_SIZE);
		break;
	case PT_TEXT:
	case PT_NEAR:
		/* near pages share their text with a text page: seed / 16 */
		s = 0x9e3779b97f4a7c15ULL *
			    (type == PT_NEAR ? seed / 16 + 1 : seed + 1) +
		    PT_TEXT;
		while (at < TMEM_PAGE_SIZE) {
			const char *w = words[xorshift(&s) % 12];
			size_t len = strlen(w);

			if (len > TMEM_PAGE_SIZE - at)
				len = TMEM_PAGE_SIZE - at;
			memcpy(page + at, w, len);
			at += len;
		}
		if (type == PT_NEAR)
			page[(seed % 16) * 256 + 17] ^= 0x20;
		break;
	default:
		for (size_t i = 0; i < TMEM_PAGE_SIZE; i += 8) {
			uint64_t w = xorshift(&s);

			memcpy(page + i, &w, 8);
		}
		break;
	}
}

static bool page_is_zero(uint8_t type, uint16_t seed)
{
	(void)seed;
	return type == PT_ZERO;
}

static void cleanup_segment(void)
{
	tmem_close(pool);
	pool = NULL;
	tmem_unlink(segment);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tmem_options opts;
	struct tmem_stats st;
	int r;

	snprintf(segment, sizeof segment, "fuzz-pool-%d", (int)getpid());
	tmem_unlink(segment);
	tmem_options_init(&opts);
	opts.name = segment;
	opts.pool_size = FUZZ_POOL_SIZE;
	opts.prefault = true;
	opts.grower = true;
	opts.log = log_cb;
	r = tmem_open(&opts, &pool);
	if (r < 0) {
		fprintf(stderr, "fuzz-pool: tmem_open %s: %s\n", segment,
			tmem_strerror(r));
		exit(1);
	}
	atexit(cleanup_segment);
	r = tmem_start(pool);
	if (r < 0) {
		fprintf(stderr, "fuzz-pool: tmem_start: %s\n",
			tmem_strerror(r));
		exit(1);
	}
	r = tmem_stats_get(pool, &st);
	if (r < 0) {
		fprintf(stderr, "fuzz-pool: tmem_stats_get: %s\n",
			tmem_strerror(r));
		exit(1);
	}
	baseline_used = st.bytes_used;
	return 0;
}

static void expect(int r, int want, const char *what)
{
	if (r != want)
		fuzz_fail("%s returned %d (%s), expected %d", what, r,
			  tmem_strerror(r), want);
}

static void check_get(struct slot *sl, unsigned o, unsigned i)
{
	static uint8_t got[TMEM_PAGE_SIZE], want[TMEM_PAGE_SIZE];
	struct key *k = &sl->keys[o][i];
	int r = tmem_get(pool, sl->id, o, i, got);

	if (r == -ENOENT) {
		if (k->state == K_PRESENT)
			fuzz_fail("get (%u,%u,%u): persistent page missing",
				  sl->id, o, i);
		k->state = K_ABSENT; /* a miss stays a miss until a put */
		return;
	}
	if (r < 0)
		fuzz_fail("get (%u,%u,%u): %s", sl->id, o, i, tmem_strerror(r));
	if (k->state == K_ABSENT)
		fuzz_fail("get (%u,%u,%u): a page that was flushed, missed or "
			  "never put came back",
			  sl->id, o, i);
	page_make(k->type, k->seed, want);
	if (memcmp(got, want, TMEM_PAGE_SIZE) != 0)
		fuzz_fail("get (%u,%u,%u): wrong bytes (type %u seed %u)",
			  sl->id, o, i, k->type, k->seed);
}

static void check_probe(struct slot *sl, unsigned o, unsigned i)
{
	struct key *k = &sl->keys[o][i];
	enum tmem_page_state ps;
	int r = tmem_probe(pool, sl->id, o, i, &ps);

	expect(r, 0, "probe");
	if (ps == TMEM_PAGE_ABSENT) {
		if (k->state == K_PRESENT)
			fuzz_fail("probe (%u,%u,%u): persistent page absent",
				  sl->id, o, i);
		k->state = K_ABSENT;
		return;
	}
	if (k->state == K_ABSENT)
		fuzz_fail("probe (%u,%u,%u): says present, model absent",
			  sl->id, o, i);
	if ((ps == TMEM_PAGE_ZERO) != page_is_zero(k->type, k->seed))
		fuzz_fail("probe (%u,%u,%u): state %d for a page of type %u",
			  sl->id, o, i, ps, k->type);
}

static void do_put(struct slot *sl, unsigned o, unsigned i, uint8_t type,
		   uint16_t seed)
{
	static uint8_t page[TMEM_PAGE_SIZE];
	struct key *k = &sl->keys[o][i];
	int r;

	page_make(type, seed, page);
	r = tmem_put(pool, sl->id, o, i, page);
	if (r == 0) {
		k->state = sl->kind == TMEM_PERSISTENT ? K_PRESENT : K_MAYBE;
		k->type = type;
		k->seed = seed;
		/* the pool copied the page: scribbling on ours is harmless */
		memset(page, 0xa5, sizeof page);
		return;
	}
	/* A persistent key keeps its older version; an ephemeral one's is
	 * gone too. */
	if (r == -ENOSPC && sl->kind == TMEM_PERSISTENT)
		return;
	if (r == -ENOSPC ||
	    (sl->kind == TMEM_EPHEMERAL && (r == -EAGAIN || r == -EBUSY))) {
		k->state = K_ABSENT;
		return;
	}
	fuzz_fail("put (%u,%u,%u): %s", sl->id, o, i, tmem_strerror(r));
}

static void do_pool_open(unsigned s, struct input *in)
{
	struct slot *sl = &slots[s];
	uint8_t b = next_byte(in);
	enum tmem_kind kind = b & 1 ? TMEM_EPHEMERAL : TMEM_PERSISTENT;
	uint64_t min_bytes =
		sl->open ? sl->min_bytes : ((b >> 1) & 3) * (64ULL << 10);
	uint64_t max_bytes =
		sl->open ? sl->max_bytes : ((b >> 3) & 3) * (512ULL << 10);
	char name[16];
	uint32_t id;
	int r;

	snprintf(name, sizeof name, "fz%u", s);
	r = tmem_pool_open(pool, name, kind, min_bytes, max_bytes, &id);
	if (sl->open) {
		if (kind != sl->kind) {
			expect(r, -EEXIST, "pool_open of the other kind");
			return;
		}
		expect(r, 0, "pool_open of an open pool");
		if (id != sl->id)
			fuzz_fail("pool_open fz%u: id %u, was %u", s, id,
				  sl->id);
		return;
	}
	if (r == -ENOSPC)
		return;
	expect(r, 0, "pool_open");
	for (unsigned j = 0; j < nstale; j++)
		if (stale[j] == id)
			fuzz_fail("pool_open: id %u of a destroyed pool reused",
				  id);
	for (unsigned j = 0; j < SLOTS; j++)
		if (slots[j].open && slots[j].id == id)
			fuzz_fail("pool_open: id %u is fz%u's", id, j);
	memset(sl, 0, sizeof *sl);
	sl->open = true;
	sl->kind = kind;
	sl->id = id;
	sl->min_bytes = min_bytes;
	sl->max_bytes = max_bytes;
}

static void do_pool_destroy(unsigned s)
{
	struct slot *sl = &slots[s];

	if (!sl->open)
		return;
	expect(tmem_pool_destroy(pool, sl->id), 0, "pool_destroy");
	if (nstale < STALE_MAX)
		stale[nstale++] = sl->id;
	else
		stale[op_no % STALE_MAX] = sl->id;
	sl->open = false;
}

/* Any call with a destroyed pool's id must say -ENOENT. */
static void do_stale(struct input *in)
{
	static uint8_t page[TMEM_PAGE_SIZE];
	enum tmem_page_state ps;
	uint32_t id;
	uint8_t b;

	if (nstale == 0)
		return;
	id = stale[next_byte(in) % nstale];
	b = next_byte(in);
	switch (b % 6) {
	case 0:
		page_make(PT_TEXT, b, page);
		expect(tmem_put(pool, id, 0, 0, page), -ENOENT, "stale put");
		break;
	case 1:
		expect(tmem_get(pool, id, 0, 0, page), -ENOENT, "stale get");
		break;
	case 2:
		expect(tmem_probe(pool, id, 0, 0, &ps), -ENOENT, "stale probe");
		break;
	case 3:
		expect(tmem_flush_page(pool, id, 0, 0), -ENOENT,
		       "stale flush_page");
		break;
	case 4:
		expect(tmem_flush_object(pool, id, 0), -ENOENT,
		       "stale flush_object");
		break;
	default:
		expect(tmem_pool_destroy(pool, id), -ENOENT,
		       "stale pool_destroy");
		break;
	}
}

static void check_all(struct slot *sl)
{
	for (unsigned o = 0; o < OBJECTS; o++)
		for (unsigned i = 0; i < INDICES; i++)
			check_get(sl, o, i);
}

static void check_segment(void)
{
	int r = tmem_check(pool);

	if (r < 0)
		fuzz_fail("tmem_check: %s", tmem_strerror(r));
}

/* What the inputs so far made the pool do (for the replay driver): a run
 * that never evicts or fills the pool has not tested much. */
void fuzz_pool_summary(void)
{
	struct tmem_stats st;

	if (tmem_stats_get(pool, &st) < 0)
		return;
	printf("test-fuzz-pool: the pool saw %" PRIu64 " puts, %" PRIu64
	       " gets (%" PRIu64 " hits), %" PRIu64 " flushes, %" PRIu64
	       " dedup hits, %" PRIu64 " evictions, rejects:",
	       st.puts, st.gets, st.hits, st.flushes, st.dedup_hits,
	       st.evictions);
	for (int r = 0; r < TMEM_REJECT_NR; r++)
		printf(" %s %" PRIu64, tmem_reject_names[r], st.rejects[r]);
	printf("; waited %u x 10 ms for freed chunks to leave bytes_used\n",
	       settle_waits);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {.data = data, .size = size};
	struct tmem_stats st;

	memset(slots, 0, sizeof slots);
	nstale = 0;
	for (op_no = 0; in.at < in.size && op_no < OPS_MAX; op_no++) {
		uint8_t op = next_byte(&in);
		unsigned s = next_byte(&in) % SLOTS;
		unsigned o = next_byte(&in) % OBJECTS;
		unsigned i = next_byte(&in) % INDICES;
		struct slot *sl = &slots[s];

		switch (op % 12) {
		case 0: /* put */
		case 1: {
			uint8_t type = next_byte(&in) % PT_NR;

			if (sl->open)
				do_put(sl, o, i, type, next_u16(&in));
			break;
		}
		case 2: { /* put a duplicate of another key's page */
			struct slot *from = &slots[next_byte(&in) % SLOTS];
			struct key *k = &from->keys[next_byte(&in) % OBJECTS]
						   [next_byte(&in) % INDICES];

			if (sl->open)
				do_put(sl, o, i, k->type, k->seed);
			break;
		}
		case 3: { /* a run of random or text pages: fills the pool */
			uint8_t n = next_byte(&in) % 64 + 1;
			uint8_t type = next_byte(&in) & 1 ? PT_RANDOM : PT_TEXT;
			uint16_t seed = next_u16(&in);

			for (unsigned j = 0; sl->open && j < n; j++)
				do_put(sl, o, (i + j) % INDICES, type,
				       seed + j);
			break;
		}
		case 4:
		case 5:
			if (sl->open)
				check_get(sl, o, i);
			break;
		case 6:
			if (sl->open)
				check_probe(sl, o, i);
			break;
		case 7:
			if (sl->open) {
				expect(tmem_flush_page(pool, sl->id, o, i), 0,
				       "flush_page");
				sl->keys[o][i].state = K_ABSENT;
			}
			break;
		case 8:
			if (sl->open) {
				expect(tmem_flush_object(pool, sl->id, o), 0,
				       "flush_object");
				memset(sl->keys[o], 0, sizeof sl->keys[o]);
			}
			break;
		case 9:
			do_pool_open(s, &in);
			break;
		case 10:
			if (i % 4 == 0)
				do_pool_destroy(s);
			else if (i % 4 == 1)
				check_segment();
			else if (sl->open)
				for (unsigned j = 0; j < INDICES; j++)
					check_get(sl, o, j);
			break;
		default:
			do_stale(&in);
			break;
		}
	}

	/* Every page still held must be right; then nothing may be left. */
	for (unsigned s = 0; s < SLOTS; s++) {
		if (!slots[s].open)
			continue;
		check_all(&slots[s]);
		do_pool_destroy(s);
	}
	check_segment();
	expect(tmem_stats_get(pool, &st), 0, "stats_get");
	if (st.pages_stored != 0)
		fuzz_fail("%" PRIu64 " pages stored with every pool destroyed",
			  st.pages_stored);
	if (st.bytes_compressed != 0)
		fuzz_fail("%" PRIu64 " compressed bytes with every pool "
			  "destroyed",
			  st.bytes_compressed);
	/* The index's bucket arrays grow with use and stay: bytes_used may
	 * creep by a few KiB, but a leaked data chunk is 64 KiB.  A chunk the
	 * grower thread is still giving back is not a leak: give it a
	 * second. */
	for (int tries = 0;
	     st.bytes_used >= baseline_used + LEAK_SLACK && tries < 100;
	     tries++) {
		struct timespec pause = {0, 10 * 1000 * 1000};

		nanosleep(&pause, NULL);
		expect(tmem_stats_get(pool, &st), 0, "stats_get");
		settle_waits++;
	}
	if (st.bytes_used >= baseline_used + LEAK_SLACK)
		fuzz_fail("bytes_used %" PRIu64 " with every pool destroyed, "
			  "%" PRIu64 " at the start: leaked",
			  st.bytes_used, baseline_used);
	return 0;
}
