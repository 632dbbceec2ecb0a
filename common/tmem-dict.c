/* tmem: a zstd dictionary trained on the pool's own pages.
 *
 * zstd compresses a lone 4 KiB page without history: every page pays to
 * describe its words and its entropy tables anew.  A dictionary trained on
 * pages like it gives the codec that history (text pages of the swap test
 * shrink by 40%), and compressing through a prepared CDict is also faster
 * than starting each page from scratch.
 *
 * One dictionary per segment, trained once: a process that runs
 * tmem_start copies one in every TMEM_DICT_EVERY pages that compress into a
 * sample buffer, all of one group (the first page's: its sub-pool, or the
 * sub-pools that share pages; none from a sub-pool that shares with no
 * one), and the dictionary then compresses that group's pages only: how
 * small a page compresses with it tells about the pages it was trained
 * on.  When TMEM_DICT_SAMPLES are in, its trainer thread claims
 * the training in the header (one compare-and-swap; a claim by a process
 * that died is taken back), trains with ZDICT's fastCover, keeps the
 * dictionary only if it makes the samples it was not trained on at least 2%
 * smaller, and publishes it: bytes
 * in the segment, size and XXH64 in the header, then DICT_READY.  Nothing
 * of this runs on the put path but the copy of a sample.
 *
 * Every process loads a ready dictionary into a static CDict and DDict made
 * in workspaces sized at open, by reference to the segment's bytes, so that
 * loading it (on the first call that sees it ready) never allocates.
 * Pages compressed with it carry its id in their frame header (one byte);
 * pages stored before it carry none, and decompress as they always did.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "deadline.h"
#include "tmem-codec-internal.h"
#include "tmem-dict-internal.h"
#include "tmem-segment-internal.h"

/* The one dictionary of a segment is id 1: frames name it in one byte. */
#define DICT_ID 1

#define SAMPLES_BYTES ((size_t)TMEM_DICT_SAMPLES * TMEM_PAGE_SIZE)

static unsigned char *seg_dict(struct tmem *t)
{
	return t->base + t->geo->off_dict;
}

/* Parameters for the CDict, the same for every size of dictionary so that
 * the workspace sized at open always fits. */
static ZSTD_compressionParameters dict_cparams(struct tmem *t)
{
	return ZSTD_getCParams(t->level, TMEM_PAGE_SIZE, TMEM_DICT_MAX);
}

int tmem_dict_init(struct tmem *t)
{
	if (t->readonly || !t->hdr->dictionary)
		return 0;
	t->cdict_size = ZSTD_estimateCDictSize_advanced(
		TMEM_DICT_MAX, dict_cparams(t), ZSTD_dlm_byRef);
	t->ddict_size = ZSTD_estimateDDictSize(TMEM_DICT_MAX, ZSTD_dlm_byRef);
	t->cdict_work = tmem_alloc_touched(t->cdict_size);
	t->ddict_work = tmem_alloc_touched(t->ddict_size);
	if (!t->cdict_work || !t->ddict_work)
		return -ENOMEM;
	return 0;
}

static uint64_t state_now(struct tmem *t)
{
	return atomic_load_explicit(&t->hdr->dict_state, memory_order_acquire);
}

