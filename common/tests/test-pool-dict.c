/* tmem: the trained dictionaries.  A process that runs tmem_start samples
 * the pages it stores, trains a dictionary once it has enough, and
 * publishes it in the segment; from then on pages compress smaller, pages
 * stored before it still read back, the samples' memory goes back to the
 * kernel once trained, and another process (or a later one) reads and
 * writes with the same dictionary; pages it does not fit make the process
 * stop using it until it pays again.  Each group (a sub-pool, or the
 * sub-pools sharing pages) gets a dictionary of its own and no other's,
 * while the segment has a slot free; then further groups go without.  A
 * claim left by a dead trainer is taken back; one that does not pay on the
 * samples it was not trained on is not kept; a segment made with
 * dictionary = no never trains; a damaged dictionary makes the pages that
 * need it fail with -EIO and a message, never garbage, while every other
 * page stays readable.  A segment of the layout before slots is refused,
 * naming both versions.  The trainer's timed waits count by the monotonic
 * clock. */
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

/* The dictionary group of sub-pool p (dedup scope subpool). */
static uint64_t group_of(uint32_t p)
{
	return DICT_GROUP_SUBPOOL | p;
}

/* The state of group's slot: SAMPLING while it has none. */
static enum tmem_dict_state group_state(struct tmem *t, uint64_t group)
{
	unsigned s;

	for (s = 0; s < TMEM_DICT_SLOTS; s++) {
		uint64_t v = atomic_load(&t->hdr->dict[s].state);

		if (dict_state_of(v) != DICT_NONE &&
		    atomic_load(&t->hdr->dict[s].group) == group)
			return (enum tmem_dict_state)dict_state_of(v);
	}
	return TMEM_DICT_SAMPLING;
}

/* This process's CDict for group, loaded now if its dictionary is ready
 * (a put loads it itself, but never waits for the lock to). */
static struct tmem_dict_enc *enc_of(struct tmem *t, uint64_t group)
{
	bool claimable;

	return tmem_dict_for(t, group, true, &claimable);
}

/* Whether this process has a CDict loaded for group. */
static bool loaded_for(struct tmem *t, uint64_t group)
{
	unsigned i;

	for (i = 0; i < TMEM_DICT_CDICTS; i++) {
		if (atomic_load(&t->dict_enc[i].loaded) &&
		    t->dict_enc[i].group == group)
			return true;
	}
	return false;
}

/* Wait for group's dictionary to be trained (or found not to pay), and
 * load it here when it is ready. */
static enum tmem_dict_state wait_group(struct tmem *t, uint64_t group)
{
	enum tmem_dict_state s = TMEM_DICT_SAMPLING;
	int ms;

	for (ms = 0; ms < 30000; ms += 20) {
		s = group_state(t, group);
		if (s == TMEM_DICT_READY || s == TMEM_DICT_FAILED)
			break;
		sleep_ms(20);
	}
	if (s == TMEM_DICT_READY)
		CHECK(enc_of(t, group) != NULL);
	return s;
}

