/* tmem: a known workload for the tmemctl tests.
 *
 *   ctl-put SEGMENT fill      create the segment and store a fixed set of
 *                             pages, so that every figure tmemctl prints
 *                             has a value the test can predict
 *   ctl-put SEGMENT serve     attach with a grower thread, as a server
 *                             does, and wait until killed
 *   ctl-put SEGMENT hold      attach and wait until killed (a process
 *                             using the segment, for destroy)
 *   ctl-put SEGMENT damage    with nobody attached, change the segment
 *                             file as dd would: one byte of the stored
 *                             page under swap0 (1, 15), the blob id of
 *                             (1, 16)'s entry (to name (1, 17)'s blob),
 *                             the index of (1, 18)'s entry; then read
 *                             each three times (EIO expected)
 *   ctl-put SEGMENT cut       with nobody attached, cut the first index
 *                             chain of two or more entries after its
 *                             first (as dd would: one link made zero);
 *                             prints how many entries were cut off
 *   ctl-put SEGMENT stall     attach, take pool_lock, ask for the repair
 *                             of the persistent half (as a process that
 *                             found damage there would), print "stalled"
 *                             and stop itself (SIGSTOP): a cache process
 *                             stopped inside a header lock.  Continued
 *                             (SIGCONT), it lets go and exits
 *   ctl-put SEGMENT chunkstall
 *                             attach, take chunk_lock, print "stalled"
 *                             and stop itself: a process stopped while a
 *                             chunk changes hands.  Continued, it lets
 *                             go and exits
 *
 * fill, in the persistent sub-pool "swap0": 10 zero pages, 5 pages of one
 * repeated byte, 8 distinct text pages and 4 copies of the first text
 * page; then gets of those 27 keys (hits) and of 3 absent keys (misses),
 * and a flush of one copy.  In the ephemeral sub-pool "cache0": 3 random
 * pages, got back once.  It prints nothing on success.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tmem-internal.h"

static void die(const char *what, int r)
{
	fprintf(stderr, "ctl-put: %s: %s\n", what, tmem_strerror(r));
	exit(1);
}

/* A persistent put answers -ENOSPC at once while the grower has not yet
 * made room: give it a moment, as the swap path's caller would retry. */
static void put_retry(struct tmem *t, uint32_t pool, uint64_t obj, uint64_t idx,
		      const void *page)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	int r, tries;

	for (tries = 0; tries < 500; tries++) {
		r = tmem_put(t, pool, obj, idx, page);
		if (r != -ENOSPC)
			break;
		nanosleep(&ts, NULL);
	}
	if (r < 0)
		die("put", r);
}

static void text_page(unsigned char *page, unsigned n)
{
	size_t off = 0;
	int len;

	while (off < TMEM_PAGE_SIZE) {
		len = snprintf((char *)page + off, TMEM_PAGE_SIZE - off,
			       "page %u line %zu: the quick brown fox jumps "
			       "over the lazy dog\n",
			       n, off);
		if (len <= 0 || (size_t)len >= TMEM_PAGE_SIZE - off)
			break;
		off += (size_t)len;
	}
	memset(page + off, '.', TMEM_PAGE_SIZE - off);
}

static void fill(struct tmem *t)
{
	unsigned char page[TMEM_PAGE_SIZE], got[TMEM_PAGE_SIZE];
	uint32_t swap, cache;
	unsigned i;
	int r;

	r = tmem_pool_open(t, "swap0", TMEM_PERSISTENT, 0, 0, &swap);
	if (r < 0)
		die("pool swap0", r);
	r = tmem_pool_open(t, "cache0", TMEM_EPHEMERAL, 0, 0, &cache);
	if (r < 0)
		die("pool cache0", r);

	memset(page, 0, sizeof page);
	for (i = 0; i < 10; i++)
		put_retry(t, swap, 1, i, page);
	memset(page, 0xab, sizeof page);
	for (i = 10; i < 15; i++)
		put_retry(t, swap, 1, i, page);
	for (i = 15; i < 23; i++) {
		text_page(page, i);
		put_retry(t, swap, 1, i, page);
	}
	text_page(page, 15);
	for (i = 23; i < 27; i++)
		put_retry(t, swap, 1, i, page);

	for (i = 0; i < 27; i++) {
		r = tmem_get(t, swap, 1, i, got);
		if (r < 0)
			die("get", r);
	}
	text_page(page, 15);
	if (memcmp(got, page, sizeof page) != 0) {
		fprintf(stderr, "ctl-put: page 26 came back wrong\n");
		exit(1);
	}
	for (i = 100; i < 103; i++) {
		r = tmem_get(t, swap, 1, i, got);
		if (r != -ENOENT)
			die("get of an absent key", r ? r : -EEXIST);
	}
	r = tmem_flush_page(t, swap, 1, 26);
	if (r < 0)
		die("flush", r);

	srand(42);
	for (i = 0; i < 3; i++) {
		size_t j;

		for (j = 0; j < sizeof page; j++)
			page[j] = (unsigned char)rand();
		put_retry(t, cache, 7, i, page);
	}
	for (i = 0; i < 3; i++) {
		r = tmem_get(t, cache, 7, i, got);
		if (r < 0 && r != -ENOENT)
			die("get from cache0", r);
	}
}

static struct tmem_entry *find_entry(unsigned char *base, uint64_t index)
{
	struct tmem_header *h = (struct tmem_header *)base;
	struct tmem_entry *en =
		(struct tmem_entry *)(base + h->geo.off_entries);
	uint64_t e;

