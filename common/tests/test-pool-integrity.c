/* tmem: a damaged segment answers EIO, never other bytes or zeros.
 *
 * Pages are stored, the handle closed, and the segment file then changed
 * as a hostile tester would with dd on a stopped server: one byte of a
 * stored (compressed) page, one of a raw page, one of an entry's blob id
 * (so that it names another page's blob, as in the report), one of an
 * entry's index (so that the key is lost), one of a same-filled entry's
 * pattern.  After attaching again, each damaged key reads -EIO three
 * times in a row; every other key reads its own bytes; tmem_verify (deep)
 * reports each damaged key, and the quick pass the entry damage; the
 * error is counted once per page.  Writing a damaged key heals it.  A
 * chain cut by a changed link is found by the quick pass and relinked;
 * a key hidden by one stays gone once flushed.
 * A stripe's changed bucket count (index or blob table, within the array
 * or past it) never hides a key and never loops a walk: its first taker
 * has the repair rebuild it.
 */
#include <config.h>

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tmem-internal.h"
#include "test-pool.h"

#define NPAGES 64

static unsigned char page[4096], back[4096];
static char logged[16384];

static void log_keep(void *opaque, enum tmem_log_level level, const char *msg)
{
	(void)opaque;
	if (level == TMEM_LOG_ERROR &&
	    strlen(logged) + strlen(msg) + 2 < sizeof logged) {
		strcat(logged, msg);
		strcat(logged, "\n");
	}
	if (getenv("TMEM_TEST_VERBOSE"))
		fprintf(stderr, "tmem: %s\n", msg);
}

/* Page i: text (compresses), random (stored raw) from 40, one zero page
 * and one same-filled page at 60 and 61. */
static void page_of(void *p, uint64_t i)
{
	if (i == 60)
		memset(p, 0, 4096);
	else if (i == 61)
		memset(p, 0x3c, 4096);
	else if (i >= 40)
		page_random(p, i);
	else
		page_text(p, i);
}

/* The segment file, mapped, as a tool from outside would see it. */
struct seg {
	unsigned char *base;
	size_t size;
	struct tmem_header *h;
};

static void seg_map(struct seg *s, const char *name)
{
	char path[128];
	struct stat st;
	int fd;

	snprintf(path, sizeof path, "/dev/shm/%s", name);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	s->size = (size_t)st.st_size;
	s->base =
		mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(s->base != MAP_FAILED);
	close(fd);
	s->h = (struct tmem_header *)s->base;
}

static struct tmem_entry *seg_find(struct seg *s, uint64_t index)
{
	struct tmem_entry *en =
		(struct tmem_entry *)(s->base + s->h->geo.off_entries);
	uint64_t e;

	for (e = 1; e < s->h->geo.nr_entries; e++)
		if (en[e].value != 0 && en[e].object == 1 &&
		    en[e].index == index)
			return &en[e];
	CHECK(!"entry not found");
	return NULL;
}

static struct tmem_blob *seg_blob_of(struct seg *s, struct tmem_entry *en)
{
	CHECK(entry_type(en) == ENTRY_BLOB);
	return (struct tmem_blob *)(s->base + s->h->geo.off_blobs) +
	       entry_payload(en);
}

static unsigned char *seg_bytes(struct seg *s, struct tmem_blob *b)
{
	return s->base + s->h->geo.off_data +
	       ((uint64_t)(b->loc - 2) << TMEM_UNIT_SHIFT);
}

static struct tmem *attach(const char *name, uint32_t *p)
{
	struct tmem_options o;
	struct tmem *t;

	test_options(&o, name, 16 << 20);
	o.log = log_keep;
	o.dictionary = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, p), 0);
	return t;
}

/* Store 300 text pages (page_text(seed + i)) under object, index i, and
 * detach: the segment is then the test's to damage. */
static void store_text(const char *name, uint64_t object, unsigned seed)
{
	struct tmem *t;
	uint32_t p;
	uint64_t i;

	t = attach(name, &p);
	for (i = 0; i < 300; i++) {
		page_text(page, seed + i);
		CHECK_RC(tmem_put(t, p, object, i, page), 0);
	}
	tmem_close(t);
}

static void wedged(int sig)
{
	static const char m[] = "FAIL: a put or get did not return in 60 s "
				"(a loop under a stripe lock)\n";

	(void)sig;
	if (write(2, m, sizeof m - 1) < 0)
		_exit(2);
	_exit(1);
}