static enum tmem_dict_state wait_trained(struct tmem *t, uint32_t p)
{
	return wait_group(t, group_of(p));
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

static bool round_closed(struct tmem *t)
{
	return (atomic_load(&t->dict_round) & 0xffff) == 0xffff;
}

/* Wait for the trainer to open the round a put asked for. */
static void wait_round(struct tmem *t)
{
	int ms;

	for (ms = 0; ms < 5000 && round_closed(t); ms++)
		sleep_ms(1);
	CHECK(!round_closed(t));
}

/* Put one page of p and wait for the round it asks for: the samples then
 * start with the next page (the round opens on the trainer thread, and
 * the test's puts are faster than a loaded machine may wake it). */
static void open_round(struct tmem *t, uint32_t p)
{
	static uint64_t n;

	/* A page not stored before: a dedup hit compresses nothing. */
	page_words(page, 900000 + n);
	CHECK_RC(tmem_put(t, p, 8, n++, page), 0);
	wait_round(t);
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
	/* No sample buffer until a group asks for one. */
	CHECK(t->samples == NULL);
	test_options(&o, name, 64 << 20);
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &u), 0);
	CHECK_RC(tmem_pool_open(u, "p", TMEM_PERSISTENT, 0, 0, &up), 0);
	page_random(page, 1);
	CHECK_RC(tmem_put(u, up, 9, 0, page), 0);
	/* The first page that compresses asks for a round: the trainer
	 * maps the buffer. */
	put_range(t, p, 0, 1);
	for (i = 0; i < 1500 && !__atomic_load_n(&t->samples, __ATOMIC_ACQUIRE);
	     i++)
		sleep_ms(2);
	samples = __atomic_load_n(&t->samples, __ATOMIC_ACQUIRE);
	CHECK(samples != NULL && mapped(samples));
	put_range(t, p, 1, FIRST - 1);
	first = compressed(t);
	/* Loaded here by the trainer that published it, not by the next
	 * put (which would pay for the load, or go without). */
	for (i = 0; i < 1500 && !loaded_for(t, group_of(p)); i++)
		sleep_ms(20);
	CHECK(loaded_for(t, group_of(p)));
	CHECK(wait_trained(t, p) == TMEM_DICT_READY);
	/* The samples' 4 MiB went back to the kernel: under mlockall, heap
	 * memory freed stays resident and locked. */
	for (i = 0; i < 1500 && !atomic_load(&t->samples_freed); i++)
		sleep_ms(20);
	CHECK(atomic_load(&t->samples_freed));
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
	CHECK(!atomic_load(&enc_of(t, group_of(p))->paused));
	for (i = 0; i < 2 * 64 * 32 + 64; i++) {
		page_counting(page, (uint32_t)(i * 1024), 1);
		CHECK_RC(tmem_put(t, p, 10, i, page), 0);
	}
	CHECK(atomic_load(&enc_of(t, group_of(p))->paused));
	for (i = 0; i < 2 * 64 * 32 + 64; i++) {
		page_words(page, 400000 + i);
		CHECK_RC(tmem_put(t, p, 11, i, page), 0);
	}
	CHECK(!atomic_load(&enc_of(t, group_of(p))->paused));
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

/* Another guest's server: opens sub-pool name in the segment, trains its
 * own dictionary on its pages, and exits 0 if its later pages cost less
 * than plain (the parent's cost of as many pages without one). */
