/* tmem: per-handle compression contexts and what a page is made of.
 *
 * A handle owns a fixed array of contexts made in tmem_open: a static zstd
 * compression and decompression context each (ZSTD_initStaticCCtx/DCtx in
 * workspaces sized for 4 KiB inputs at the handle's level) and scratch
 * buffers.  put/get borrow one for the length of a call, so the hot path
 * never allocates, and all compression, hashing and copying work happens in
 * the context's buffers, outside any segment lock.
 */
#include <config.h>

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "tmem-codec-internal.h"
#include "tmem-dict-internal.h"
#include "tmem-segment-internal.h"

/* Room for a page compressed alone.  A dictionary is always attached
 * (ZSTD_dictForceAttach: its tables are read in place, not copied), which
 * needs no more than that (tmem-dict.c). */
static size_t cctx_workspace_size(int level)
{
	ZSTD_compressionParameters cp =
		ZSTD_getCParams(level, TMEM_PAGE_SIZE, 0);

	return ZSTD_estimateCCtxSize_usingCParams(cp);
}

/* Memory the data path uses is faulted in (and so locked, under
 * mlockall ONFAULT) when it is made: a put must never wait for a page
 * fault, which under memory pressure waits for swap, which may be us. */
void *tmem_alloc_touched(size_t size)
{
	size_t n = (size + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, n);

	if (p)
		memset(p, 0, n);
	return p;
}

/* The same for a large buffer given back while the process lives: a
 * mapping of its own, so that tmem_unmap_touched returns its pages to the
 * kernel at once.  Freed to the heap they would stay resident, and under
 * mlockall locked, for the life of the process. */
void *tmem_map_touched(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, size);
	return p;
}