	for (e = 1; e < h->geo.nr_entries; e++)
		if (en[e].value && en[e].object == 1 && en[e].index == index)
			return &en[e];
	fprintf(stderr, "ctl-put: no entry for index %llu\n",
		(unsigned long long)index);
	exit(1);
}

/* The stopped segment's file, mapped as a tool from outside would. */
static unsigned char *seg_map(const char *name, size_t *size)
{
	unsigned char *base;
	char path[128];
	struct stat st;
	int fd;

	snprintf(path, sizeof path, "/dev/shm/%s", name);
	fd = open(path, O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0)
		die(path, -errno);
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		die("mmap", -errno);
	close(fd);
	*size = (size_t)st.st_size;
	return base;
}

static void damage(const char *name)
{
	struct tmem_header *h;
	struct tmem_entry *en;
	struct tmem_blob *b;
	unsigned char *base;
	size_t size;

	base = seg_map(name, &size);
	h = (struct tmem_header *)base;
	en = find_entry(base, 15);
	b = (struct tmem_blob *)(base + h->geo.off_blobs) + entry_payload(en);
	base[h->geo.off_data + ((uint64_t)(b->loc - 2) << TMEM_UNIT_SHIFT) +
	     20] ^= 0x10;
	en = find_entry(base, 16);
	en->value = (en->value & ~ENTRY_PAYLOAD_MAX) |
		    entry_payload(find_entry(base, 17));
	find_entry(base, 18)->index ^= 0x40;
	munmap(base, size);
}

/* Cut the first index chain of two or more entries after its first: the
 * entries behind the cut are still in the table but no lookup finds them.
 * Prints how many were cut off. */
static void cut(const char *name)
{
	struct tmem_header *h;
	struct tmem_entry *en;
	unsigned char *base;
	uint32_t e, f, n = 0;
	size_t size;

	base = seg_map(name, &size);
	h = (struct tmem_header *)base;
	en = (struct tmem_entry *)(base + h->geo.off_entries);
	for (e = 1; e < h->geo.nr_entries && !n; e++) {
		if (!en[e].value || !en[e].next)
			continue;
		for (f = en[e].next; f; f = en[f].next)
			n++;
		en[e].next = 0;
	}
	munmap(base, size);
	printf("%u\n", n);
}

static void read_damaged(struct tmem *t)
{
	unsigned char got[TMEM_PAGE_SIZE];
	uint32_t swap;
	uint64_t i;
	int r, k;

	r = tmem_pool_open(t, "swap0", TMEM_PERSISTENT, 0, 0, &swap);
	if (r < 0)
		die("pool swap0", r);
	for (k = 0; k < 3; k++)
		for (i = 15; i <= 18; i++) {
			r = tmem_get(t, swap, 1, i, got);
			printf("get %llu: %s\n", (unsigned long long)i,
			       r == 0	   ? "ok"
			       : r == -EIO ? "EIO"
					   : "other");
		}
}

static void log_errors(void *opaque, enum tmem_log_level level, const char *msg)
{
	(void)opaque;
	if (level == TMEM_LOG_ERROR)
		fprintf(stderr, "ctl-put: %s\n", msg);
}

int main(int argc, char **argv)
{
	struct tmem_options opts;
	struct tmem *t;
	int r;

	if (argc != 3 ||
	    (strcmp(argv[2], "fill") != 0 && strcmp(argv[2], "hold") != 0 &&
	     strcmp(argv[2], "serve") != 0 && strcmp(argv[2], "damage") != 0 &&
	     strcmp(argv[2], "cut") != 0 && strcmp(argv[2], "stall") != 0 &&
	     strcmp(argv[2], "chunkstall") != 0)) {
		fprintf(stderr,
			"usage: ctl-put SEGMENT "
			"fill|hold|serve|damage|cut|stall|chunkstall\n");
		return 2;
	}
	if (strcmp(argv[2], "cut") == 0) {
		cut(argv[1]);
		return 0;
	}
	if (strcmp(argv[2], "damage") == 0)
		damage(argv[1]);
	tmem_options_init(&opts);
	opts.name = argv[1];
	opts.pool_size = 64ULL << 20;
	opts.lock = false;
	opts.log = log_errors;
	opts.create = strcmp(argv[2], "fill") == 0;
	opts.grower = strcmp(argv[2], "serve") == 0;
	r = tmem_open(&opts, &t);
	if (r < 0)
		die(argv[1], r);
	r = tmem_start(t);
	if (r < 0)
		die("start", r);
	if (strcmp(argv[2], "fill") == 0) {
		fill(t);
	} else if (strcmp(argv[2], "damage") == 0) {
		read_damaged(t);
	} else if (strcmp(argv[2], "stall") == 0) {
		tmem_lock(t, &t->hdr->pool_lock);
		tmem_repair_ask(t, TMEM_PERSISTENT);
		printf("stalled\n");
		fflush(stdout);
		raise(SIGSTOP);
		tmem_unlock(&t->hdr->pool_lock);
	} else if (strcmp(argv[2], "chunkstall") == 0) {
		tmem_lock(t, &t->hdr->chunk_lock);
		printf("stalled\n");
		fflush(stdout);
		raise(SIGSTOP);
		tmem_unlock(&t->hdr->chunk_lock);
	} else {
		printf("attached\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	tmem_close(t);
	return 0;
}
