/* tmem: zstd dictionaries trained on the pool's own pages.
 *
 * zstd compresses a lone 4 KiB page without history: every page pays to
 * describe its words and its entropy tables anew.  A dictionary trained on
 * pages like it gives the codec that history (text pages of the swap test
 * shrink by 40%), and compressing through a prepared CDict is also faster
 * than starting each page from scratch.
 *
 * A dictionary belongs to a group (tmem-dict-internal.h): a sub-pool, or
 * the sub-pools that share pages; a sub-pool that shares with no one has
 * none.  It is trained on that group's pages only and compresses that
 * group's pages only: how small a page compresses with it tells about the
 * pages it was trained on.  A segment has TMEM_DICT_SLOTS slots, each
 * trained once for one group; a group that finds none free goes without.
 *
 * A process that runs tmem_start samples one group at a time (a round):
 * when a put compresses a page of a group that has no slot while a slot is
 * free, the trainer thread maps a sample buffer and opens a round for that
 * group, and puts of the group copy one in every TMEM_DICT_EVERY pages that
 * compress into it.  When TMEM_DICT_SAMPLES are in, the trainer claims a
 * slot for the group in the header (under hdr->dict_claim, so that one
 * group never gets two; a claim by a process that died is taken back),
 * trains with ZDICT's fastCover, keeps the dictionary only if it makes the
 * samples it was not trained on at least 2% smaller, and publishes it:
 * bytes in the slot's region of the segment, size, id and XXH64 in its
 * record, then DICT_READY; or DICT_FAILED, the group's verdict, until
 * another group claims the slot (no frame names a slot that never was
 * ready).  Then the buffer goes back to the kernel.  A round whose group
 * got a slot meanwhile (another process trained it), or that finds no
 * free slot, is given up.  Nothing of this runs on the put path but the
 * copy of a sample.
 *
 * A ready slot never changes: every process uses its bytes by reference.
 * It loads a slot's DDict (one workspace per slot, made at open) when a
 * frame names the slot's id, and a CDict when it compresses a page of the
 * slot's group, into a workspace given to the first group that finds its
 * dictionary ready: one made at open, and up to TMEM_DICT_CDICTS in a
 * process that trains for more groups (made by its trainer), so that
 * loading never allocates.  Pages compressed with one carry its id in their
 * frame header (one byte); pages stored without carry none.
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
#include "tmem-alloc-internal.h"
#include "tmem-codec-internal.h"
#include "tmem-dict-internal.h"
#include "tmem-segment-internal.h"

/* Every slot's generation, as long as slots are not given to a new group
 * once ready (layout.h, DICT_ID_MAKE). */
#define DICT_GEN 1

#define SAMPLES_BYTES ((size_t)TMEM_DICT_SAMPLES * TMEM_PAGE_SIZE)

#ifdef TMEM_TEST_HOOKS
void (*tmem_dict_test_found)(struct tmem *t, unsigned slot);
#endif

/* t->dict_round: group | round | samples claimed (tmem-handle.h). */
#define DICT_CLOSED	 0xffffU
#define ROUND_CLAIMED(w) ((uint32_t)((w)&0xffff))
#define ROUND_NUMBER(w)	 ((uint32_t)(((w) >> 16) & 0xffff))
#define ROUND_GROUP(w)	 ((uint32_t)((w) >> 32))
#define ROUND_MAKE(g, n, k) \
	(((uint64_t)(g) << 32) | (((n)&0xffffU) << 16) | (k))

/* A group in 32 bits, for the round word: a sub-pool's id (never 0:
 * generations start at 1), or all ones for the shared group. */
static uint32_t group32(uint64_t group)
{
	return group == DICT_GROUP_SHARED ? UINT32_MAX : (uint32_t)group;
}

static uint64_t group64(uint32_t g)
{
	return g == UINT32_MAX ? DICT_GROUP_SHARED : DICT_GROUP_SUBPOOL | g;
}

static unsigned char *seg_dict(struct tmem *t, unsigned slot)
{
	return t->base + t->geo->off_dict + (uint64_t)slot * TMEM_DICT_MAX;
}