void tmem_unmap_touched(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

int tmem_ctx_init_all(struct tmem *t)
{
	size_t csize = cctx_workspace_size(t->level);
	size_t dsize = ZSTD_estimateDCtxSize();
	unsigned i;

	t->ctx = aligned_alloc(64, t->nr_ctx * sizeof *t->ctx);
	if (!t->ctx)
		return -ENOMEM;
	memset(t->ctx, 0, t->nr_ctx * sizeof *t->ctx);
	for (i = 0; i < t->nr_ctx; i++) {
		struct tmem_ctx *c = &t->ctx[i];

		c->id = i;
		c->cbuf_size = ZSTD_compressBound(TMEM_PAGE_SIZE);
		c->cwork = tmem_alloc_touched(csize);
		c->dwork = tmem_alloc_touched(dsize);
		c->cbuf = tmem_alloc_touched(c->cbuf_size);
		c->dbuf = tmem_alloc_touched(TMEM_PAGE_SIZE);
		if (!c->cwork || !c->dwork || !c->cbuf || !c->dbuf)
			return -ENOMEM;
		c->cctx = ZSTD_initStaticCCtx(c->cwork, csize);
		c->dctx = ZSTD_initStaticDCtx(c->dwork, dsize);
		if (!c->cctx || !c->dctx)
			return -ENOMEM;
		/* Every blob is one 4 KiB page whose size we know: frames
		 * need neither the magic number nor the content size (5 bytes
		 * a page, half a percent of a typical blob). */
		if (ZSTD_isError(ZSTD_CCtx_setParameter(
			    c->cctx, ZSTD_c_compressionLevel, t->level)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(
			    c->cctx, ZSTD_c_format, ZSTD_f_zstd1_magicless)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(
			    c->cctx, ZSTD_c_contentSizeFlag, 0)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(
			    c->cctx, ZSTD_c_forceAttachDict,
			    ZSTD_dictForceAttach)) ||
		    ZSTD_isError(ZSTD_DCtx_setParameter(
			    c->dctx, ZSTD_d_format, ZSTD_f_zstd1_magicless)))
			return -EINVAL;
	}
	return 0;
}

void tmem_ctx_free_all(struct tmem *t)
{
	unsigned i;

	if (!t->ctx)
		return;
	for (i = 0; i < t->nr_ctx; i++) {
		free(t->ctx[i].cwork);
		free(t->ctx[i].dwork);
		free(t->ctx[i].cbuf);
		free(t->ctx[i].dbuf);
	}
	free(t->ctx);
	t->ctx = NULL;
}

/* Each thread remembers the context it used last, so that two threads
 * settle on different contexts and do not share cache lines. */
static __thread unsigned ctx_hint;

/* Every context busy: yield for CTX_YIELDS rounds, then sleep a little
 * each round.  A yield gives the CPU only to threads of the caller's own
 * priority; real-time callers (the plugin's request threads, [swap]
 * realtime) would keep an ordinary holder of a context off the CPU, and
 * their sleeps let it run and give the context back. */
#define CTX_YIELDS 64

struct tmem_ctx *tmem_ctx_get(struct tmem *t)
{
	const struct timespec nap = {0, 100 * 1000};
	unsigned n = t->nr_ctx, i, start = ctx_hint % n, rounds = 0;
	int zero;

	for (;;) {
		for (i = 0; i < n; i++) {
			struct tmem_ctx *c = &t->ctx[(start + i) % n];

			zero = 0;
			if (atomic_load_explicit(&c->busy,
						 memory_order_relaxed) == 0 &&
			    atomic_compare_exchange_strong_explicit(
				    &c->busy, &zero, 1, memory_order_acquire,
				    memory_order_relaxed)) {
				ctx_hint = c->id;
				if (!c->cnt)
					c->cnt = seg_counters(
						t, (unsigned)t->slot,
						c->id % TMEM_STAT_CTX, 0);
				return c;
			}
		}
		if (++rounds < CTX_YIELDS)
			sched_yield();
		else
			nanosleep(&nap, NULL);
	}
}

void tmem_ctx_put(struct tmem_ctx *c)
{
	atomic_store_explicit(&c->busy, 0, memory_order_release);
}

/* Zero and same-filled pages (zram's same_filled check on 64-bit words)
 * are stored as a pattern in the index entry. */
enum entry_type tmem_page_classify(const void *page, uint64_t *pattern)
{
	const uint64_t *w = page;
	uint64_t v = w[0];
	size_t i;

	for (i = 1; i < TMEM_PAGE_SIZE / 8; i++) {
		if (w[i] != v)
			return ENTRY_BLOB;
	}
	/* The entry has room for a 16-bit pattern (byte fills and the like);
	 * other same-filled pages compress to a few bytes anyway. */
	if (v != (v & 0xffff) * 0x0001000100010001ULL)
		return ENTRY_BLOB;
	*pattern = v & 0xffff;
	return v == 0 ? ENTRY_ZERO : ENTRY_SAME;
}

void tmem_page_fill(void *page, enum entry_type type, uint64_t pattern)
{
	uint64_t *w = page;
	size_t i;

	if (type == ENTRY_ZERO) {
		memset(page, 0, TMEM_PAGE_SIZE);
		return;
	}
	pattern = (pattern & 0xffff) * 0x0001000100010001ULL;
	for (i = 0; i < TMEM_PAGE_SIZE / 8; i++)
		w[i] = pattern;
}

uint64_t tmem_page_hash(const void *page)
{
	return XXH3_64bits(page, TMEM_PAGE_SIZE);
}

/* Point the context at dictionary e or at none (NULL).  A frame that ended
 * in dstSize_tooSmall (a raw page) leaves it mid-stream, where it takes no
 * dictionary: reset the session first. */
static int ctx_use_dict(struct tmem *t, struct tmem_ctx *c,
			struct tmem_dict_enc *e)
{
	int on = e ? (int)(e - t->dict_enc) + 1 : 0;
	size_t r;

	if (c->dict_on == on)
		return 0;
	ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_only);
	r = ZSTD_CCtx_refCDict(c->cctx, e ? e->cdict : NULL);
	if (ZSTD_isError(r)) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "zstd: cannot %s the dictionary: %s",
			 e ? "use" : "drop", ZSTD_getErrorName(r));
		return -EIO;
	}
	c->dict_on = on;
	return 0;
}

/* One compression into out: its size, TMEM_PAGE_SIZE when it does not
 * save enough (raw), or -EIO. */
static long compress_once(struct tmem *t, struct tmem_ctx *c, void *out,
			  const void *page)
{
	size_t n = ZSTD_compress2(c->cctx, out, TMEM_RAW_THRESHOLD, page,
				  TMEM_PAGE_SIZE);

	if (!ZSTD_isError(n))
		return (long)n;
	if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
		return TMEM_PAGE_SIZE;
	tmem_log(t, TMEM_LOG_ERROR, "zstd compression failed: %s",
		 ZSTD_getErrorName(n));
	return -EIO;
}

