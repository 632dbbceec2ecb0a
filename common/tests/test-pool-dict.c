/* tmem: the trained dictionary.  A process that runs tmem_start samples the
 * pages it stores, trains a dictionary once it has enough, and publishes it
 * in the segment; from then on pages compress smaller, pages stored before
 * it still read back, the samples' memory goes back to the kernel once
 * trained, and another process (or a later one) reads and
 * writes with the same dictionary; pages it does not fit make the process
 * stop using it until it pays again.  A claim left by a dead trainer is taken
 * back; one that does not pay on the samples it was not trained on is
 * not kept; a segment made with dictionary = no never trains; a damaged
 * dictionary makes the pages that need it fail with -EIO and a message,
 * never garbage, while every other page stays readable.  The trainer's
 * timed waits count by the monotonic clock. */
#include <config.h>

#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-pool.h"
#include "tmem-internal.h"

#define FIRST  6000 /* enough for TMEM_DICT_SAMPLES one in TMEM_DICT_EVERY */
#define SECOND 3000

static unsigned char page[4096], back[4096];

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static enum tmem_dict_state dict_state(struct tmem *t)
{
	struct tmem_segment_info si;

	CHECK_RC(tmem_segment_info(t, &si), 0);
	return si.dict_state;
}

static enum tmem_dict_state wait_trained(struct tmem *t)
{
	enum tmem_dict_state s = TMEM_DICT_SAMPLING;
	int ms;

	for (ms = 0; ms < 30000; ms += 20) {
		s = dict_state(t);
		if (s == TMEM_DICT_READY || s == TMEM_DICT_FAILED)
			break;
		sleep_ms(20);
	}
	/* Trained is not yet loaded in this process: a put meanwhile
	 * compresses without it (it never waits for the load), and the
	 * pages the tests count on would not need it. */
	for (; s == TMEM_DICT_READY && ms < 30000; ms += 20) {
		if (atomic_load(&t->dict_loaded))
			break;
		sleep_ms(20);
	}
	return s;
}

/* Whether the page at p is mapped in this process (mincore fails with
 * ENOMEM on a range that is not). */
