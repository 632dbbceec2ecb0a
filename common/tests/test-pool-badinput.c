/* tmem: bad input gets a clear error code, never a crash — bad options,
 * a pool too small to format, a foreign file, another layout version or
 * geometry, a corrupt header, a truncated file, a half-formatted segment,
 * read-only handles, unlink while attached, a full sub-pool table, a
 * stored page that fails its checksum. */
#include <config.h>

#include <fcntl.h>
#include <stddef.h>
#include <sys/resource.h>

#include <xxhash.h>

#include "test-pool.h"
#include "tmem-internal.h"

static char path[128];

static void make_segment(const char *name)
{
	struct tmem_options o;
	struct tmem *t;

	test_options(&o, name, 4 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	tmem_close(t);
}

static int try_open(const char *name, bool create)
{
	struct tmem_options o;
	struct tmem *t = NULL;
	int r;

	test_options(&o, name, 4 << 20);
	o.create = create;
	r = tmem_open(&o, &t);
	if (r == 0)
		tmem_close(t);
	else
		CHECK(t == NULL);
	return r;
}

static void patch(off_t off, const void *data, size_t len)
{
	int fd = open(path, O_RDWR);

	CHECK(fd >= 0);
	CHECK(pwrite(fd, data, len, off) == (ssize_t)len);
	close(fd);
}

static void test_header(const char *name)
{
	struct tmem_header h;
	uint32_t v;
	uint64_t zero = 0, formatting = TMEM_MAGIC_FORMATTING;
	int fd;

	snprintf(path, sizeof path, "/dev/shm/%s", name);
	/* Another layout version. */
	make_segment(name);
	v = TMEM_LAYOUT_VERSION + 1;
	patch(offsetof(struct tmem_header, layout_version), &v, sizeof v);
	CHECK_RC(try_open(name, true), -EPROTO);
	/* Another geometry, with a correct checksum: another build. */
	CHECK_RC(tmem_unlink(name), 0);
	make_segment(name);
	fd = open(path, O_RDONLY);
	CHECK(pread(fd, &h, sizeof h, 0) == sizeof h);
	close(fd);
	h.geo.chunk_size *= 2;
	h.geo_hash = XXH64(&h.geo, sizeof h.geo, TMEM_LAYOUT_VERSION);
	patch(offsetof(struct tmem_header, geo), &h.geo, sizeof h.geo);
	patch(offsetof(struct tmem_header, geo_hash), &h.geo_hash,
	      sizeof h.geo_hash);
	CHECK_RC(try_open(name, true), -EPROTO);
	/* A corrupt header: the checksum catches it. */
	h.geo.chunk_size /= 2;
	h.geo.nr_chunks++;
	patch(offsetof(struct tmem_header, geo), &h.geo, sizeof h.geo);
	CHECK_RC(try_open(name, true), -EBADMSG);
	/* Truncated: an error, not SIGBUS. */
	CHECK_RC(tmem_unlink(name), 0);
	make_segment(name);
	CHECK(truncate(path, 1 << 20) == 0);
	CHECK_RC(try_open(name, true), -EBADMSG);
	/* A creator that died before writing the magic (the file marked as
	 * being formatted): formatted again, but only by someone allowed to
	 * create. */
	CHECK_RC(tmem_unlink(name), 0);
	make_segment(name);
	patch(0, &formatting, sizeof formatting);
	CHECK_RC(try_open(name, false), -ENOENT);
	CHECK_RC(try_open(name, true), 0);
	CHECK_RC(try_open(name, false), 0);
	/* Zeros where the magic goes, with bytes after: not a segment, and
	 * never formatted over by someone who did not make it. */
	patch(0, &zero, sizeof zero);
	CHECK_RC(try_open(name, false), -EBADMSG);
	CHECK_RC(try_open(name, true), -EBADMSG);
	{
		uint64_t magic = 1;

		fd = open(path, O_RDONLY);
		CHECK(fd >= 0 && pread(fd, &magic, sizeof magic, 0) == 8 &&
		      magic == 0);
		close(fd);
	}
	CHECK(unlink(path) == 0);
	/* An empty file is a creator's that has not formatted it yet. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_RC(try_open(name, false), -ENOENT);
	CHECK_RC(try_open(name, true), 0);
	/* Not a tmem segment at all. */
	CHECK_RC(tmem_unlink(name), 0);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, "this is not a pool, just a file with some text in it",
		    52) == 52);
	close(fd);
	CHECK_RC(try_open(name, true), -EBADMSG);
	unlink(path);
}

