/* fuzz-segment: random bytes written into a stopped segment, then attach
 * and get: no crash, no hang, and never wrong bytes.
 *
 * A small segment is made once, with pages of every kind (zero, same-
 * filled, text, incompressible, dedup copies) under known keys, and
 * closed; its bytes are kept.  Each input is read as patches of 6 bytes
 * — a region, an offset in it, a byte to xor in (at most 16 of them) —
 * applied to a fresh copy
 * of the file, as a tester with dd would on a stopped server.  Then the
 * segment is attached; if that is refused, the refusal must be one of the
 * documented errors.  Otherwise every key is read twice: each read gives
 * the key's own bytes, -EIO (a damaged page, the same answer both times)
 * or -ENOENT (its index entry or bucket lost); never another page's bytes
 * or anything else.  Then, after the quick verification a server runs at
 * start (and the repair it asks for), a third of the keys are written
 * again (and a few new ones), a third flushed: a put the pool took reads
 * back its new bytes at once, a refused one is -EIO, -ENOSPC or -ENOENT (a
 * damaged sub-pool record) and leaves the key as it was, and no call spins (a
 * damaged chain must not loop a walk under a stripe lock: SIGALRM after
 * 20 s aborts).  tmem_verify (deep) must end, and after the repair it
 * asks for, every key reads what it last took, -EIO or -ENOENT: never an
 * older version (a flushed or rewritten key whose older entry the repair
 * relinked) and never another page's bytes.
 *
 * The regions are the records a get reads: the header's fixed part, the
 * sub-pool records, the stripes' bucket counts, buckets, entries, blobs,
 * chunk records, raw-page ids and the data area.  Not the process slots,
 * the lock words or the repair flag: damage there is the repair's to
 * handle (a lock word can make a waiter wait for ever), not a reader's.
 *
 * Built as a libFuzzer target with --enable-fuzzing (Makefile.am); the same
 * entry points are replayed by test-fuzz-segment in every `make check`.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmem-internal.h"

#define NKEYS	  48
#define POOL_SIZE (1ULL << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_pool_summary(void);

static char name[64], path[96];
static struct tmem_geometry geo;
static unsigned char *image; /* the file's bytes up to off_counters */
static uint64_t image_len;
static unsigned char *data_image; /* [off_dict, segment_bytes) */
static uint64_t data_len;
#define NNEW 8 /* keys the write phase adds */
static unsigned char pages[NKEYS][TMEM_PAGE_SIZE];
static unsigned char again[NKEYS + NNEW][TMEM_PAGE_SIZE];
static unsigned long n_inputs, n_refused, n_ok, n_eio, n_miss, n_put_ok,
	n_put_refused;

static void die(const char *what, int r)
{
	fprintf(stderr, "fuzz-segment: %s: %s\n", what, tmem_strerror(r));
	abort();
}

static void quiet(void *opaque, enum tmem_log_level level, const char *msg)
{
	(void)opaque;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "tmem %d: %s\n", (int)level, msg);
}

/* Key i's page: zero, same-filled, text, random, or a copy of key 8's. */
static void page_make(unsigned char *p, unsigned i)
{
	uint64_t s = i * 0x9e3779b97f4a7c15ULL + 1;
	size_t k;

	switch (i % 6) {
	case 0:
		memset(p, 0, TMEM_PAGE_SIZE);
		break;
	case 1:
		memset(p, 0x40 + i, TMEM_PAGE_SIZE);
		break;
	case 2:
	case 3:
		for (k = 0; k < TMEM_PAGE_SIZE; k++)
			p[k] = "the pool of pages "[(k + i) % 18];
		snprintf((char *)p, 16, "key %u", i);
		break;
	case 4:
		for (k = 0; k < TMEM_PAGE_SIZE; k++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			p[k] = (unsigned char)s;
		}
		break;
	default:
		page_make(p, 8);
	}
}