static struct tmem_dict_rec *seg_drec(struct tmem *t, unsigned slot)
{
	return &t->hdr->dict[slot];
}

static uint64_t rec_state(struct tmem_dict_rec *r)
{
	return atomic_load_explicit(&r->state, memory_order_acquire);
}

/* Parameters for the CDict, the same for every size of dictionary so that
 * the workspace sized at open always fits. */
static ZSTD_compressionParameters dict_cparams(struct tmem *t)
{
	return ZSTD_getCParams(t->level, TMEM_PAGE_SIZE, TMEM_DICT_MAX);
}

int tmem_dict_init(struct tmem *t)
{
	unsigned i;

	atomic_store(&t->dict_round, ROUND_MAKE(0, 0, DICT_CLOSED));
	if (t->readonly || !t->hdr->dictionary)
		return 0;
	t->cdict_size = ZSTD_estimateCDictSize_advanced(
		TMEM_DICT_MAX, dict_cparams(t), ZSTD_dlm_byRef);
	t->ddict_size = ZSTD_estimateDDictSize(TMEM_DICT_MAX, ZSTD_dlm_byRef);
	/* One CDict: a server puts into one group.  A process that trains
	 * for another group makes one more for it then (enc_add). */
	t->dict_enc[0].work = tmem_alloc_touched(t->cdict_size);
	if (!t->dict_enc[0].work)
		return -ENOMEM;
	for (i = 0; i < TMEM_DICT_SLOTS; i++) {
		t->dict_dec[i].work = tmem_alloc_touched(t->ddict_size);
		if (!t->dict_dec[i].work)
			return -ENOMEM;
	}
	t->dict_on = true;
	return 0;
}

/* Caller holds dict_mu.  Whether ready slot s's bytes are those its
 * record was published with; said once when not. */
static bool slot_sound(struct tmem *t, unsigned s)
{
	struct tmem_dict_rec *r = seg_drec(t, s);

	if (t->dict_dec[s].bad)
		return false;
	if (r->size < 8 || r->size > TMEM_DICT_MAX ||
	    XXH64(seg_dict(t, s), r->size, 0) != r->hash) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "%s: trained dictionary %u fails its checksum: "
			 "pages compressed with it cannot be read",
			 t->path, s);
		t->dict_dec[s].bad = true;
		return false;
	}
	return true;
}

static void slot_unloadable(struct tmem *t, unsigned s)
{
	tmem_log(t, TMEM_LOG_ERROR,
		 "%s: trained dictionary %u cannot be loaded", t->path, s);
	t->dict_dec[s].bad = true;
}

/* Caller holds dict_mu.  Load slot s's DDict if the slot is ready with
 * dictionary id; whether it is loaded with that id. */
static bool ddict_load_locked(struct tmem *t, unsigned s, uint32_t id)
{
	struct tmem_dict_rec *r = seg_drec(t, s);
	struct tmem_dict_dec *d = &t->dict_dec[s];

	if (atomic_load_explicit(&d->loaded, memory_order_relaxed))
		return d->id == id;
	if (dict_state_of(rec_state(r)) != DICT_READY || r->id != id ||
	    !slot_sound(t, s))
		return false;
	d->ddict = (void *)ZSTD_initStaticDDict(
		d->work, t->ddict_size, seg_dict(t, s), r->size, ZSTD_dlm_byRef,
		ZSTD_dct_fullDict);
	if (!d->ddict || ZSTD_getDictID_fromDDict(d->ddict) != id) {
		slot_unloadable(t, s);
		return false;
	}
	d->id = id;
	atomic_store_explicit(&d->loaded, true, memory_order_release);
	return true;
}

void *tmem_dict_ddict(struct tmem *t, uint32_t id)
{
	struct tmem_dict_dec *d = &t->dict_dec[DICT_ID_SLOT(id)];
	bool ok;

	if (!t->dict_on)
		return NULL;
	if (atomic_load_explicit(&d->loaded, memory_order_acquire))
		return d->id == id ? d->ddict : NULL;
	pthread_mutex_lock(&t->dict_mu);
	ok = ddict_load_locked(t, DICT_ID_SLOT(id), id);
	pthread_mutex_unlock(&t->dict_mu);
	return ok ? d->ddict : NULL;
}