static bool mapped(void *p)
{
	unsigned char v;

	return mincore((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096, &v) ==
	       0;
}

static uint64_t compressed(struct tmem *t)
{
	struct tmem_stats st;

	CHECK_RC(tmem_stats_get(t, &st), 0);
	return st.bytes_compressed;
}

/* Text of a vocabulary the dictionary can learn, a different mix of it on
 * every page. */
static void page_words(void *p, uint64_t seed)
{
	page_text(p, seed);
}

/* Counting 32-bit integers, w[j] = start + j * step: a few dozen bytes
 * under zstd without a dictionary, nothing a text dictionary fits. */
static void page_counting(void *p, uint32_t start, uint32_t step)
{
	uint32_t *w = p, j;

	for (j = 0; j < 1024; j++)
		w[j] = start + j * step;
}

static void put_range(struct tmem *t, uint32_t p, uint64_t from, uint64_t n)
{
	uint64_t i;

	for (i = from; i < from + n; i++) {
		page_words(page, i);
		CHECK_RC(tmem_put(t, p, 7, i, page), 0);
	}
}

static void check_range(struct tmem *t, uint32_t p, uint64_t from, uint64_t n)
{
	uint64_t i;

	for (i = from; i < from + n; i++) {
		page_words(page, i);
		CHECK_RC(tmem_get(t, p, 7, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
}

static struct tmem *open_seg(const char *name, bool start)
{
	struct tmem_options o;
	struct tmem *t;

	test_options(&o, name, 64 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	if (start)
		CHECK_RC(tmem_start(t), 0);
	return t;
}

static void test_train_and_share(const char *name)
{
	struct tmem *t, *u;
	struct tmem_options o;
	uint64_t first, before, after, i;
	uint32_t p, up;
	unsigned char *samples;
	pid_t pid;
	int status;

	/* malloc as the swap server's is: once a large block was freed
	 * (libbpf's copy of the kernel's BTF there), glibc raises its mmap
	 * and trim thresholds, so that a 4 MiB block comes from the heap,
	 * and freed there stays resident (and locked, under mlockall).  A
	 * sanitizer's allocator refuses these (and keeps freed blocks in
	 * quarantine, mapped, which the check below also catches). */
	(void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
	t = open_seg(name, true);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK(dict_state(t) == TMEM_DICT_SAMPLING);
	samples = t->samples;
	CHECK(samples != NULL && mapped(samples));
	test_options(&o, name, 64 << 20);
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &u), 0);
	CHECK_RC(tmem_pool_open(u, "p", TMEM_PERSISTENT, 0, 0, &up), 0);
	page_random(page, 1);
	CHECK_RC(tmem_put(u, up, 9, 0, page), 0);
	put_range(t, p, 0, FIRST);
	first = compressed(t);
	CHECK(wait_trained(t) == TMEM_DICT_READY);
	/* The samples' 4 MiB went back to the kernel: under mlockall, heap
	 * memory freed stays resident and locked. */
	for (i = 0;
	     i < 1500 && !__atomic_load_n(&t->samples_freed, __ATOMIC_ACQUIRE);
	     i++)
		sleep_ms(20);
	CHECK(__atomic_load_n(&t->samples_freed, __ATOMIC_ACQUIRE));
	CHECK(!mapped(samples));
	/* The other handle's only context gave up on its last page midway
	 * (it did not compress enough) before the dictionary was there: it
	 * must take the dictionary all the same. */
	page_words(page, 300000);
	CHECK_RC(tmem_put(u, up, 9, 1, page), 0);
	tmem_close(u);
	before = compressed(t);

	put_range(t, p, FIRST, SECOND);
	after = compressed(t) - before;
	before = first * SECOND / FIRST;
	printf("test-pool-dict: %d pages: %llu bytes without the dictionary, "
	       "%llu with it\n",
	       SECOND, (unsigned long long)before, (unsigned long long)after);
	CHECK(after < before * 9 / 10);

	/* Pages the dictionary does not fit (counting integers: they compress
	 * to a few dozen bytes without it, and its id alone costs one more):
	 * the probes see it and new pages go without it; text again, and it
	 * is back. */
	CHECK(!atomic_load(&t->dict_paused));
	for (i = 0; i < 2 * 64 * 32 + 64; i++) {
		page_counting(page, (uint32_t)(i * 1024), 1);
		CHECK_RC(tmem_put(t, p, 10, i, page), 0);
	}
	CHECK(atomic_load(&t->dict_paused));
	for (i = 0; i < 2 * 64 * 32 + 64; i++) {
		page_words(page, 400000 + i);
		CHECK_RC(tmem_put(t, p, 11, i, page), 0);
	}
	CHECK(!atomic_load(&t->dict_paused));
	for (i = 0; i < 2 * 64 * 32 + 64; i += 97) {
		page_counting(page, (uint32_t)(i * 1024), 1);
		CHECK_RC(tmem_get(t, p, 10, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
		page_words(page, 400000 + i);
		CHECK_RC(tmem_get(t, p, 11, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}

	/* Old and new frames, interleaved on the same contexts. */
	for (i = 0; i < SECOND; i++) {
		check_range(t, p, i, 1);
		check_range(t, p, FIRST + i, 1);
	}

	/* Another process: reads both kinds, writes with the dictionary
	 * (it never samples or trains: no tmem_start). */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct tmem *c = open_seg(name, false);
		uint32_t cp;

		CHECK_RC(tmem_pool_open(c, "p", TMEM_PERSISTENT, 0, 0, &cp), 0);
		check_range(c, cp, 0, FIRST + SECOND);
		before = compressed(c);
		put_range(c, cp, 100000, 1000);
		CHECK(compressed(c) - before < after / SECOND * 1000 * 11 / 10);
		tmem_close(c);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_range(t, p, 100000, 1000);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);

	/* A later process finds it in the segment. */
	t = open_seg(name, true);
	CHECK(dict_state(t) == TMEM_DICT_READY);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	check_range(t, p, 0, FIRST + SECOND);
	check_range(t, p, 100000, 1000);
	tmem_close(t);
}

/* Bytes stored for n text pages put into sub-pool p from key base. */
static uint64_t cost_of(struct tmem *t, uint32_t p, uint64_t base, uint64_t n)
{
	uint64_t before = compressed(t);

	put_range(t, p, base, n);
	return compressed(t) - before;
}

/* The dictionary holds pieces of the pages it was trained on, and how
 * small another page compresses with it tells whoever can measure its
 * size (a full share, a pool's statistics) how much of that page the
 * dictionary knows: the compression-side twin of the dedup attack.  So a
 * dictionary is trained on the pages of one sub-pool, or of the sub-pools
 * that opted into sharing pages (dedup-scope = pool), and serves those
 * only; pages of a sub-pool whose users must not learn of each other's
 * (TMEM_DEDUP_NONE, the read cache's) neither train one nor use one. */
static void test_isolation(const char *name)
{
	struct tmem *t;
	uint32_t a, b, n, x, y;
	uint64_t plain, own, other, none, shared;
	uint32_t claimed;

	t = open_seg(name, true);
	CHECK_RC(tmem_pool_open(t, "a", TMEM_PERSISTENT, 0, 0, &a), 0);
	CHECK_RC(tmem_pool_open(t, "b", TMEM_PERSISTENT, 0, 0, &b), 0);
	CHECK_RC(tmem_pool_open(t, "n", TMEM_EPHEMERAL, 0, 0, &n), 0);
	CHECK_RC(tmem_pool_set_dedup(t, n, TMEM_DEDUP_NONE), 0);
	/* Pages of a sub-pool that shares with no one are not sampled. */
	put_range(t, n, 0, 2 * TMEM_DICT_EVERY);
	CHECK(atomic_load(&t->dict_claimed) == 0);
	/* The first sub-pool sampled is the one trained on: b's pages are
	 * not sampled once a's are. */
	plain = cost_of(t, a, 0, FIRST);
	claimed = atomic_load(&t->dict_claimed);
	CHECK(claimed > 0);
	put_range(t, b, 0, 4 * TMEM_DICT_EVERY);
	CHECK(atomic_load(&t->dict_claimed) == claimed ||
	      claimed >= TMEM_DICT_SAMPLES);
	CHECK(wait_trained(t) == TMEM_DICT_READY);
	plain = plain * SECOND / FIRST;
	own = cost_of(t, a, 10 * FIRST, SECOND);
	other = cost_of(t, b, 10 * FIRST, SECOND);
	none = cost_of(t, n, 10 * FIRST, SECOND);
	printf("test-pool-dict: %d pages: %llu bytes without the dictionary, "
	       "%llu in the sub-pool it was trained on, %llu in another, "
	       "%llu in one that shares with no one\n",
	       SECOND, (unsigned long long)plain, (unsigned long long)own,
	       (unsigned long long)other, (unsigned long long)none);
	CHECK(own < plain * 9 / 10);
	CHECK(other > plain * 19 / 20);
	CHECK(none > plain * 19 / 20);
	check_range(t, a, 10 * FIRST, SECOND);
	check_range(t, b, 10 * FIRST, SECOND);
	tmem_close(t);
	tmem_unlink(name);

	/* Sub-pools that opted into sharing pages share the dictionary too:
	 * trained on x's pages, it serves y. */
	t = open_seg(name, true);
	CHECK_RC(tmem_pool_open(t, "x", TMEM_PERSISTENT, 0, 0, &x), 0);
	CHECK_RC(tmem_pool_open(t, "y", TMEM_PERSISTENT, 0, 0, &y), 0);
	CHECK_RC(tmem_pool_set_dedup(t, x, TMEM_DEDUP_POOL), 0);
	CHECK_RC(tmem_pool_set_dedup(t, y, TMEM_DEDUP_POOL), 0);
	plain = cost_of(t, x, 0, FIRST) * SECOND / FIRST;
	CHECK(wait_trained(t) == TMEM_DICT_READY);
	shared = cost_of(t, y, 10 * FIRST, SECOND);
	CHECK(shared < plain * 9 / 10);
	check_range(t, y, 10 * FIRST, SECOND);
	tmem_close(t);
}

/* Damage one byte of the dictionary in the segment file. */
static void damage_dictionary(const char *name)
{
	char path[128];
	struct tmem_header h;
	unsigned char b;
	int fd;

	snprintf(path, sizeof path, "/dev/shm/%s", name);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
	CHECK(h.dict_size > 100);
	CHECK(pread(fd, &b, 1, (off_t)(h.geo.off_dict + 100)) == 1);
	b ^= 0x40;
	CHECK(pwrite(fd, &b, 1, (off_t)(h.geo.off_dict + 100)) == 1);
	close(fd);
}

static unsigned errors_logged, warnings_logged, infos_logged;
static enum tmem_log_level counted_level = TMEM_LOG_DEBUG;

static void count_log(void *opaque, enum tmem_log_level level, const char *msg)
{
	if (level == TMEM_LOG_ERROR)
		errors_logged++;
	if (level == TMEM_LOG_WARNING)
		warnings_logged++;
	if (level == TMEM_LOG_INFO)
		infos_logged++;
	test_log(opaque, level, msg);
}

/* A serving process (tmem_start) on the segment, its messages counted,
 * with the sub-pool "p" open. */
static struct tmem *open_counted(const char *name, bool dictionary, uint32_t *p)
{
	struct tmem_options o;
	struct tmem *t;

	test_options(&o, name, 64 << 20);
	o.log = count_log;
	o.log_level = counted_level;
	o.dictionary = dictionary;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, p), 0);
	return t;
}

static void test_damaged(const char *name)
{
	struct tmem_stats st;
	struct tmem *t;
	uint64_t i, bad = 0, good = 0;
	uint32_t p;
	int r;

	damage_dictionary(name);
	errors_logged = 0;
	t = open_counted(name, true, &p);
	/* Pages stored before the dictionary read back; the others fail
	 * cleanly. */
	for (i = 0; i < FIRST + SECOND; i++) {
		page_words(page, i);
		r = tmem_get(t, p, 7, i, back);
		if (r == 0) {
			CHECK(memcmp(page, back, 4096) == 0);
			good++;
		} else {
			CHECK_RC(r, -EIO);
			bad++;
		}
	}
	printf("test-pool-dict: damaged dictionary: %llu pages read, %llu "
	       "refused\n",
	       (unsigned long long)good, (unsigned long long)bad);
	CHECK(good >= FIRST / 2 && bad >= SECOND);
	/* Said once for the dictionary and once for its pages, not once a
	 * page; the count is in the statistics. */
	CHECK(errors_logged == 2);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.checksum_errors == bad);
	/* New pages still go in (without it) and come back. */
	put_range(t, p, 200000, 500);
	check_range(t, p, 200000, 500);
	tmem_close(t);
}

/* A trainer that died holding the claim: the next one takes it back. */
static void test_stale_claim(const char *name)
{
	struct tmem *t = open_seg(name, false);
	uint32_t p;

	atomic_store(&t->hdr->dict_state,
		     DICT_TRAINING | (63ULL << 8) | (999999ULL << 32));
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	put_range(t, p, 0, FIRST);
	CHECK(wait_trained(t) == TMEM_DICT_READY);
	check_range(t, p, 0, FIRST);
	tmem_close(t);
}

/* Trained on text, tested on pages it does not fit (the last quarter of
 * the samples are counting integers): no dictionary, said as information
 * (it is normal), not as a warning; with log_level at warnings, not said
 * at all. */
static void test_no_gain(const char *name, enum tmem_log_level level)
{
	struct tmem *t;
	uint64_t i;
	uint32_t p;

	warnings_logged = infos_logged = 0;
	counted_level = level;
	t = open_counted(name, true, &p);
	put_range(t, p, 0, TMEM_DICT_SAMPLES / 4 * 3 * TMEM_DICT_EVERY);
	for (i = 0; i < TMEM_DICT_SAMPLES / 4 * TMEM_DICT_EVERY; i++) {
		page_counting(page, (uint32_t)(i * 7919), 3);
		CHECK_RC(tmem_put(t, p, 12, i, page), 0);
	}
	CHECK(wait_trained(t) == TMEM_DICT_FAILED);
	CHECK(warnings_logged == 0);
	printf("test-pool-dict: no gain, log level %d: %u messages of "
	       "information\n",
	       (int)level, infos_logged);
	CHECK(level >= TMEM_LOG_INFO ? infos_logged > 0 : infos_logged == 0);
	counted_level = TMEM_LOG_DEBUG;
	check_range(t, p, 0, 1000);
	tmem_close(t);
}

static void test_off(const char *name)
{
	struct tmem *t;
	uint32_t p;

	t = open_counted(name, false, &p);
	put_range(t, p, 0, FIRST);
	sleep_ms(1500);
	CHECK(dict_state(t) == TMEM_DICT_OFF);
	check_range(t, p, 0, FIRST);
	tmem_close(t);
}

/* The trainer's waits: a timed wait whose end is a time of the wall
 * clock lasts however long the clock is set back meanwhile.  Its calls
 * to clock_gettime reach this one, which counts them by clock. */
static _Atomic unsigned trainer_realtime, trainer_monotonic;

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	char comm[16] = "";

	if (prctl(PR_GET_NAME, comm) == 0 && strcmp(comm, "tmem-dict") == 0) {
		if (clk == CLOCK_REALTIME)
			atomic_fetch_add(&trainer_realtime, 1);
		if (clk == CLOCK_MONOTONIC)
			atomic_fetch_add(&trainer_monotonic, 1);
	}
	return (int)syscall(SYS_clock_gettime, clk, ts);
}

static void test_clock(const char *name)
{
	struct tmem *t = open_seg(name, true);
	uint32_t p;

	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	/* Sampling: the trainer waits for the samples, waking once a
	 * second (and not in a loop: a deadline by one clock on a wait by
	 * the other would end at once, or never). */
	put_range(t, p, 0, 100);
	atomic_store(&trainer_realtime, 0);
	atomic_store(&trainer_monotonic, 0);
	sleep_ms(2500);
	printf("test-pool-dict: trainer's clock reads in 2.5 s: %u by the "
	       "wall clock, %u monotonic\n",
	       atomic_load(&trainer_realtime), atomic_load(&trainer_monotonic));
	CHECK(atomic_load(&trainer_realtime) == 0);
	CHECK(atomic_load(&trainer_monotonic) >= 1 &&
	      atomic_load(&trainer_monotonic) <= 4);
	tmem_close(t);
}

int main(void)
{
	char name[64];

	snprintf(name, sizeof name, "%s", test_segment_name("dict"));
	test_train_and_share(name);
	test_damaged(name);
	tmem_unlink(name);
	test_stale_claim(name);
	tmem_unlink(name);
	test_no_gain(name, TMEM_LOG_DEBUG);
	tmem_unlink(name);
	test_no_gain(name, TMEM_LOG_WARNING);
	tmem_unlink(name);
	test_off(name);
	tmem_unlink(name);
	test_clock(name);
	tmem_unlink(name);
	test_isolation(name);
	printf("test-pool-dict: ok\n");
	return 0;
}