/* Key i's page of the write phase: another kind's page (so a zero key may
 * take text, and copies dedup), marked with i unless it is a fill. */
static void page_again(unsigned char *p, unsigned i)
{
	page_make(p, i + 1);
	if ((i + 1) % 6 > 1)
		snprintf((char *)p, 24, "again %u", i);
}

static void opts_of(struct tmem_options *o, bool create)
{
	tmem_options_init(o);
	o->name = name;
	o->pool_size = POOL_SIZE;
	o->create = create;
	o->contexts = 2;
	o->dictionary = false;
	o->log = quiet;
}

static void read_region(int fd, unsigned char *buf, uint64_t off, uint64_t n)
{
	if (pread(fd, buf, n, (off_t)off) != (ssize_t)n)
		die("pread", -EIO);
}

/* libFuzzer may end the process without running atexit handlers: the
 * segments of runs whose process is gone are removed at the next start. */
static void remove_stale(void)
{
	struct dirent *d;
	DIR *dir = opendir("/dev/shm");
	char p[300];
	long pid;

	if (!dir)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (sscanf(d->d_name, "tmem-fuzz-segment-%ld", &pid) != 1 ||
		    pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(p, sizeof p, "/dev/shm/%s", d->d_name);
		unlink(p);
	}
	closedir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;
	unsigned i;
	int fd, r;

	(void)argc;
	(void)argv;
	remove_stale();
	snprintf(name, sizeof name, "tmem-fuzz-segment-%d", (int)getpid());
	snprintf(path, sizeof path, "/dev/shm/%s", name);
	unlink(path);
	opts_of(&o, true);
	r = tmem_open(&o, &t);
	if (r)
		die("open", r);
	r = tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p);
	if (r)
		die("pool", r);
	for (i = 0; i < NKEYS; i++) {
		page_make(pages[i], i);
		r = tmem_put(t, p, 1, i, pages[i]);
		if (r)
			die("put", r);
	}
	for (i = 0; i < NKEYS + NNEW; i++)
		page_again(again[i], i);
	geo = *t->geo;
	tmem_close(t);
	image_len = geo.off_counters;
	data_len = geo.segment_bytes - geo.off_dict;
	image = malloc(image_len);
	data_image = malloc(data_len);
	if (!image || !data_image)
		die("malloc", -ENOMEM);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path, -errno);
	read_region(fd, image, 0, image_len);
	read_region(fd, data_image, geo.off_dict, data_len);
	close(fd);
	atexit(fuzz_pool_summary);
	return 0;
}

/* A region of the file: [off, off + len). */
struct region {
	uint64_t off, len;
};

static struct region region_of(unsigned r)
{
	const uint64_t S = TMEM_NR_STRIPES;
	struct region g = {0, 0};

	/* The header rarely: a header damaged anywhere refuses the attach,
	 * and the records behind it would go untried. */
	r = r == 0 ? 0 : 1 + r % 10;
	switch (r) {
	case 0: /* the header's fixed part: magic to name */
		g.len = offsetof(struct tmem_header, slots_lock);
		break;
	case 1:
		g.off = geo.off_pools;
		g.len = TMEM_MAX_POOLS * sizeof(struct tmem_pool_rec);
		break;
	case 2: /* stripes: free list head, used, bits (not the lock) */
	case 3:
		g.off = (r == 2 ? geo.off_istripes : geo.off_dstripes) +
			offsetof(struct tmem_stripe, free_head);
		g.len = S * sizeof(struct tmem_stripe);
		break;
	case 4:
		g.off = geo.off_ibuckets;
		g.len = S * 4 * 4; /* the buckets in use of a small segment */
		break;
	case 5:
		g.off = geo.off_dbuckets;
		g.len = S * 4 * 4;
		break;
	case 6: /* the entries written: the first of each stripe */
		g.off = geo.off_entries;
		g.len = (TMEM_HALF + 1) * sizeof(struct tmem_entry);
		break;
	case 7:
		g.off = geo.off_blobs;
		g.len = (TMEM_HALF + 1) * sizeof(struct tmem_blob);
		break;
	case 8:
		g.off = geo.off_chunks;
		g.len = 8 * sizeof(struct tmem_chunk);
		break;
	case 9:
		g.off = geo.off_rawids;
		g.len = 8 * TMEM_RAW_SLOTS * 4;
		break;
	default: /* the first chunks of data */
		g.off = geo.off_data;
		g.len = 8 * TMEM_CHUNK_SIZE;
	}
	return g;
}