static bool damaged(uint64_t i)
{
	return i == 5 || i == 45 || i == 10 || i == 12 || i == 61;
}

/* A chain cut by a changed link hides the entries after the cut: they
 * would read as never written (zeros on a swap device).  The quick
 * verification counts each stripe's chains against what it holds, asks
 * for the repair, and the repair relinks them: every key reads its own
 * bytes again. */
static void test_cut_chain(const char *name)
{
	struct tmem_verify_result vr;
	struct tmem_entry *en;
	struct tmem *t;
	struct seg s;
	uint32_t p, e, cut = 0;
	uint64_t i, misses = 0;

	store_text(name, 1, 5000);

	seg_map(&s, name);
	en = (struct tmem_entry *)(s.base + s.h->geo.off_entries);
	for (e = 1; e < s.h->geo.nr_entries && !cut; e++) {
		uint32_t f;

		if (en[e].value == 0 || en[e].next == 0)
			continue;
		for (f = en[e].next; f; f = en[f].next)
			cut++;
		en[e].next = 0;
	}
	CHECK(cut > 0);
	munmap(s.base, s.size);

	/* What the cut does without the verification: misses. */
	t = attach(name, &p);
	for (i = 0; i < 300; i++)
		misses += tmem_get(t, p, 1, i, back) == -ENOENT;
	CHECK(misses == cut);
	logged[0] = '\0';
	CHECK_RC(tmem_verify(t, false, 0, &vr), -EUCLEAN);
	CHECK(vr.cut_stripes == 1 && vr.bad_chains == 1 && vr.bad_pages == 0);
	CHECK(strstr(logged, "(a changed link); asking for the repair"));
	for (i = 0; i < 300; i++) {
		CHECK_RC(tmem_get(t, p, 1, i, back), 0);
		page_text(page, 5000 + i);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	CHECK_RC(tmem_verify(t, false, 0, &vr), 0);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

/* Whether entry x is on the chain that starts at entry from. */
static bool on_chain(const struct tmem_entry *en, uint32_t from, uint32_t x)
{
	uint32_t f, n = 0;

	for (f = from; f && n < 100000; f = en[f].next, n++)
		if (f == x)
			return true;
	return false;
}

/* A changed link that cut a key's entry out of its chain and joined a
 * damaged entry (one that fails its check) in its place: the chains'
 * counts still match, so the quick pass sees only the damaged entry.  A
 * flush of the hidden key missed it and answered 0; the repair, later,
 * relinked every record and the key read its older version.  Now the
 * flush sees a damaged entry in the key's chain, has the repair run
 * first, and drops the entry it relinked: the key stays gone.  The same
 * for a flush of the whole object, which walks every chain (object). */
static void test_hidden_flush(const char *name, bool object)
{
	struct tmem_entry *en;
	struct tmem *t;
	struct seg s;
	uint32_t p, e, f, k = 0, pk = 0, x = 0, px = 0;
	uint64_t key, xkey, i;

	store_text(name, 1, 6000);
	seg_map(&s, name);
	en = (struct tmem_entry *)(s.base + s.h->geo.off_entries);
	/* pk -> k, and px -> x on another chain (or before pk on it). */
	for (e = 1; e < s.h->geo.nr_entries && !x; e++) {
		f = en[e].next;
		if (en[e].value == 0 || f == 0 || en[f].value == 0)
			continue;
		if (!k) {
			pk = e;
			k = f;
		} else if (!on_chain(en, pk, e) && !on_chain(en, pk, f)) {
			px = e;
			x = f;
		}
	}
	CHECK(k && x);
	key = en[k].index;
	xkey = en[x].index;
	en[px].next = en[x].next;
	en[x].next = en[k].next;
	en[pk].next = x;
	en[x].check ^= 1;
	munmap(s.base, s.size);

	t = attach(name, &p);
	CHECK_RC(tmem_get(t, p, 1, key, back), -EIO);
	if (object)
		CHECK_RC(tmem_flush_object(t, p, 1), 0);
	else
		CHECK_RC(tmem_flush_page(t, p, 1, key), 0);
	/* Whatever repair comes next relinks every record. */
	atomic_fetch_or(&t->hdr->needs_repair, TMEM_HALVES);
	for (i = 0; i < 300; i++) {
		int r = tmem_get(t, p, 1, i, back);

		if (i == key || object) {
			if (r == 0)
				fprintf(stderr,
					"FAIL: flushed key %llu read "
					"its older version\n",
					(unsigned long long)key);
			CHECK_RC(r, -ENOENT);
		} else if (i == xkey) {
			CHECK_RC(r, -EIO);
		} else {
			CHECK_RC(r, 0);
			page_text(page, 6000 + i);
			CHECK(memcmp(page, back, 4096) == 0);
		}
	}
	printf("a key hidden by a changed link: %s, gone after the repair\n",
	       object ? "its object flushed" : "flushed");
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

/* An entry that fails its check beside sound ones in its chain: the
 * first flush of a neighbour has the repair relink the half, which marks
 * the damaged entry (ENTRY_F_RELINKED); from then on flushes in that
 * chain go through without another repair (and without -EIO, which an
 * unmarked entry would give after every repair).  The damaged key still
 * reads -EIO; its neighbour, flushed, holds nothing. */
static void test_damaged_neighbour(const char *name)
{
	struct tmem_entry *en;
	struct tmem *t;
	struct seg s;
	uint32_t p, e, x = 0;
	uint64_t key = 0, xkey;
	int k;

	store_text(name, 1, 7000);
	seg_map(&s, name);
	en = (struct tmem_entry *)(s.base + s.h->geo.off_entries);
	for (e = 1; e < s.h->geo.nr_entries && !x; e++) {
		if (en[e].value == 0 || en[e].next == 0)
			continue;
		key = en[e].index;
		x = en[e].next;
	}
	CHECK(x != 0);
	xkey = en[x].index;
	en[x].check ^= 1;
	munmap(s.base, s.size);

	t = attach(name, &p);
	CHECK_RC(tmem_flush_page(t, p, 1, key), 0);
	CHECK(seg_entry(t, x)->flags & ENTRY_F_RELINKED);
	for (k = 0; k < 3; k++) {
		CHECK_RC(tmem_flush_page(t, p, 1, key), 0);
		CHECK_RC(atomic_load(&t->hdr->needs_repair), 0);
		page_text(page, 8000 + k);
		CHECK_RC(tmem_put(t, p, 1, key, page), 0);
		CHECK_RC(tmem_flush_page(t, p, 1, key), 0);
		/* Absent; a get reads -EIO, as for any miss in a chain
		 * with a damaged entry (which may have been the key's). */
		CHECK_RC(tmem_get(t, p, 1, key, back), -EIO);
	}
	CHECK_RC(tmem_get(t, p, 1, xkey, back), -EIO);
	printf("a damaged entry beside flushed keys: one repair, then none\n");
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

/* How a test changes a stripe's bucket count. */
enum bits_damage {
	BITS_PLUS_ONE, /* one more: it still fits the array */
	BITS_SIXTY,    /* 60: past the array, and past 64 bits of mask */
};

/* A damaged bucket count in every stripe of one table's persistent half
 * (blobs: the dedup table; else the index).  A count changed within the array
 * sent gets to the wrong chains (a stored key read as absent: zeros to a swap
 * reader), and a freed blob's record was freed while still linked, so that the
 * next put on its chain looped for ever holding the stripe's lock (a
 * wedge).  Now a check reports the count and leaves it; the first taker
 * of such a stripe asks for the repair, which rebuilds it from the
 * records before anything walks its chains: every key reads its bytes,
 * rewrites and new keys read back, and the check then finds the segment
 * sound. */
static void test_damaged_bits(const char *name, bool blobs,
			      enum bits_damage how)
{
	struct tmem_stripe *st;
	struct tmem *t;
	struct seg s;
	uint32_t p, k;
	uint64_t i, n;

	store_text(name, 2, 7000);
	seg_map(&s, name);
	st = (struct tmem_stripe *)(s.base + (blobs ? s.h->geo.off_dstripes
						    : s.h->geo.off_istripes));
	/* The persistent half's, which the test's sub-pool uses. */
	for (k = 0; k < s.h->geo.nr_stripes / 2; k++)
		st[k].bits = how == BITS_SIXTY ? 60 : st[k].bits + 1;
	munmap(s.base, s.size);

	t = attach(name, &p);
	/* A check (not a repair) reports the damage and leaves it: a count
	 * it set right would hide the keys of the other buckets. */
	CHECK_RC(tmem_check(t), -EUCLEAN);
	/* The loop this guards against holds a lock for ever. */
	signal(SIGALRM, wedged);
	alarm(60);
	for (i = 0; i < 300; i++) {
		CHECK_RC(tmem_get(t, p, 2, i, back), 0);
		page_text(page, 7000 + i);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	/* 150-299 rewritten, 300-599 new, twice over. */
	for (n = 1; n <= 2; n++) {
		for (i = 150; i < 600; i++) {
			page_text(page, 9000 + i + n * 1000);
			CHECK_RC(tmem_put(t, p, 2, i, page), 0);
		}
		for (i = 0; i < 600; i++) {
			CHECK_RC(tmem_get(t, p, 2, i, back), 0);
			page_text(page,
				  i < 150 ? 7000 + i : 9000 + i + n * 1000);
			CHECK(memcmp(page, back, 4096) == 0);
		}
	}
	alarm(0);
	printf("damaged %s bucket counts (%s): 300 kept, 900 puts read "
	       "back\n",
	       blobs ? "blob" : "index", how == BITS_SIXTY ? "60" : "+1");
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

/* The index stripes' bucket counts one less than they were (2,000 keys
 * over the sub-pool's group of 16 stripes make most of them 5, so it
 * still fits the array): a flush of the object
 * or a destroy of the sub-pool walked only the buckets the count names,
 * and the entries in the others came back with the repair: old bytes for
 * a flushed key, or another sub-pool's pages for the next one opened in
 * the same slot.  Now the walk covers the whole array and asks for the
 * repair. */
static void test_damaged_drop(const char *name, bool destroy)
{
	struct tmem_stripe *st;
	struct tmem *t;
	struct seg s;
	uint32_t p, k;
	uint64_t i;

	t = attach(name, &p);
	for (i = 0; i < 2000; i++) {
		page_text(page, 15000 + i);
		CHECK_RC(tmem_put(t, p, 3, i, page), 0);
	}
	tmem_close(t);
	seg_map(&s, name);
	st = (struct tmem_stripe *)(s.base + s.h->geo.off_istripes);
	for (k = 0, i = 0; k < s.h->geo.nr_stripes / 2; k++) {
		if (st[k].bits >= 1) {
			st[k].bits--;
			i++;
		}
	}
	CHECK(i >= TMEM_GROUP_STRIPES / 2);
	munmap(s.base, s.size);

	t = attach(name, &p);
	if (destroy) {
		CHECK_RC(tmem_pool_destroy(t, p), 0);
		CHECK_RC(tmem_pool_open(t, "q", TMEM_PERSISTENT, 0, 0, &p), 0);
	} else {
		CHECK_RC(tmem_flush_object(t, p, 3), 0);
	}
	for (i = 0; i < 2000; i++)
		CHECK_RC(tmem_get(t, p, 3, i, back), -ENOENT);
	printf("damaged bucket counts, %s: 2000 keys gone\n",
	       destroy ? "destroy and open" : "flush_object");
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

/* A sub-pool record changed to other valid values: a persistent kind made
 * ephemeral (its pages evictable, and dropped by a repair as misplaced),
 * or an active state made free (the sub-pool gone, its pages read as
 * never written).  Its seal no longer matches: the attach refuses the
 * segment, naming the record, and changes nothing; restored, the segment
 * attaches and every page reads back. */
static void test_pool_record(const char *name)
{
	struct tmem_options o;
	struct tmem_pool_rec *pr = NULL;
	struct tmem *t;
	struct seg s;
	uint32_t p, k;
	uint64_t i;
	int what;

	store_text(name, 5, 17000);
	for (what = 0; what < 2; what++) {
		seg_map(&s, name);
		for (k = 0; k < TMEM_MAX_POOLS; k++) {
			pr = (struct tmem_pool_rec *)(s.base +
						      s.h->geo.off_pools) +
			     k;
			if (strcmp(pr->name, "p") == 0)
				break;
		}
		CHECK(k < TMEM_MAX_POOLS);
		if (what == 0)
			pr->kind ^= 1;
		else
			pr->state = POOL_FREE;
		test_options(&o, name, 16 << 20);
		o.log = log_keep;
		o.dictionary = false;
		logged[0] = 0;
		CHECK_RC(tmem_open(&o, &t), -EBADMSG);
		CHECK(strstr(logged, "sub-pool record") != NULL);
		CHECK(strstr(logged, "its seal does not match") != NULL);
		if (what == 0)
			pr->kind ^= 1;
		else
			pr->state = POOL_ACTIVE;
		munmap(s.base, s.size);
	}
	t = attach(name, &p);
	for (i = 0; i < 300; i++) {
		CHECK_RC(tmem_get(t, p, 5, i, back), 0);
		page_text(page, 17000 + i);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
	printf("sub-pool record: kind and state changes refused at attach\n");
}

int main(void)
{
	const char *name = test_segment_name("integrity");
	struct tmem_verify_result vr;
	struct tmem_stats st;
	struct tmem_entry *en;
	struct tmem *t;
	struct seg s;
	uint32_t p;
	uint64_t i;
	int k;

	t = attach(name, &p);
	for (i = 0; i < NPAGES; i++) {
		page_of(page, i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
	}
	CHECK_RC(tmem_verify(t, true, 0, &vr), 0);
	CHECK(vr.entries == NPAGES && vr.pages == NPAGES - 2);
	tmem_close(t);

	seg_map(&s, name);
	/* Stored bytes: a compressed page and a raw one. */
	seg_bytes(&s, seg_blob_of(&s, seg_find(&s, 5)))[9] ^= 0x20;
	seg_bytes(&s, seg_blob_of(&s, seg_find(&s, 45)))[100] ^= 0x01;
	/* An entry's blob id made to name page 11's blob. */
	en = seg_find(&s, 10);
	en->value = (en->value & ~ENTRY_PAYLOAD_MAX) |
		    entry_payload(seg_find(&s, 11));
	/* An entry's index: the key is lost, the entry stays in its chain. */
	seg_find(&s, 12)->index ^= 0x100;
	/* A same-filled entry's pattern. */
	seg_find(&s, 61)->value ^= 0x1;
	munmap(s.base, s.size);

	t = attach(name, &p);
	for (k = 0; k < 3; k++) {
		for (i = 0; i < NPAGES; i++) {
			int r = tmem_get(t, p, 1, i, back);

			if (damaged(i)) {
				if (r != -EIO)
					fprintf(stderr, "page %llu: %d\n",
						(unsigned long long)i, r);
				CHECK_RC(r, -EIO);
				continue;
			}
			CHECK_RC(r, 0);
			page_of(page, i);
			CHECK(memcmp(page, back, 4096) == 0);
		}
	}
	/* Counted and logged once per page, not once per read. */
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.checksum_errors == 5);
	CHECK(strstr(logged, "index 5: the stored page fails its checksum"));
	CHECK(strstr(logged, "index 45: the stored page fails its checksum"));
	CHECK(strstr(logged, "index 10: its index entry fails its check"));
	CHECK(strstr(logged, "index 12: an entry in its index bucket fails"));
	CHECK(strstr(logged, "index 61: its index entry fails its check"));

	/* The quick pass sees the three damaged entries; the deep one the
	 * two damaged pages too; each names its key. */
	logged[0] = '\0';
	CHECK_RC(tmem_verify(t, false, 0, &vr), -EUCLEAN);
	CHECK(vr.bad_pages == 3 && vr.bad_chains == 0 && vr.pages == 0);
	logged[0] = '\0';
	CHECK_RC(tmem_verify(t, true, 100000, &vr), -EUCLEAN);
	CHECK(vr.bad_pages == 5 && vr.bad_chains == 0);
	CHECK(vr.entries == NPAGES);
	CHECK(strstr(logged, "object 1 index 5 "));
	CHECK(strstr(logged, "object 1 index 45 "));
	CHECK(strstr(logged, "object 1 index 10 "));
	CHECK(strstr(logged, "object 1 index 268 ")); /* 12 ^ 0x100 */
	CHECK(strstr(logged, "object 1 index 61 "));

	/* Written again, a damaged key reads its new bytes. */
	for (i = 0; i < NPAGES; i++) {
		if (!damaged(i))
			continue;
		page_text(page, 1000 + i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
		CHECK_RC(tmem_get(t, p, 1, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	/* Only the entry whose key was lost is left to report. */
	CHECK_RC(tmem_verify(t, true, 0, &vr), -EUCLEAN);
	CHECK(vr.bad_pages == 1);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
	test_cut_chain(name);
	test_hidden_flush(name, false);
	test_hidden_flush(name, true);
	test_damaged_neighbour(name);
	test_damaged_bits(name, false, BITS_PLUS_ONE);
	test_damaged_bits(name, false, BITS_SIXTY);
	test_damaged_bits(name, true, BITS_PLUS_ONE);
	test_damaged_bits(name, true, BITS_SIXTY);
	test_damaged_drop(name, false);
	test_damaged_drop(name, true);
	test_pool_record(name);
	printf("integrity: ok\n");
	return 0;
}