bool tmem_dict_load(struct tmem *t, bool wait)
{
	const unsigned char *dict = seg_dict(t);
	uint32_t size;
	bool ok = false;

	if (!t->cdict_work || dict_state_of(state_now(t)) != DICT_READY)
		return false;
	if (wait)
		pthread_mutex_lock(&t->dict_mu);
	else if (pthread_mutex_trylock(&t->dict_mu) != 0)
		return false;
	if (atomic_load_explicit(&t->dict_loaded, memory_order_relaxed)) {
		ok = true;
		goto out;
	}
	if (t->dict_bad)
		goto out;
	size = t->hdr->dict_size;
	if (size < 8 || size > TMEM_DICT_MAX ||
	    XXH64(dict, size, 0) != t->hdr->dict_hash) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "%s: the trained dictionary fails its checksum: "
			 "pages compressed with it cannot be read",
			 t->path);
		t->dict_bad = true;
		goto out;
	}
	t->cdict = (void *)ZSTD_initStaticCDict(
		t->cdict_work, t->cdict_size, dict, size, ZSTD_dlm_byRef,
		ZSTD_dct_fullDict, dict_cparams(t));
	t->ddict = (void *)ZSTD_initStaticDDict(t->ddict_work, t->ddict_size,
						dict, size, ZSTD_dlm_byRef,
						ZSTD_dct_fullDict);
	if (!t->cdict || !t->ddict ||
	    ZSTD_getDictID_fromDDict(t->ddict) != t->hdr->dict_id) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "%s: the trained dictionary cannot be loaded",
			 t->path);
		t->dict_bad = true;
		goto out;
	}
	t->dict_id = t->hdr->dict_id;
	t->dict_serves = t->hdr->dict_group;
	atomic_store_explicit(&t->dict_loaded, true, memory_order_release);
	ok = true;
out:
	pthread_mutex_unlock(&t->dict_mu);
	return ok;
}

void tmem_dict_sample(struct tmem *t, const void *page, uint64_t group)
{
	uint64_t g;
	uint32_t i;

	/* Read-only checks first: once sampling is over, puts write nothing
	 * shared here. */
	if (!group || !t->trainer_running ||
	    atomic_load_explicit(&t->dict_claimed, memory_order_relaxed) >=
		    TMEM_DICT_SAMPLES ||
	    atomic_load_explicit(&t->dict_loaded, memory_order_relaxed))
		return;
	/* One group's pages only: the first sampled sets it. */
	g = atomic_load_explicit(&t->dict_group, memory_order_relaxed);
	if (g != group && (g != 0 || !atomic_compare_exchange_strong(
					     &t->dict_group, &g, group)))
		return;
	if (atomic_fetch_add_explicit(&t->dict_seen, 1, memory_order_relaxed) %
	    TMEM_DICT_EVERY)
		return;
	i = atomic_fetch_add_explicit(&t->dict_claimed, 1,
				      memory_order_relaxed);
	if (i >= TMEM_DICT_SAMPLES)
		return;
	memcpy(t->samples + (size_t)i * TMEM_PAGE_SIZE, page, TMEM_PAGE_SIZE);
	if (atomic_fetch_add_explicit(&t->dict_filled, 1,
				      memory_order_acq_rel) +
		    1 ==
	    TMEM_DICT_SAMPLES) {
		pthread_mutex_lock(&t->dict_mu);
		pthread_cond_signal(&t->dict_cv);
		pthread_mutex_unlock(&t->dict_mu);
	}
}

/* A claim whose process is gone is taken back, so that another trains. */
static bool claim_is_stale(struct tmem *t, uint64_t v)
{
	unsigned slot = (unsigned)((v >> 8) & 0xff);
	pid_t pid = (pid_t)(v >> 32);

	if (slot >= TMEM_MAX_SLOTS)
		return true;
	return !tmem_slot_alive(t, slot) || seg_slot(t, slot)->pid != pid;
}

/* Trained on the first three quarters of the samples, judged on the last
 * quarter (pages it has not seen, and the latest), and kept only if it
 * saves at least 1/DICT_MIN_GAIN of their size there: a dictionary that
 * only fits its training pages makes later pages bigger, not smaller. */
#define DICT_TRAIN (TMEM_DICT_SAMPLES / 4 * 3)
static const char dict_no_gain[] =
	"it saves less than 2% on the pages it was tested on";
#define DICT_MIN_GAIN 50

/* Sum of samples [from, to)'s compressed sizes, with the dictionary or
 * without. */