/* The stripes' lock words are left alone (see above). */
static bool in_lock(uint64_t off)
{
	uint64_t base;

	if (off >= geo.off_istripes &&
	    off < geo.off_istripes +
			    TMEM_NR_STRIPES * sizeof(struct tmem_stripe))
		base = geo.off_istripes;
	else if (off >= geo.off_dstripes &&
		 off < geo.off_dstripes +
				 TMEM_NR_STRIPES * sizeof(struct tmem_stripe))
		base = geo.off_dstripes;
	else
		return false;
	return (off - base) % sizeof(struct tmem_stripe) <
	       sizeof(pthread_mutex_t);
}

static void patch(int fd, const uint8_t *rec)
{
	struct region g = region_of(rec[0]);
	uint32_t at = (uint32_t)rec[1] | (uint32_t)rec[2] << 8 |
		      (uint32_t)rec[3] << 16 | (uint32_t)rec[4] << 24;
	uint64_t off = g.off + at % g.len;
	unsigned char b;

	if (in_lock(off))
		return;
	if (pread(fd, &b, 1, (off_t)off) != 1)
		return;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr,
			"fuzz-segment: input %lu: byte %" PRIu64 " ^= 0x%02x\n",
			n_inputs, off, rec[5] ? rec[5] : 0xff);
	b ^= rec[5] ? rec[5] : 0xff;
	if (pwrite(fd, &b, 1, (off_t)off) != 1)
		die("pwrite", -errno);
}

/* What key i last took: its first page, its page of the write phase, or
 * nothing (flushed, refused, or never written). */
static const unsigned char *want[NKEYS + NNEW];

static void fail(const char *what, unsigned i, int r)
{
	fprintf(stderr, "fuzz-segment: input %lu, key %u: %s (%d)\n", n_inputs,
		i, what, r);
	abort();
}

/* What a read of key i that answered bytes got wrong, or NULL. */
static const char *wrong(unsigned i, const unsigned char *got)
{
	if (want[i] && memcmp(got, want[i], TMEM_PAGE_SIZE) == 0)
		return NULL;
	if (i < NKEYS && want[i] != pages[i] &&
	    memcmp(got, pages[i], TMEM_PAGE_SIZE) == 0)
		return "its older version";
	return want[i] ? "other bytes" : "bytes where nothing is";
}

/* A read of key i: want[i]'s bytes, -EIO (sticky: the same answer the
 * second time) or -ENOENT; a key that holds nothing is never bytes. */
static void check_read(struct tmem *t, uint32_t p, unsigned i)
{
	unsigned char got[TMEM_PAGE_SIZE];
	int r, r2;

	r = tmem_get(t, p, 1, i, got);
	if (r == 0 && wrong(i, got))
		fail(wrong(i, got), i, r);
	if (r != 0 && r != -EIO && r != -ENOENT)
		die("get", r);
	/* Sticky: a damaged page stays damaged. */
	r2 = tmem_get(t, p, 1, i, got);
	if (r == -EIO && r2 != -EIO)
		fail("EIO, then another answer", i, r2);
	if (r2 == 0 && wrong(i, got))
		fail(wrong(i, got), i, r2);
	n_ok += r == 0;
	n_eio += r == -EIO;
	n_miss += r == -ENOENT;
}