/* Is dictionary e paying?  One page in DICT_PROBE_EVERY is compressed
 * the other way too (into dbuf, free on the put path), and every
 * DICT_PROBE_WINDOW probes (2048 pages) the process decides from their
 * sums whether new pages use it.  A dictionary trained on the first pages
 * can make later ones bigger (real process memory: about 2%; text-like
 * pages shrink by a third): this keeps it only while it pays, for about
 * 1.5% more compression work. */
#define DICT_PROBE_EVERY  64
#define DICT_PROBE_WINDOW 32

static void dict_probe(struct tmem *t, struct tmem_ctx *c,
		       struct tmem_dict_enc *e, const void *page, long n)
{
	bool used = c->dict_on != 0;
	uint64_t with, without;
	uint32_t k;
	long m;

	if (ctx_use_dict(t, c, used ? NULL : e))
		return;
	m = compress_once(t, c, c->dbuf, page);
	if (ctx_use_dict(t, c, used ? e : NULL) || m < 0)
		return;
	atomic_fetch_add(&e->with, (uint64_t)(used ? n : m));
	atomic_fetch_add(&e->without, (uint64_t)(used ? m : n));
	k = atomic_fetch_add(&e->probes, 1) + 1;
	if (k % DICT_PROBE_WINDOW)
		return;
	with = atomic_exchange(&e->with, 0);
	without = atomic_exchange(&e->without, 0);
	if ((with > without) != atomic_load(&e->paused)) {
		atomic_store(&e->paused, with > without);
		tmem_log(t, TMEM_LOG_INFO,
			 "%s: dictionary %u %s: %llu bytes with it, %llu "
			 "without, on the last %u pages probed",
			 t->path, e->slot,
			 with > without ? "does not pay: pages go without it"
					: "pays again: pages use it",
			 (unsigned long long)with, (unsigned long long)without,
			 DICT_PROBE_WINDOW);
	}
}

/* Compress into c->cbuf.  A page that does not shrink below the raw
 * threshold is stored as is (zram's huge class): *len = 4096 and the data
 * is the caller's page. */
int tmem_page_compress(struct tmem *t, struct tmem_ctx *c, const void *page,
		       uint64_t group, uint32_t *len)
{
	struct tmem_dict_enc *e;
	bool claimable, dict = false;
	long n;

	/* The group's own dictionary, once it has one, while it pays. */
	e = tmem_dict_for(t, group, false, &claimable);
	if (e)
		dict = !atomic_load_explicit(&e->paused, memory_order_relaxed);
	if (ctx_use_dict(t, c, dict ? e : NULL))
		return -EIO;
	n = compress_once(t, c, c->cbuf, page);
	if (n < 0)
		return -EIO;
	/* Counted per context (one caller at a time owns it): a counter
	 * shared by every put would bounce its cache line between threads.
	 * Only the group's pages are probed: the others never use it. */
	if (e && c->probe_tick++ % DICT_PROBE_EVERY == 0)
		dict_probe(t, c, e, page, n);
	/* A group without a slot yet, while one is free: a sample, perhaps
	 * (only pages that compress: a dictionary of random bytes helps no
	 * one). */
	if (claimable && n < TMEM_PAGE_SIZE)
		tmem_dict_sample(t, page, group);
	*len = (uint32_t)n;
	return 0;
}

int tmem_page_decompress(struct tmem *t, struct tmem_ctx *c, const void *src,
			 uint32_t len, void *page)
{
	ZSTD_frameHeader fh;
	size_t n;

	if (len == TMEM_PAGE_SIZE) {
		memcpy(page, src, TMEM_PAGE_SIZE);
		return 0;
	}
	/* A frame names the dictionary it was compressed with, if any. */
	if (ZSTD_getFrameHeader_advanced(&fh, src, len,
					 ZSTD_f_zstd1_magicless) != 0)
		return -EIO;
	if (fh.dictID) {
		const ZSTD_DDict *dd = tmem_dict_ddict(t, fh.dictID);

		if (!dd)
			return -ENOKEY;
		n = ZSTD_decompress_usingDDict(c->dctx, page, TMEM_PAGE_SIZE,
					       src, len, dd);
	} else {
		n = ZSTD_decompressDCtx(c->dctx, page, TMEM_PAGE_SIZE, src,
					len);
	}
	if (ZSTD_isError(n) || n != TMEM_PAGE_SIZE)
		return -EIO;
	return 0;
}