static size_t samples_cost(struct tmem *t, ZSTD_CCtx *cc, const ZSTD_CDict *cd,
			   unsigned from, unsigned to)
{
	unsigned char out[TMEM_PAGE_SIZE];
	size_t sum = 0, r;
	unsigned i;

	for (i = from; i < to; i++) {
		const unsigned char *p =
			t->samples + (size_t)i * TMEM_PAGE_SIZE;

		if (cd)
			r = ZSTD_compress_usingCDict(cc, out, sizeof out, p,
						     TMEM_PAGE_SIZE, cd);
		else
			r = ZSTD_compressCCtx(cc, out, sizeof out, p,
					      TMEM_PAGE_SIZE, t->level);
		sum += ZSTD_isError(r) ? TMEM_PAGE_SIZE : r;
	}
	return sum;
}

/* Train on the samples into buf; the dictionary's size, or 0 with *why
 * set when there is none worth having. */
static size_t train(struct tmem *t, unsigned char *buf, const char **why)
{
	size_t sizes[TMEM_DICT_SAMPLES], n, with, without;
	ZDICT_fastCover_params_t p;
	ZSTD_CCtx *cc;
	ZSTD_CDict *cd;
	unsigned i;

	for (i = 0; i < TMEM_DICT_SAMPLES; i++)
		sizes[i] = TMEM_PAGE_SIZE;
	memset(&p, 0, sizeof p);
	/* f = 16: a 256 KiB frequency table instead of fastCover's default
	 * 4 MiB.  Training runs while the machine may be short of memory (the
	 * first pages a swap device sees); measured on the guest test's
	 * pages, the dictionary is as good (0.390 of their size against
	 * 0.389) for 9 MiB less at its peak. */
	p.d = 8;
	p.steps = 4;
	p.f = 16;
	p.accel = 1;
	p.zParams.compressionLevel = t->level;
	p.zParams.dictID = DICT_ID;
	n = ZDICT_optimizeTrainFromBuffer_fastCover(
		buf, TMEM_DICT_MAX, t->samples, sizes, DICT_TRAIN, &p);
	if (ZDICT_isError(n)) {
		*why = ZDICT_getErrorName(n);
		return 0;
	}
	cc = ZSTD_createCCtx();
	cd = ZSTD_createCDict(buf, n, t->level);
	if (!cc || !cd) {
		ZSTD_freeCCtx(cc);
		ZSTD_freeCDict(cd);
		*why = "out of memory";
		return 0;
	}
	without = samples_cost(t, cc, NULL, DICT_TRAIN, TMEM_DICT_SAMPLES);
	with = samples_cost(t, cc, cd, DICT_TRAIN, TMEM_DICT_SAMPLES);
	ZSTD_freeCCtx(cc);
	ZSTD_freeCDict(cd);
	tmem_log(t, TMEM_LOG_INFO,
		 "%s: a dictionary of %zu bytes makes %u later pages %zu "
		 "bytes instead of %zu",
		 t->path, n, TMEM_DICT_SAMPLES - DICT_TRAIN, with, without);
	if (with > without - without / DICT_MIN_GAIN) {
		*why = dict_no_gain;
		return 0;
	}
	return n;
}

/* Wait until the samples are in (true), or until there is nothing left
 * to do here: stop asked, or the segment has a dictionary (false). */
static bool wait_for_samples(struct tmem *t)
{
	bool go = false;

	pthread_mutex_lock(&t->dict_mu);
	while (!t->trainer_stop) {
		struct timespec ts;

		if (dict_state_of(state_now(t)) == DICT_READY ||
		    dict_state_of(state_now(t)) == DICT_FAILED)
			break;
		if (atomic_load_explicit(&t->dict_filled,
					 memory_order_acquire) ==
		    TMEM_DICT_SAMPLES) {
			go = true;
			break;
		}
		/* Wake now and then: another process may publish first. */
		deadline_after_ms(CLOCK_MONOTONIC, 1000, &ts);
		pthread_cond_timedwait(&t->dict_cv, &t->dict_mu, &ts);
	}
	pthread_mutex_unlock(&t->dict_mu);
	return go;
}