static void test_options_bad(const char *name)
{
	struct tmem_options o;
	struct tmem *t;
	char longname[100];

	test_options(&o, "", 4 << 20);
	CHECK_RC(tmem_open(&o, &t), -EINVAL);
	o.name = "a/b";
	CHECK_RC(tmem_open(&o, &t), -EINVAL);
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	o.name = longname;
	CHECK_RC(tmem_open(&o, &t), -EINVAL);
	test_options(&o, name, 4 << 20);
	o.contexts = 0;
	CHECK_RC(tmem_open(&o, &t), -EINVAL);
	test_options(&o, name, 4 << 20);
	o.level = 1000;
	CHECK_RC(tmem_open(&o, &t), -EINVAL);
	/* Too small to format; nothing is left behind. */
	test_options(&o, name, 100 << 10);
	CHECK_RC(tmem_open(&o, &t), -EINVAL);
	CHECK_RC(try_open(name, false), -ENOENT);
	test_options(&o, name, 1ULL << 50);
	CHECK_RC(tmem_open(&o, &t), -EINVAL);
	CHECK_RC(tmem_unlink(name), -ENOENT);
}

static void test_handles(const char *name)
{
	struct tmem_options o;
	struct tmem *t, *ro;
	struct tmem_stats st;
	struct tmem_segment_info si;
	unsigned char page[4096] = {1};
	char pname[16];
	uint32_t p, q;
	int i;

	test_options(&o, name, 4 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_unlink(name), -EBUSY);
	o.readonly = true;
	CHECK_RC(tmem_open(&o, &ro), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK_RC(tmem_put(t, p, 1, 1, page), 0);
	CHECK_RC(tmem_put(ro, p, 1, 2, page), -EROFS);
	CHECK_RC(tmem_get(ro, p, 1, 1, page), -EROFS);
	CHECK_RC(tmem_pool_open(ro, "q", TMEM_PERSISTENT, 0, 0, &q), -EROFS);
	CHECK_RC(tmem_stats_get(ro, &st), 0);
	CHECK(st.pages_stored == 1);
	CHECK(tmem_pool_list(ro, NULL, 0) == 1);
	CHECK_RC(tmem_segment_info(ro, &si), 0);
	CHECK(si.attached == 1);
	CHECK(si.layout_version == TMEM_LAYOUT_VERSION);
	CHECK(si.pool_size == 4 << 20);
	/* Bad pool arguments. */
	CHECK_RC(tmem_pool_open(t, "", TMEM_PERSISTENT, 0, 0, &q), -EINVAL);
	CHECK_RC(tmem_pool_open(t, "x", (enum tmem_kind)7, 0, 0, &q), -EINVAL);
	CHECK_RC(tmem_pool_open(t, "x", TMEM_EPHEMERAL, 2 << 20, 1 << 20, &q),
		 -EINVAL);
	CHECK_RC(tmem_put(t, 0xdeadbeef, 1, 1, page), -ENOENT);
	CHECK_RC(tmem_flush_object(t, 12345, 1), -ENOENT);
	/* The sub-pool table fills up. */
	for (i = 1; i < TMEM_MAX_POOLS; i++) {
		snprintf(pname, sizeof pname, "pool%d", i);
		CHECK_RC(tmem_pool_open(t, pname, TMEM_EPHEMERAL, 0, 0, &q), 0);
	}
	CHECK_RC(tmem_pool_open(t, "onemore", TMEM_EPHEMERAL, 0, 0, &q),
		 -ENOSPC);
	CHECK_RC(tmem_pool_destroy(t, q), 0);
	CHECK_RC(tmem_pool_open(t, "onemore", TMEM_EPHEMERAL, 0, 0, &q), 0);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(ro);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
	CHECK_RC(tmem_unlink(name), -ENOENT);
	CHECK(strlen(tmem_strerror(-EPROTO)) > 0);
	CHECK(strcmp(tmem_reject_names[TMEM_REJECT_LOCK_BUSY], "lock_busy") ==
	      0);
}

static void test_checksum(const char *name)
{
#ifdef TMEM_TEST_HOOKS
	struct tmem_options o;
	struct tmem_stats st;
	struct tmem *t;
	unsigned char page[4096], back[4096];
	uint32_t p;

	test_options(&o, name, 4 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	page_text(page, 1);
	CHECK_RC(tmem_put(t, p, 1, 1, page), 0);
	page_random(page, 2);
	CHECK_RC(tmem_put(t, p, 1, 2, page), 0);
	CHECK_RC(tmem_test_corrupt(t, p, 1, 1), 0);
	CHECK_RC(tmem_test_corrupt(t, p, 1, 2), 0);
	/* Sticky: an I/O error on every read, counted once per page. */
	CHECK_RC(tmem_get(t, p, 1, 1, back), -EIO);
	CHECK_RC(tmem_get(t, p, 1, 2, back), -EIO);
	CHECK_RC(tmem_get(t, p, 1, 1, back), -EIO);
	CHECK_RC(tmem_get(t, p, 1, 2, back), -EIO);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.checksum_errors == 2);
	CHECK(st.pages_stored == 2);
	/* Until it is written or flushed. */
	page_text(page, 3);
	CHECK_RC(tmem_put(t, p, 1, 1, page), 0);
	CHECK_RC(tmem_get(t, p, 1, 1, back), 0);
	CHECK(memcmp(page, back, sizeof page) == 0);
	CHECK_RC(tmem_flush_page(t, p, 1, 2), 0);
	CHECK_RC(tmem_get(t, p, 1, 2, back), -ENOENT);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.checksum_errors == 2);
	CHECK(st.pages_stored == 1);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	tmem_unlink(name);
#else
	(void)name;
#endif
}