/* The slot of group in the segment (ready, being trained or failed), or
 * -1; *claimable: -1 and a slot is free for it. */
static int group_slot(struct tmem *t, uint64_t group, bool *claimable)
{
	bool free_slot = false;
	unsigned s, st;

	for (s = 0; s < TMEM_DICT_SLOTS; s++) {
		struct tmem_dict_rec *r = seg_drec(t, s);

		st = dict_state_of(rec_state(r));
		if (st != DICT_NONE &&
		    atomic_load_explicit(&r->group, memory_order_relaxed) ==
			    group) {
			*claimable = false;
			return (int)s;
		}
		if (st == DICT_NONE || st == DICT_FAILED)
			free_slot = true;
	}
	*claimable = free_slot;
	return -1;
}

/* Load ready slot s's dictionary into a CDict for group; NULL when every
 * CDict of this process serves another group, or the slot cannot be used
 * (no longer group's, or not ready). */
static struct tmem_dict_enc *enc_load(struct tmem *t, unsigned s,
				      uint64_t group, bool wait)
{
	struct tmem_dict_rec *r = seg_drec(t, s);
	struct tmem_dict_enc *e = NULL;
	unsigned i;

	if (wait)
		pthread_mutex_lock(&t->dict_mu);
	else if (pthread_mutex_trylock(&t->dict_mu) != 0)
		return NULL;
	for (i = 0; i < TMEM_DICT_CDICTS; i++) {
		e = &t->dict_enc[i];
		if (e->work &&
		    (!atomic_load_explicit(&e->loaded, memory_order_relaxed) ||
		     e->group == group))
			break;
	}
	if (i == TMEM_DICT_CDICTS) {
		e = NULL;
		goto out;
	}
	if (atomic_load_explicit(&e->loaded, memory_order_relaxed))
		goto out;
	/* Still group's: the slot the caller found may have failed since,
	 * and been claimed and published by another group.  A ready slot's
	 * group was written before it was ready, and never changes. */
	if (dict_state_of(rec_state(r)) != DICT_READY ||
	    atomic_load_explicit(&r->group, memory_order_relaxed) != group) {
		e = NULL;
		goto out;
	}
	/* Its DDict first: the pages it makes must be readable here. */
	if (!ddict_load_locked(t, s, r->id)) {
		e = NULL;
		goto out;
	}
	e->cdict = (void *)ZSTD_initStaticCDict(
		e->work, t->cdict_size, seg_dict(t, s), r->size, ZSTD_dlm_byRef,
		ZSTD_dct_fullDict, dict_cparams(t));
	if (!e->cdict) {
		slot_unloadable(t, s);
		e = NULL;
		goto out;
	}
	e->slot = s;
	e->id = r->id;
	e->group = group;
	atomic_store_explicit(&e->loaded, true, memory_order_release);
out:
	pthread_mutex_unlock(&t->dict_mu);
	return e;
}

struct tmem_dict_enc *tmem_dict_for(struct tmem *t, uint64_t group, bool wait,
				    bool *claimable)
{
	struct tmem_dict_enc *e;
	unsigned i;
	int s;

	*claimable = false;
	if (!t->dict_on || !group)
		return NULL;
	/* Acquire: the fields were written before loaded was set. */
	for (i = 0; i < TMEM_DICT_CDICTS; i++) {
		e = &t->dict_enc[i];
		if (atomic_load_explicit(&e->loaded, memory_order_acquire) &&
		    e->group == group)
			return e;
	}
	s = group_slot(t, group, claimable);
#ifdef TMEM_TEST_HOOKS
	if (s >= 0 && tmem_dict_test_found)
		tmem_dict_test_found(t, (unsigned)s);
#endif
	if (s < 0 ||
	    dict_state_of(rec_state(seg_drec(t, (unsigned)s))) != DICT_READY)
		return NULL;
	return enc_load(t, (unsigned)s, group, wait);
}