/* Write a third of the keys again and a few new ones, flush a third. */
static void write_phase(struct tmem *t, uint32_t p)
{
	unsigned char got[TMEM_PAGE_SIZE];
	unsigned i;
	int r;

	for (i = 0; i < NKEYS + NNEW; i++) {
		if (i < NKEYS && i % 3 == 1) {
			r = tmem_flush_page(t, p, 1, i);
			if (r != 0 && r != -ENOENT && r != -EIO)
				die("flush", r);
			if (r == 0)
				want[i] = NULL;
			continue;
		}
		if (i < NKEYS && i % 3 == 2)
			continue;
		r = tmem_put(t, p, 1, i, again[i]);
		/* -ENOENT: a damaged sub-pool record (its state or id). */
		if (r != 0 && r != -EIO && r != -ENOSPC && r != -ENOENT)
			die("put", r);
		n_put_ok += r == 0;
		n_put_refused += r != 0;
		/* A refused put leaves the persistent key as it was
		 * (tmem_put): what it last took, or nothing. */
		if (r != 0)
			continue;
		want[i] = again[i];
		r = tmem_get(t, p, 1, i, got);
		if (r != 0 || memcmp(got, again[i], TMEM_PAGE_SIZE) != 0)
			fail("a put taken does not read back", i, r);
	}
}

static void hung(int sig)
{
	static const char m[] = "fuzz-segment: a call did not return in 20 s "
				"(a loop under a stripe lock?)\n";

	(void)sig;
	if (write(2, m, sizeof m - 1) < 0)
		_exit(3);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tmem_verify_result vr;
	struct tmem_options o;
	struct tmem *t;
	size_t k;
	uint32_t p;
	unsigned i;
	bool found;
	int fd, r;

	n_inputs++;
	fd = open(path, O_RDWR);
	if (fd < 0)
		die(path, -errno);
	if (pwrite(fd, image, image_len, 0) != (ssize_t)image_len ||
	    pwrite(fd, data_image, data_len, (off_t)geo.off_dict) !=
		    (ssize_t)data_len)
		die("restore", -EIO);
	for (k = 0; k + 6 <= size && k < 6 * 16; k += 6)
		patch(fd, data + k);
	close(fd);

	opts_of(&o, false);
	r = tmem_open(&o, &t);
	if (r) {
		if (r != -EBADMSG && r != -EPROTO && r != -ENOENT &&
		    r != -EINVAL)
			die("attach", r);
		n_refused++;
		return 0;
	}
	signal(SIGALRM, hung);
	alarm(20);
	for (i = 0; i < NKEYS + NNEW; i++)
		want[i] = i < NKEYS ? pages[i] : NULL;
	found = tmem_pool_find(t, "p", &p) == 0;
	if (found)
		for (i = 0; i < NKEYS; i++)
			check_read(t, p, i);
	/* As a server starts: the quick pass, and the repair it asks for
	 * (at the next stripe lock), before anything is written. */
	r = tmem_verify(t, false, 0, &vr);
	if (r && r != -EUCLEAN)
		die("verify", r);
	if (found)
		write_phase(t, p);
	r = tmem_verify(t, true, 0, &vr);
	if (r && r != -EUCLEAN)
		die("verify", r);
	/* The repair verify asked for runs at the next stripe lock. */
	if (found)
		for (i = 0; i < NKEYS + NNEW; i++)
			check_read(t, p, i);
	alarm(0);
	tmem_close(t);
	return 0;
}

void fuzz_pool_summary(void)
{
	static bool done;

	if (done || !n_inputs)
		return;
	done = true;
	printf("fuzz-segment: %lu inputs, %lu refused at attach; reads: %lu "
	       "right, %lu EIO, %lu missing; puts: %lu taken, %lu refused\n",
	       n_inputs, n_refused, n_ok, n_eio, n_miss, n_put_ok,
	       n_put_refused);
	unlink(path);
}