/* A repair without memory for all its scratch claims nothing: with room
 * for its tables but not for the list of live blobs it sorts, it returns
 * -ENOMEM holding no lock, and the repair stays due (the previous code
 * skipped the chunk layout and called the pool repaired).  Then, with
 * memory, it repairs. */
static void test_repair_nomem(const char *name)
{
#ifndef TMEM_SANITIZED /* the sanitizers reserve address space */
	struct tmem_options o;
	struct rlimit old, lim;
	unsigned char page[4096];
	struct tmem *t;
	unsigned long vm_pages;
	uint64_t i, need;
	uint32_t p;
	FILE *f;
	int r;

	test_options(&o, name, 64 << 20);
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (i = 0; i < 20000; i++) {
		page_text(page, i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
	}
	atomic_store(&t->hdr->needs_repair, 1);
	f = fopen("/proc/self/statm", "r");
	CHECK(f && fscanf(f, "%lu", &vm_pages) == 1);
	fclose(f);
	/* Room for the per-blob and per-chunk tables and a little more,
	 * not for 20,000 live blobs' locations (160 KB). */
	need = t->geo->nr_blobs * 5 + t->geo->nr_chunks * 4 + (48 << 10);
	CHECK(getrlimit(RLIMIT_AS, &old) == 0);
	lim = old;
	lim.rlim_cur = vm_pages * 4096 + need;
	CHECK(setrlimit(RLIMIT_AS, &lim) == 0);
	r = tmem_fsck(t, true);
	CHECK(setrlimit(RLIMIT_AS, &old) == 0);
	CHECK_RC(r, -ENOMEM);
	CHECK(atomic_load(&t->hdr->needs_repair) == 1);
	CHECK(tmem_trylock(t, &t->hdr->chunk_lock));
	tmem_unlock(&t->hdr->chunk_lock);
	CHECK(tmem_trylock(t, &seg_istripe(t, 0)->lock));
	tmem_unlock(&seg_istripe(t, 0)->lock);
	CHECK_RC(tmem_fsck(t, true), 0);
	CHECK(atomic_load(&t->hdr->needs_repair) == 0);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	tmem_unlink(name);
#else
	(void)name;
#endif
}

int main(void)
{
	const char *name = test_segment_name("bad");

	test_options_bad(name);
	test_header(name);
	test_handles(name);
	test_checksum(name);
	test_repair_nomem(name);
	return 0;
}