static void guest_server(const char *seg, const char *name, uint64_t plain)
{
	uint64_t own;
	uint32_t c;
	struct tmem *t;
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		t = open_seg(seg, true);
		CHECK_RC(tmem_pool_open(t, name, TMEM_PERSISTENT, 0, 0, &c), 0);
		open_round(t, c);
		put_range(t, c, 0, FIRST);
		CHECK(wait_trained(t, c) == TMEM_DICT_READY);
		own = cost_of(t, c, 10 * FIRST, SECOND);
		printf("test-pool-dict: %d pages: %llu bytes in %s, another "
		       "guest's server, with its own dictionary %u\n",
		       SECOND, (unsigned long long)own, name,
		       enc_of(t, group_of(c))->slot);
		CHECK(own < plain * 9 / 10);
		check_range(t, c, 0, FIRST);
		tmem_close(t);
		fflush(stdout);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A dictionary holds pieces of the pages it was trained on, and how
 * small another page compresses with it tells whoever can measure its
 * size (a full share, a pool's statistics) how much of that page the
 * dictionary knows: the compression-side twin of the dedup attack.  So a
 * dictionary is trained on the pages of one sub-pool, or of the sub-pools
 * that opted into sharing pages (dedup-scope = pool), and serves those
 * only; pages of a sub-pool whose users must not learn of each other's
 * (TMEM_DEDUP_NONE, the read cache's) neither train one nor use one.
 * Each sub-pool gets its own, in the same process or (one server per
 * guest) in another. */
static void test_isolation(const char *name)
{
	struct tmem_dict_enc *ea, *eb;
	struct tmem_segment_info si;
	struct tmem *t;
	uint32_t a, b, d, n, x, y;
	uint64_t plain, own, other, none, shared, own_b;
	int i;

	t = open_seg(name, true);
	CHECK_RC(tmem_pool_open(t, "a", TMEM_PERSISTENT, 0, 0, &a), 0);
	CHECK_RC(tmem_pool_open(t, "b", TMEM_PERSISTENT, 0, 0, &b), 0);
	CHECK_RC(tmem_pool_open(t, "n", TMEM_EPHEMERAL, 0, 0, &n), 0);
	CHECK_RC(tmem_pool_set_dedup(t, n, TMEM_DEDUP_NONE), 0);
	/* Pages of a sub-pool that shares with no one are not sampled. */
	put_range(t, n, 0, 2 * TMEM_DICT_EVERY);
	sleep_ms(50);
	CHECK(atomic_load(&t->dict_want) == 0 && round_closed(t) &&
	      t->samples == NULL);
	/* A round samples one sub-pool: b's pages are not sampled while
	 * a's round is open. */
	open_round(t, a);
	plain = cost_of(t, a, 0, FIRST / 2);
	CHECK(!round_closed(t));
	CHECK((uint32_t)(atomic_load(&t->dict_round) >> 32) == a);
	put_range(t, b, 0, 4 * TMEM_DICT_EVERY);
	CHECK((uint32_t)(atomic_load(&t->dict_round) >> 32) == a);
	plain += cost_of(t, a, FIRST / 2, FIRST / 2);
	CHECK(wait_trained(t, a) == TMEM_DICT_READY);
	CHECK(group_state(t, group_of(b)) == TMEM_DICT_SAMPLING);
	plain = plain * SECOND / FIRST;
	own = cost_of(t, a, 10 * FIRST, SECOND);
	/* b's first pages after a's round: its own round samples them, but
	 * a's dictionary never compresses them. */
	other = cost_of(t, b, 10 * FIRST, SECOND);
	none = cost_of(t, n, 10 * FIRST, SECOND);
	CHECK(group_state(t, group_of(b)) == TMEM_DICT_SAMPLING);
	/* Then b has its own. */
	wait_round(t);
	put_range(t, b, 20 * FIRST, FIRST);
	CHECK(wait_trained(t, b) == TMEM_DICT_READY);
	own_b = cost_of(t, b, 30 * FIRST, SECOND);
	printf("test-pool-dict: %d pages: %llu bytes without the dictionary, "
	       "%llu in the sub-pool it was trained on, %llu in another, "
	       "%llu in one that shares with no one, %llu in the other "
	       "with its own\n",
	       SECOND, (unsigned long long)plain, (unsigned long long)own,
	       (unsigned long long)other, (unsigned long long)none,
	       (unsigned long long)own_b);
	CHECK(own < plain * 9 / 10);
	CHECK(other > plain * 19 / 20);
	CHECK(none > plain * 19 / 20);
	CHECK(own_b < plain * 9 / 10);
	ea = enc_of(t, group_of(a));
	eb = enc_of(t, group_of(b));
	CHECK(ea && eb && ea != eb && ea->slot != eb->slot && ea->id != eb->id);
	CHECK(group_state(t, 0) == TMEM_DICT_SAMPLING);
	check_range(t, a, 10 * FIRST, SECOND);
	check_range(t, b, 10 * FIRST, SECOND);
	check_range(t, b, 20 * FIRST, FIRST);
	check_range(t, b, 30 * FIRST, SECOND);
	/* A round for a sub-pool destroyed meanwhile is given up, and its
	 * buffer goes back. */
	CHECK_RC(tmem_pool_open(t, "d", TMEM_PERSISTENT, 0, 0, &d), 0);
	open_round(t, d);
	CHECK((uint32_t)(atomic_load(&t->dict_round) >> 32) == d);
	CHECK_RC(tmem_pool_destroy(t, d), 0);
	for (i = 0;
	     i < 3000 && !(round_closed(t) && atomic_load(&t->samples_freed));
	     i++)
		sleep_ms(1);
	CHECK(round_closed(t) && atomic_load(&t->samples_freed));
	CHECK(group_state(t, group_of(d)) == TMEM_DICT_SAMPLING);
	/* Another guest's server gets one too, and every page reads back
	 * here, whichever process's dictionary compressed it. */
	guest_server(name, "c", plain);
	CHECK_RC(tmem_segment_info(t, &si), 0);
	CHECK(si.dicts == 3 && si.dict_slots == TMEM_DICT_SLOTS);
	check_range(t, a, 0, FIRST);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	tmem_unlink(name);

	/* Sub-pools that opted into sharing pages share the dictionary too:
	 * trained on x's pages, it serves y. */
	t = open_seg(name, true);
	CHECK_RC(tmem_pool_open(t, "x", TMEM_PERSISTENT, 0, 0, &x), 0);
	CHECK_RC(tmem_pool_open(t, "y", TMEM_PERSISTENT, 0, 0, &y), 0);
	CHECK_RC(tmem_pool_set_dedup(t, x, TMEM_DEDUP_POOL), 0);
	CHECK_RC(tmem_pool_set_dedup(t, y, TMEM_DEDUP_POOL), 0);
	open_round(t, x);
	plain = cost_of(t, x, 0, FIRST) * SECOND / FIRST;
	CHECK(wait_group(t, DICT_GROUP_SHARED) == TMEM_DICT_READY);
	shared = cost_of(t, y, 10 * FIRST, SECOND);
	CHECK(shared < plain * 9 / 10);
	check_range(t, y, 10 * FIRST, SECOND);
	tmem_close(t);
}

/* Every slot taken: a further group goes without (never sampled, no
 * buffer mapped); a slot whose group's training failed is given to it
 * (no frame names a slot that never was ready). */
static void test_full(const char *name)
{
	struct tmem_segment_info si;
	uint64_t plain, full, got;
	struct tmem *t;
	uint32_t a, b;
	unsigned s;

	t = open_seg(name, true);
	CHECK_RC(tmem_pool_open(t, "a", TMEM_PERSISTENT, 0, 0, &a), 0);
	CHECK_RC(tmem_pool_open(t, "b", TMEM_PERSISTENT, 0, 0, &b), 0);
	/* Other groups (sub-pools that are gone) hold all slots but one. */
	for (s = 0; s < TMEM_DICT_SLOTS - 1; s++) {
		atomic_store(&t->hdr->dict[s].group,
			     DICT_GROUP_SUBPOOL | ((1000U + s) << 8));
		t->hdr->dict[s].size = 1000;
		t->hdr->dict[s].id = DICT_ID_MAKE(s, 1);
		atomic_store(&t->hdr->dict[s].state, DICT_READY);
	}
	open_round(t, a);
	plain = cost_of(t, a, 0, FIRST) * SECOND / FIRST;
	CHECK(wait_trained(t, a) == TMEM_DICT_READY);
	CHECK(enc_of(t, group_of(a))->slot == TMEM_DICT_SLOTS - 1);
	CHECK_RC(tmem_segment_info(t, &si), 0);
	CHECK(si.dicts == TMEM_DICT_SLOTS);
	/* Full: b's pages go without, and nothing samples them. */
	full = cost_of(t, b, 0, FIRST);
	sleep_ms(100);
	CHECK(atomic_load(&t->dict_want) == 0 && round_closed(t));
	CHECK(group_state(t, group_of(b)) == TMEM_DICT_SAMPLING);
	full = full * SECOND / FIRST;
	CHECK(full > plain * 19 / 20);
	check_range(t, b, 0, FIRST);
	/* A group's training failed in slot 3: b may have that slot. */
	atomic_store(&t->hdr->dict[3].state, DICT_FAILED);
	open_round(t, b);
	put_range(t, b, FIRST, FIRST);
	CHECK(wait_trained(t, b) == TMEM_DICT_READY);
	CHECK(enc_of(t, group_of(b))->slot == 3);
	got = cost_of(t, b, 10 * FIRST, SECOND);
	printf("test-pool-dict: slots full: %llu bytes for %d pages, %llu "
	       "once a failed slot is free\n",
	       (unsigned long long)full, SECOND, (unsigned long long)got);
	CHECK(got < plain * 9 / 10);
	check_range(t, b, 0, 2 * FIRST);
	check_range(t, a, 0, FIRST);
	tmem_close(t);
}

/* A segment of the layout before dictionary slots (version 10) is
 * refused with -EPROTO, and the message names both versions. */
static char last_error[512];

static void keep_error(void *opaque, enum tmem_log_level level, const char *msg)
{
	(void)opaque;
	if (level == TMEM_LOG_ERROR)
		snprintf(last_error, sizeof last_error, "%s", msg);
}

static void test_old_layout(const char *name)
{
	struct tmem_options o;
	struct tmem *t;
	char path[128], want[128];
	uint32_t v = 10;
	int fd;

	t = open_seg(name, false);
	tmem_close(t);
	snprintf(path, sizeof path, "/dev/shm/%s", name);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, &v, sizeof v,
		     offsetof(struct tmem_header, layout_version)) ==
	      (ssize_t)sizeof v);
	close(fd);
	test_options(&o, name, 64 << 20);
	o.log = keep_error;
	CHECK_RC(tmem_open(&o, &t), -EPROTO);
	snprintf(want, sizeof want, "layout version 10, this build knows %u",
		 TMEM_LAYOUT_VERSION);
	printf("test-pool-dict: old segment: %s\n", last_error);
	CHECK(strstr(last_error, want) != NULL);
	CHECK(strstr(last_error, "older") != NULL);
	CHECK(unlink(path) == 0);
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
	/* A round open: the trainer waits for its samples, waking once a
	 * second (and not in a loop: a deadline by one clock on a wait by
	 * the other would end at once, or never). */
	open_round(t, p);
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
	CHECK(h.dict[0].size > 100);
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
	const uint64_t dead = DICT_TRAINING | (63ULL << 8) | (999999ULL << 32);
	struct tmem *t = open_seg(name, false);
	uint32_t p;

	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	/* Dead while choosing a slot, and dead while training for p's
	 * group in slot 5: both are taken back, and p gets a slot. */
	atomic_store(&t->hdr->dict_claim, dead);
	atomic_store(&t->hdr->dict[5].group, group_of(p));
	atomic_store(&t->hdr->dict[5].state, dead);
	CHECK_RC(tmem_start(t), 0);
	/* Meanwhile p's pages are not sampled: its slot is being trained,
	 * as far as a put can tell (it asks no one whether the trainer
	 * lives); the trainer takes the claim back within a second. */
	put_range(t, p, 0, FIRST);
	sleep_ms(1500);
	CHECK(dict_state_of(atomic_load(&t->hdr->dict[5].state)) == DICT_NONE);
	open_round(t, p);
	put_range(t, p, FIRST, FIRST);
	CHECK(wait_trained(t, p) == TMEM_DICT_READY);
	CHECK(atomic_load(&t->hdr->dict_claim) == 0);
	check_range(t, p, 0, 2 * FIRST);
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
	open_round(t, p);
	put_range(t, p, 0, TMEM_DICT_SAMPLES / 4 * 3 * TMEM_DICT_EVERY);
	for (i = 0; i < TMEM_DICT_SAMPLES / 4 * TMEM_DICT_EVERY; i++) {
		page_counting(page, (uint32_t)(i * 7919), 3);
		CHECK_RC(tmem_put(t, p, 12, i, page), 0);
	}
	CHECK(wait_trained(t, p) == TMEM_DICT_FAILED);
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

#ifdef TMEM_TEST_HOOKS
/* Slot of sub-pool b's dictionary, made READY again (as published) by
 * the hook below after the test showed it failed, for sub-pool a. */
static unsigned changed_slot;
static uint64_t changed_group, changed_state;

static void slot_given_to_b(struct tmem *t, unsigned s)
{
	if (s != changed_slot)
		return;
	atomic_store(&t->hdr->dict[s].group, changed_group);
	atomic_store(&t->hdr->dict[s].state, changed_state);
}

/* A put of a's finds a slot of a's that failed; before it loads it,
 * another group claims the slot and publishes its dictionary there
 * (a put thread preempted, or its process stopped, for that long).  The
 * put must not compress a's pages with b's dictionary. */
static void test_slot_changes(const char *name)
{
	struct tmem_dict_enc *e;
	struct tmem *t, *u;
	uint32_t a, b;
	bool claimable;
	unsigned s;

	t = open_seg(name, true);
	CHECK_RC(tmem_pool_open(t, "a", TMEM_PERSISTENT, 0, 0, &a), 0);
	CHECK_RC(tmem_pool_open(t, "b", TMEM_PERSISTENT, 0, 0, &b), 0);
	open_round(t, b);
	put_range(t, b, 0, FIRST);
	CHECK(wait_trained(t, b) == TMEM_DICT_READY);
	for (s = 0; s < TMEM_DICT_SLOTS; s++)
		if (atomic_load(&t->hdr->dict[s].group) == group_of(b))
			break;
	CHECK(s < TMEM_DICT_SLOTS);
	changed_slot = s;
	changed_group = group_of(b);
	changed_state = atomic_load(&t->hdr->dict[s].state);
	/* What a's put saw: the slot failed for a. */
	atomic_store(&t->hdr->dict[s].state, DICT_FAILED);
	atomic_store(&t->hdr->dict[s].group, group_of(a));
	/* Another process, with a CDict free for a. */
	u = open_seg(name, false);
	tmem_dict_test_found = slot_given_to_b;
	e = tmem_dict_for(u, group_of(a), true, &claimable);
	tmem_dict_test_found = NULL;
	CHECK(e == NULL);
	CHECK(!loaded_for(u, group_of(a)));
	tmem_close(u);
	tmem_close(t);
}
#endif

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
	tmem_unlink(name);
	test_full(name);
	tmem_unlink(name);
#ifdef TMEM_TEST_HOOKS
	test_slot_changes(name);
	tmem_unlink(name);
#endif
	test_old_layout(name);
	printf("test-pool-dict: ok\n");
	return 0;
}