/* Whether this process trained for group, or gave up on it. */
static bool tried(struct tmem *t, uint64_t group)
{
	unsigned i;

	for (i = 0; i < 2 * TMEM_DICT_SLOTS; i++) {
		if (atomic_load_explicit(&t->dict_tried[i],
					 memory_order_relaxed) == group)
			return true;
	}
	return false;
}

static void wake_trainer(struct tmem *t)
{
	pthread_mutex_lock(&t->dict_mu);
	pthread_cond_signal(&t->dict_cv);
	pthread_mutex_unlock(&t->dict_mu);
}

void tmem_dict_sample(struct tmem *t, const void *page, uint64_t group)
{
	uint32_t g = group32(group);
	uint64_t w, nw, none = 0;

	/* Read-only checks first: between rounds, puts write nothing shared
	 * here but the first one's wish. */
	if (!g || !t->trainer_running)
		return;
	w = atomic_load_explicit(&t->dict_round, memory_order_acquire);
	if (ROUND_CLAIMED(w) == DICT_CLOSED) {
		if (atomic_load_explicit(&t->dict_want, memory_order_relaxed) ==
			    0 &&
		    !tried(t, group) &&
		    atomic_compare_exchange_strong(&t->dict_want, &none, group))
			wake_trainer(t);
		return;
	}
	if (ROUND_GROUP(w) != g || ROUND_CLAIMED(w) >= TMEM_DICT_SAMPLES ||
	    atomic_fetch_add_explicit(&t->dict_seen, 1, memory_order_relaxed) %
		    TMEM_DICT_EVERY)
		return;
	/* One compare-and-swap: a sample of this round and of its group. */
	do {
		if (ROUND_GROUP(w) != g ||
		    ROUND_CLAIMED(w) >= TMEM_DICT_SAMPLES)
			return;
		nw = w + 1;
	} while (!atomic_compare_exchange_weak_explicit(&t->dict_round, &w, nw,
							memory_order_acq_rel,
							memory_order_acquire));
	/* The round's buffer: mapped before the round opened (acquire). */
	memcpy(t->samples + (size_t)ROUND_CLAIMED(w) * TMEM_PAGE_SIZE, page,
	       TMEM_PAGE_SIZE);
	if (atomic_fetch_add_explicit(&t->dict_filled, 1,
				      memory_order_acq_rel) +
		    1 ==
	    TMEM_DICT_SAMPLES)
		wake_trainer(t);
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

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Whether slot s may be given to a group with nothing there: free, failed
 * (no frame names a slot that was never ready), or claimed by a trainer
 * that died before it published. */
static bool slot_claimable(struct tmem *t, uint64_t v)
{
	unsigned st = dict_state_of(v);

	return st == DICT_NONE || st == DICT_FAILED ||
	       (st == DICT_TRAINING && claim_is_stale(t, v));
}

/* Claim a slot for group with mine (DICT_TRAINING, our process slot and
 * pid): the slot, or -1 when the group has one already (ready, failed,
 * or being trained by a live process: its result will do), none is free,
 * or hdr->dict_claim stays taken for a second (a stopped holder). */
static int slot_claim(struct tmem *t, uint64_t group, uint64_t mine)
{
	struct tmem_header *h = t->hdr;
	int pick = -1, s, ms;
	uint64_t v;

	for (ms = 0;; ms++) {
		v = 0;
		if (atomic_compare_exchange_strong(&h->dict_claim, &v, mine))
			break;
		if (claim_is_stale(t, v))
			atomic_compare_exchange_strong(&h->dict_claim, &v, 0);
		else if (ms >= 1000)
			return -1;
		else
			sleep_ms(1);
	}
	for (s = 0; s < TMEM_DICT_SLOTS; s++) {
		struct tmem_dict_rec *r = seg_drec(t, (unsigned)s);

		v = rec_state(r);
		if (dict_state_of(v) != DICT_NONE &&
		    atomic_load(&r->group) == group) {
			/* Its own slot, left by a dead trainer: taken back;
			 * any other: it has one. */
			pick = slot_claimable(t, v) &&
					       dict_state_of(v) == DICT_TRAINING
				       ? s
				       : -1;
			goto out;
		}
	}
	/* A free slot first, so that a failed group keeps its verdict
	 * while there are. */
	for (s = 0; s < TMEM_DICT_SLOTS && pick < 0; s++) {
		if (dict_state_of(rec_state(seg_drec(t, (unsigned)s))) ==
		    DICT_NONE)
			pick = s;
	}
	for (s = 0; s < TMEM_DICT_SLOTS && pick < 0; s++) {
		if (slot_claimable(t, rec_state(seg_drec(t, (unsigned)s))))
			pick = s;
	}
out:
	if (pick >= 0) {
		struct tmem_dict_rec *r = seg_drec(t, (unsigned)pick);

		/* Only dict_claim's holder changes a slot that is not its
		 * own claim: group, then state (release) for readers. */
		atomic_store(&r->group, group);
		atomic_store_explicit(&r->state, mine, memory_order_release);
	}
	atomic_store(&h->dict_claim, 0);
	return pick;
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
static size_t train(struct tmem *t, uint32_t id, unsigned char *buf,
		    const char **why)
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
	p.zParams.dictID = id;
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

/* What the trainer does next. */
enum trainer_step {
	STEP_STOP,
	STEP_OPEN,  /* a put asked for a round of its group */
	STEP_TRAIN, /* the round's samples are in */
	STEP_CHECK, /* a second passed: claims of the dead, and is the open
		     * round still worth it? */
};

static enum trainer_step trainer_wait(struct tmem *t)
{
	enum trainer_step step = STEP_STOP;
	struct timespec end;
	uint64_t w;

	pthread_mutex_lock(&t->dict_mu);
	while (!t->trainer_stop) {
		w = atomic_load_explicit(&t->dict_round, memory_order_acquire);
		if (ROUND_CLAIMED(w) != DICT_CLOSED &&
		    atomic_load_explicit(&t->dict_filled,
					 memory_order_acquire) ==
			    TMEM_DICT_SAMPLES) {
			step = STEP_TRAIN;
			break;
		}
		if (ROUND_CLAIMED(w) == DICT_CLOSED &&
		    atomic_load(&t->dict_want)) {
			step = STEP_OPEN;
			break;
		}
		/* Wake now and then: another process may publish first. */
		deadline_after_ms(CLOCK_MONOTONIC, 1000, &end);
		if (pthread_cond_timedwait(&t->dict_cv, &t->dict_mu, &end) ==
		    ETIMEDOUT) {
			step = STEP_CHECK;
			break;
		}
	}
	pthread_mutex_unlock(&t->dict_mu);
	return step;
}

static void tried_add(struct tmem *t, uint64_t group)
{
	atomic_store_explicit(
		&t->dict_tried[t->dict_tried_next++ % (2 * TMEM_DICT_SLOTS)],
		group, memory_order_relaxed);
}

/* Open a round for the group a put asked for, if it still has no slot and
 * one is free. */
static void round_open(struct tmem *t)
{
	uint64_t group = atomic_exchange(&t->dict_want, 0), w;
	bool claimable;

	if (!group || tried(t, group) ||
	    group_slot(t, group, &claimable) >= 0 || !claimable)
		return;
	if (!t->samples) {
		/* Touched now: puts copy samples into it.  Mapped on its
		 * own: after the round, its 4 MiB go back to the kernel. */
		__atomic_store_n(&t->samples, tmem_map_touched(SAMPLES_BYTES),
				 __ATOMIC_RELEASE);
		if (!t->samples)
			return; /* a later put asks again */
	}
	atomic_store(&t->samples_freed, false);
	atomic_store(&t->dict_filled, 0);
	atomic_store(&t->dict_seen, 0);
	w = atomic_load(&t->dict_round);
	atomic_store_explicit(
		&t->dict_round,
		ROUND_MAKE(group32(group), ROUND_NUMBER(w) + 1, 0),
		memory_order_release);
}

/* Close the round to new samples, wait for the copies of those claimed,
 * and tell its group. */
static uint64_t round_close(struct tmem *t)
{
	uint64_t w = atomic_load(&t->dict_round);
	uint32_t k;

	while (!atomic_compare_exchange_weak(&t->dict_round, &w,
					     (w & ~0xffffULL) | DICT_CLOSED))
		;
	k = ROUND_CLAIMED(w);
	if (k == DICT_CLOSED)
		return 0;
	/* Each is a put's memcpy under way. */
	while (atomic_load_explicit(&t->dict_filled, memory_order_acquire) < k)
		sleep_ms(1);
	tried_add(t, group64(ROUND_GROUP(w)));
	return group64(ROUND_GROUP(w));
}

static void round_free(struct tmem *t)
{
	tmem_unmap_touched(t->samples, SAMPLES_BYTES);
	__atomic_store_n(&t->samples, NULL, __ATOMIC_RELEASE);
	atomic_store_explicit(&t->samples_freed, true, memory_order_release);
}

/* A slot claimed by a trainer that died is free again: puts look for
 * their group's slot without asking whether its trainer lives (a system
 * call), and so would wait for that slot for ever. */
static void reap_dead_claims(struct tmem *t)
{
	unsigned s;
	uint64_t v;

	for (s = 0; s < TMEM_DICT_SLOTS; s++) {
		v = rec_state(seg_drec(t, s));
		if (dict_state_of(v) == DICT_TRAINING && claim_is_stale(t, v))
			atomic_compare_exchange_strong(&seg_drec(t, s)->state,
						       &v, DICT_NONE);
	}
}

/* Whether group's sub-pool still is (the shared group always is). */
static bool group_alive(struct tmem *t, uint64_t group)
{
	uint32_t id = (uint32_t)group;
	unsigned p = id & 0xff;
	struct tmem_pool_rec *pr;

	if (group == DICT_GROUP_SHARED)
		return true;
	if (p >= TMEM_MAX_POOLS)
		return false;
	pr = seg_pool(t, p);
	return atomic_load(&pr->state) == POOL_ACTIVE &&
	       pool_id_make(p, __atomic_load_n(&pr->gen, __ATOMIC_RELAXED)) ==
		       id;
}

/* A round whose group has a slot now (another process trained or trains
 * for it), that finds no slot free, or whose sub-pool is gone (its pages
 * will not come) is given up. */
static void round_check(struct tmem *t)
{
	uint64_t w = atomic_load(&t->dict_round);
	uint64_t group = group64(ROUND_GROUP(w));
	bool claimable;

	reap_dead_claims(t);
	if (ROUND_CLAIMED(w) == DICT_CLOSED ||
	    (group_slot(t, group, &claimable) < 0 && claimable &&
	     group_alive(t, group)))
		return;
	if (round_close(t))
		round_free(t);
}

/* This process trained a dictionary for a group: it puts into it.  If
 * every CDict it has serves another group, one more (while there are
 * fewer than TMEM_DICT_CDICTS), made here, off the put path. */
static void enc_add(struct tmem *t)
{
	unsigned i, spare = TMEM_DICT_CDICTS;
	void *work;

	for (i = 0; i < TMEM_DICT_CDICTS; i++) {
		if (!t->dict_enc[i].work)
			spare = i < spare ? i : spare;
		else if (!atomic_load(&t->dict_enc[i].loaded))
			return;
	}
	if (spare == TMEM_DICT_CDICTS)
		return;
	work = tmem_alloc_touched(t->cdict_size);
	pthread_mutex_lock(&t->dict_mu);
	t->dict_enc[spare].work = work;
	pthread_mutex_unlock(&t->dict_mu);
}

static void round_train(struct tmem *t)
{
	uint64_t group = round_close(t), mine;
	unsigned char *buf = NULL;
	struct tmem_dict_rec *r;
	const char *why = NULL;
	bool failed;
	uint32_t id;
	size_t n;
	int s;

	mine = DICT_TRAINING | ((uint64_t)t->slot << 8) |
	       ((uint64_t)(uint32_t)getpid() << 32);
	s = slot_claim(t, group, mine);
	if (s < 0)
		goto out;
	r = seg_drec(t, (unsigned)s);
	id = DICT_ID_MAKE((unsigned)s, DICT_GEN);
	buf = malloc(TMEM_DICT_MAX);
	n = buf ? train(t, id, buf, &why) : 0;
	if (!buf)
		why = "out of memory";
	/* The slot's bytes are not in the segment's file before its first
	 * dictionary: a copy into them on a full /dev/shm would be SIGBUS. */
	if (n &&
	    tmem_fault_in(t, (uint64_t)(seg_dict(t, (unsigned)s) - t->base),
			  n) != 0) {
		n = 0;
		why = "no room for it in the segment: is /dev/shm full or "
		      "memory short?";
	}
	failed = why != dict_no_gain;
	if (n) {
		/* Before it is ready: a put that finds it so finds room
		 * for it. */
		enc_add(t);
		memcpy(seg_dict(t, (unsigned)s), buf, n);
		r->size = (uint32_t)n;
		r->id = id;
		r->hash = XXH64(seg_dict(t, (unsigned)s), n, 0);
		atomic_store_explicit(&r->state, DICT_READY,
				      memory_order_release);
		tmem_log(t, TMEM_LOG_INFO,
			 "%s: dictionary %d (id %u) of %zu bytes is ready",
			 t->path, s, id, n);
		/* This process puts the group's pages: loaded here, off the
		 * put path (a put that found it not loaded would load it, or
		 * go without while another thread does). */
		enc_load(t, (unsigned)s, group, true);
	} else {
		/* A dictionary that does not pay is normal (real process
		 * memory often does not fit one); a failure to train is not. */
		tmem_log(t, failed ? TMEM_LOG_WARNING : TMEM_LOG_INFO,
			 "%s: no dictionary: %s; pages are compressed "
			 "without one",
			 t->path, why);
		atomic_store_explicit(&r->state, DICT_FAILED,
				      memory_order_release);
	}
out:
	free(buf);
	round_free(t);
}

static void *trainer_main(void *arg)
{
	struct tmem *t = arg;

	for (;;) {
		switch (trainer_wait(t)) {
		case STEP_STOP:
			if (round_close(t))
				round_free(t);
			return NULL;
		case STEP_OPEN:
			round_open(t);
			break;
		case STEP_TRAIN:
			round_train(t);
			break;
		case STEP_CHECK:
			round_check(t);
			break;
		}
	}
}

int tmem_dict_start(struct tmem *t)
{
	int r;

	if (!t->dict_on || t->trainer_running)
		return 0;
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
	unsigned i;

	if (t->trainer_running) {
		pthread_mutex_lock(&t->dict_mu);
		t->trainer_stop = true;
		pthread_cond_signal(&t->dict_cv);
		pthread_mutex_unlock(&t->dict_mu);
		pthread_join(t->trainer, NULL);
		t->trainer_running = false;
	}
	for (i = 0; i < TMEM_DICT_CDICTS; i++) {
		free(t->dict_enc[i].work);
		t->dict_enc[i].work = NULL;
	}
	for (i = 0; i < TMEM_DICT_SLOTS; i++) {
		free(t->dict_dec[i].work);
		t->dict_dec[i].work = NULL;
	}
}

void tmem_dict_info(struct tmem *t, struct tmem_segment_info *info)
{
	unsigned s, st, seen = 0;

	info->dict_slots = TMEM_DICT_SLOTS;
	for (s = 0; s < TMEM_DICT_SLOTS; s++) {
		struct tmem_dict_rec *r = seg_drec(t, s);

		st = dict_state_of(rec_state(r));
		seen |= 1U << st;
		if (st == DICT_READY) {
			info->dicts++;
			info->dict_bytes += r->size;
		}
	}
	if (!t->hdr->dictionary)
		info->dict_state = TMEM_DICT_OFF;
	else if (seen & (1U << DICT_READY))
		info->dict_state = TMEM_DICT_READY;
	else if (seen & (1U << DICT_TRAINING))
		info->dict_state = TMEM_DICT_TRAINING;
	else if (seen & (1U << DICT_FAILED))
		info->dict_state = TMEM_DICT_FAILED;
	else
		info->dict_state = TMEM_DICT_SAMPLING;
}