static void *trainer_main(void *arg)
{
	struct tmem *t = arg;
	struct tmem_header *h = t->hdr;
	unsigned char *buf = NULL;
	const char *why = NULL;
	uint64_t v, mine;
	bool failed;
	size_t n;

	if (!wait_for_samples(t))
		return NULL;
	mine = DICT_TRAINING | ((uint64_t)t->slot << 8) |
	       ((uint64_t)(uint32_t)getpid() << 32);
	for (;;) {
		v = DICT_NONE;
		if (atomic_compare_exchange_strong(&h->dict_state, &v, mine))
			break;
		if (dict_state_of(v) != DICT_TRAINING)
			goto out; /* ready or failed meanwhile */
		if (claim_is_stale(t, v)) {
			atomic_compare_exchange_strong(&h->dict_state, &v,
						       DICT_NONE);
			continue;
		}
		/* Another process trains: its result will do. */
		goto out;
	}
	buf = malloc(TMEM_DICT_MAX);
	n = buf ? train(t, buf, &why) : 0;
	if (!buf)
		why = "out of memory";
	failed = why != dict_no_gain;
	if (n) {
		memcpy(seg_dict(t), buf, n);
		h->dict_size = (uint32_t)n;
		h->dict_id = DICT_ID;
		h->dict_hash = XXH64(seg_dict(t), n, 0);
		/* Every sample is of this group (tmem_dict_sample), set
		 * before its first claim: the wait's acquire saw it. */
		h->dict_group = atomic_load(&t->dict_group);
		atomic_store_explicit(&h->dict_state, DICT_READY,
				      memory_order_release);
		tmem_dict_load(t, true);
	} else {
		/* A dictionary that does not pay is normal (real process
		 * memory often does not fit one); a failure to train is not. */
		tmem_log(t, failed ? TMEM_LOG_WARNING : TMEM_LOG_INFO,
			 "%s: no dictionary: %s; pages are compressed "
			 "without one",
			 t->path, why);
		atomic_store_explicit(&h->dict_state, DICT_FAILED,
				      memory_order_release);
	}
out:
	free(buf);
	/* Every claim below TMEM_DICT_SAMPLES has been filled (the wait saw
	 * them all), and later claims never touch the buffer. */
	if (atomic_load(&t->dict_filled) == TMEM_DICT_SAMPLES) {
		tmem_unmap_touched(t->samples, SAMPLES_BYTES);
		__atomic_store_n(&t->samples_freed, true, __ATOMIC_RELEASE);
	}
	return NULL;
}

int tmem_dict_start(struct tmem *t)
{
	int r;

	if (!t->cdict_work || t->trainer_running ||
	    dict_state_of(state_now(t)) == DICT_READY ||
	    dict_state_of(state_now(t)) == DICT_FAILED)
		return 0;
	if (!t->samples) {
		/* Touched now: puts copy samples into it.  Mapped on its
		 * own: once trained, its 4 MiB go back to the kernel. */
		t->samples = tmem_map_touched(SAMPLES_BYTES);
		if (!t->samples)
			return -ENOMEM;
	}
	t->trainer_stop = false;
	r = pthread_create(&t->trainer, NULL, trainer_main, t);
	if (r)
		return -r;
	pthread_setname_np(t->trainer, "tmem-dict"); /* ps -L, top -H */
	t->trainer_running = true;
	return 0;
}

void tmem_dict_fini(struct tmem *t)
{
	if (t->trainer_running) {
		pthread_mutex_lock(&t->dict_mu);
		t->trainer_stop = true;
		pthread_cond_signal(&t->dict_cv);
		pthread_mutex_unlock(&t->dict_mu);
		pthread_join(t->trainer, NULL);
		t->trainer_running = false;
	}
	if (!t->samples_freed)
		tmem_unmap_touched(t->samples, SAMPLES_BYTES);
	t->samples = NULL;
	free(t->cdict_work);
	free(t->ddict_work);
	t->cdict_work = t->ddict_work = NULL;
}
