/* tmem: the shared-memory segment — geometry, create, attach, validate.
 *
 * The segment is /dev/shm/NAME, sparse, mapped MAP_SHARED by every user.
 * Creation is serialised by an exclusive flock; the magic number is written
 * last, so a creator that dies mid-format leaves a segment the next opener
 * sees as unformatted and formats again.  Every read-write attacher then
 * holds a shared flock (tmem_unlink needs the exclusive one) and an OFD
 * lock on one byte per process slot far past the end of the file: the
 * kernel drops it when the process dies, which is how others tell a dead
 * attacher from a live one without trusting pids.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>
#include <zstd.h>

#include "cleanup.h"
#include "tmem-alloc-internal.h"
#include "tmem-check-internal.h"
#include "tmem-codec-internal.h"
#include "tmem-dict-internal.h"
#include "tmem-grower-internal.h"
#include "tmem-lock-internal.h"
#include "tmem-segment-internal.h"

#define SHM_DIR "/dev/shm/"

/* The public limits (tmem.h, which the option parser checks against) are
 * the layout's. */
_Static_assert(TMEM_CONTEXTS_MAX == TMEM_COMPACT_CTX - 1,
	       "contexts: the compactor's is the last");
_Static_assert(TMEM_POOL_SIZE_MIN == TMEM_MIN_CHUNKS * TMEM_CHUNK_SIZE,
	       "the smallest pool");
_Static_assert(TMEM_POOL_SIZE_MAX == TMEM_MAX_POOL_SIZE, "the largest pool");

void tmem_log(struct tmem *t, enum tmem_log_level lvl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!t || !t->log || lvl > t->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	t->log(t->log_opaque, lvl, msg);
}

void tmem_options_init(struct tmem_options *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->name = TMEM_DEFAULT_SEGMENT;
	opts->pool_size = TMEM_DEFAULT_POOL_SIZE;
	opts->level = TMEM_DEFAULT_LEVEL;
	opts->dedup = true;
	opts->dictionary = true;
	opts->create = true;
	opts->contexts = 16;
	opts->log_level = TMEM_LOG_DEBUG;
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

static uint64_t pow2_at_least(uint64_t x)
{
	uint64_t p = 1;

	while (p < x)
		p <<= 1;
	return p;
}

/* Everything about the layout follows from the pool size, so two
 * processes that compute the same geometry agree on every offset. */
int tmem_geometry_compute(uint64_t pool_size, struct tmem_geometry *g)
{
	const uint64_t S = TMEM_NR_STRIPES, P = 4096;
	uint64_t off, ceiling;

	memset(g, 0, sizeof *g);
	if (pool_size > TMEM_MAX_POOL_SIZE)
		return -EFBIG;
	/* Chunk 0 stands for "none" and never holds data: it lies beyond the
	 * ceiling, so every chunk the ceiling counts can hold data, and its
	 * bytes, never touched, cost no memory. */
	ceiling = pool_size >> TMEM_CHUNK_SHIFT;
	if (ceiling < TMEM_MIN_CHUNKS)
		return -EINVAL;
	g->nr_chunks = ceiling + 1;
	g->page_size = TMEM_PAGE_SIZE;
	g->chunk_size = TMEM_CHUNK_SIZE;
	g->unit = TMEM_UNIT;
	g->nr_stripes = TMEM_NR_STRIPES;
	g->max_pools = TMEM_MAX_POOLS;
	g->max_slots = TMEM_MAX_SLOTS;
	g->max_ctx = TMEM_MAX_CTX;
	g->stat_ctx = TMEM_STAT_CTX;
	g->entry_size = sizeof(struct tmem_entry);
	g->blob_size = sizeof(struct tmem_blob);
	g->chunk_rec_size = sizeof(struct tmem_chunk);
	g->stripe_size = sizeof(struct tmem_stripe);
	g->pool_rec_size = sizeof(struct tmem_pool_rec);
	g->slot_size = sizeof(struct tmem_slot);
	g->counters_size = sizeof(struct tmem_counters);
	g->mutex_size = sizeof(pthread_mutex_t);
	g->pool_size = ceiling << TMEM_CHUNK_SHIFT;
	/* Up to 8 keys per 4 KiB of pool for each kind (zero pages take no
	 * data space), and blobs down to 256 bytes on average. */
	g->nr_entries = round_up(g->pool_size / 256, S);
	if (g->nr_entries < S * 64)
		g->nr_entries = S * 64;
	g->nr_blobs = round_up(g->pool_size / 128, S);
	if (g->nr_blobs < S * 64)
		g->nr_blobs = S * 64;
	/* Entries name blobs in 24 bits. */
	if (g->nr_blobs > ENTRY_PAYLOAD_MAX + 1 - S)
		g->nr_blobs = ENTRY_PAYLOAD_MAX + 1 - S;
	/* As many buckets as a stripe holding its share of the table grows
	 * to (tmem_bits_for: TMEM_LOAD records a bucket); the data path
	 * touches them at random, so the serving process faults the whole
	 * arrays in and keeps them (tmem-grower.c). */
	g->ibuckets_per_stripe = pow2_at_least(g->nr_entries / S / TMEM_LOAD);
	g->dbuckets_per_stripe = pow2_at_least(g->nr_blobs / S / TMEM_LOAD);

	off = round_up(sizeof(struct tmem_header), P);
	g->off_slots = off;
	off = round_up(off + TMEM_MAX_SLOTS * sizeof(struct tmem_slot), P);
	g->off_pools = off;
	off = round_up(off + TMEM_MAX_POOLS * sizeof(struct tmem_pool_rec), P);
	g->off_istripes = off;
	off = round_up(off + S * sizeof(struct tmem_stripe), P);
	g->off_dstripes = off;
	off = round_up(off + S * sizeof(struct tmem_stripe), P);
	g->off_ibuckets = off;
	off = round_up(off + S * g->ibuckets_per_stripe * 4, P);
	g->off_dbuckets = off;
	off = round_up(off + S * g->dbuckets_per_stripe * 4, P);
	g->off_entries = off;
	off = round_up(off + g->nr_entries * sizeof(struct tmem_entry), P);
	g->off_blobs = off;
	off = round_up(off + g->nr_blobs * sizeof(struct tmem_blob), P);
	g->off_chunks = off;
	off = round_up(off + g->nr_chunks * sizeof(struct tmem_chunk), P);
	g->off_rawids = off;
	off = round_up(off + g->nr_chunks * TMEM_RAW_SLOTS * 4, P);
	g->off_counters = off;
	off = round_up(off + (uint64_t)TMEM_MAX_SLOTS * TMEM_STAT_CTX *
				       TMEM_MAX_POOLS *
				       sizeof(struct tmem_counters),
		       P);
	g->off_dict = off;
	g->dict_slots = TMEM_DICT_SLOTS;
	g->dict_max = TMEM_DICT_MAX;
	off = round_up(off + (uint64_t)TMEM_DICT_SLOTS * TMEM_DICT_MAX, P);
	g->meta_end = off;
	g->off_data = round_up(off, TMEM_CHUNK_SIZE);
	g->segment_bytes = g->off_data + (g->nr_chunks << TMEM_CHUNK_SHIFT);
	return 0;
}

static uint64_t geometry_hash(const struct tmem_geometry *g)
{
	return XXH64(g, sizeof *g, TMEM_LAYOUT_VERSION);
}

static bool name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > TMEM_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	return strchr(name, '/') == NULL;
}

/* The records at fixed places that requests, the grower and tools write
 * or read anywhere, whatever the pool holds: the header, process slots,
 * sub-pool records and stripes, the bucket arrays (a key's hash picks the
 * bucket), the chunk table (a chunk's record is written when the chunk is
 * first taken, and scans read them all) and the raw page slots.  A page of
 * a file on /dev/shm (tmpfs) that the file does not hold yet is allocated
 * when it is first touched, read or written, and when /dev/shm is full
 * that touch is SIGBUS: so every one of these pages is in the file from
 * the start.  For a 16 GiB pool that is 102 MiB (80 of it the bucket
 * arrays, 16 the raw page slots, 6 the chunk table); for a 160 MiB pool
 * 3.3 MiB.  Not here: the entry and blob records, which the grower maps
 * ahead of use (fault_ahead), a sub-pool's counters (faulted in when the
 * sub-pool is opened) and a dictionary's bytes (when it is trained).
 * Two ranges: [off[i], off[i] + len[i]). */
static void meta_ranges(const struct tmem_geometry *g, uint64_t off[2],
			uint64_t len[2])
{
	off[0] = 0;
	len[0] = g->off_entries;
	off[1] = g->off_chunks;
	len[1] = g->off_counters - g->off_chunks;
}

/* The fixed records into the file being formatted (fd; nothing maps it
 * yet): 0, or -errno (-ENOSPC: /dev/shm is full), said. */
static int format_allocate(struct tmem *t, int fd,
			   const struct tmem_geometry *g, const char *name)
{
	uint64_t off[2], len[2];
	unsigned i;
	int e;

	meta_ranges(g, off, len);
	for (i = 0; i < 2; i++) {
		e = posix_fallocate(fd, (off_t)off[i], (off_t)len[i]);
		if (e) {
			tmem_log(t, TMEM_LOG_ERROR,
				 "cannot make segment %s: no room for its "
				 "%llu KiB of index (%s): is /dev/shm full?",
				 name,
				 (unsigned long long)(len[0] + len[1]) >> 10,
				 strerror(e));
			return -e;
		}
	}
	return 0;
}

/* A read-write attacher faults the fixed records in (meta_ranges): in the
 * file if a segment formatted before they were allocated there lacks
 * them, and mapped in this process, so that a serving process's requests
 * do not fault on them.  0, or -errno (-ENOSPC: /dev/shm is full), said. */
static int segment_fault_meta(struct tmem *t)
{
	uint64_t off[2], len[2];
	unsigned i;
	int r = 0;

	meta_ranges(t->geo, off, len);
	for (i = 0; i < 2 && !r; i++)
		r = tmem_fault_in(t, off[i], len[i]);
	if (r)
		tmem_log(t, TMEM_LOG_ERROR,
			 "cannot fault the index of %s in (%s): is /dev/shm "
			 "full or memory short?",
			 t->name, strerror(-r));
	return r;
}

static int format_segment(struct tmem *t, int fd,
			  const struct tmem_options *opts)
{
	static const uint64_t formatting = TMEM_MAGIC_FORMATTING;
	struct tmem_geometry g;
	struct tmem_header *h;
	unsigned char *base;
	unsigned i;
	int r;

	r = tmem_geometry_compute(opts->pool_size, &g);
	if (r == -EINVAL) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "pool size %llu is too small: at least %u KiB",
			 (unsigned long long)opts->pool_size,
			 (TMEM_MIN_CHUNKS * TMEM_CHUNK_SIZE) >> 10);
		return r;
	}
	if (r == -EFBIG) {
		tmem_log(t, TMEM_LOG_ERROR, "pool size %llu is above %llu GiB",
			 (unsigned long long)opts->pool_size,
			 TMEM_MAX_POOL_SIZE >> 30);
		return -EINVAL;
	}
	/* Start from an all-zero file: every list is empty when zeroed.  At
	 * no point does the file hold bytes without a magic: it is empty,
	 * then marked as being formatted, then a segment. */
	if (ftruncate(fd, 0) == -1)
		return -errno;
	if (pwrite(fd, &formatting, sizeof formatting, 0) !=
	    (ssize_t)sizeof formatting)
		return errno ? -errno : -EIO;
	if (ftruncate(fd, g.segment_bytes) == -1)
		return -errno;
	r = format_allocate(t, fd, &g, opts->name);
	if (r)
		return r;
	base = mmap(NULL, g.off_data, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    0);
	if (base == MAP_FAILED)
		return -errno;
	h = (struct tmem_header *)base;
	h->layout_version = TMEM_LAYOUT_VERSION;
	h->header_size = sizeof *h;
	h->geo = g;
	h->geo_hash = geometry_hash(&g);
	h->level = opts->level;
	h->dedup = opts->dedup;
	h->dictionary = opts->dictionary;
	snprintf(h->name, sizeof h->name, "%s", opts->name);
	r = tmem_mutex_init(&h->slots_lock);
	if (!r)
		r = tmem_mutex_init(&h->pool_lock);
	if (!r)
		r = tmem_mutex_init(&h->chunk_lock);
	for (i = 0; !r && i < TMEM_NR_STRIPES; i++) {
		struct tmem_stripe *is =
			(struct tmem_stripe *)(base + g.off_istripes) + i;
		struct tmem_stripe *ds =
			(struct tmem_stripe *)(base + g.off_dstripes) + i;
		stripe_set_bits(is, 0);
		stripe_set_bits(ds, 0);
		if (i < TMEM_MAX_POOLS)
			tmem_pool_reseal(
				(struct tmem_pool_rec *)(base + g.off_pools) +
				i);
		r = tmem_mutex_init(&is->lock);
		if (!r)
			r = tmem_mutex_init(&ds->lock);
	}
	if (r) {
		munmap(base, g.off_data);
		return r;
	}
	/* Chunk 0 is never used either; the others are holes, taken
	 * lowest first. */
	h->hole_bump = 1;
	/* Record 0 of the entry and blob tables stands for "none". */
	h->ebump[0] = h->bbump[0] = 1;
	h->hole_count = (uint32_t)g.nr_chunks - 1;
	h->low_wm = 4;
	h->high_wm = 8;
	atomic_store_explicit(&h->magic, TMEM_MAGIC, memory_order_release);
	munmap(base, g.off_data);
	tmem_log(t, TMEM_LOG_INFO, "formatted segment %s: %llu bytes of pool",
		 opts->name, (unsigned long long)g.pool_size);
	return 0;
}

uint32_t tmem_pool_seal(const struct tmem_pool_rec *pr)
{
	struct {
		uint32_t state, gen, kind, dedup;
		char name[TMEM_NAME_MAX + 1];
	} id;

	memset(&id, 0, sizeof id);
	id.state = atomic_load_explicit(&pr->state, memory_order_relaxed);
	id.gen = __atomic_load_n(&pr->gen, __ATOMIC_RELAXED);
	id.kind = __atomic_load_n(&pr->kind, __ATOMIC_RELAXED);
	id.dedup = __atomic_load_n(&pr->dedup, __ATOMIC_RELAXED);
	memcpy(id.name, pr->name, sizeof id.name);
	return XXH32(&id, sizeof id, 0x706f6f6cU /* "pool" */);
}

void tmem_pool_reseal(struct tmem_pool_rec *pr)
{
	__atomic_store_n(&pr->seal, tmem_pool_seal(pr), __ATOMIC_RELAXED);
}

/* Check the header read from the file before trusting any offset. */
static int validate_header(struct tmem *t, const struct tmem_header *h,
			   uint64_t st_size)
{
	struct tmem_geometry want;

	if (h->magic != TMEM_MAGIC) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "%s: not a tmem segment (bad magic)", t->path);
		return -EBADMSG;
	}
	if (h->layout_version != TMEM_LAYOUT_VERSION) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "%s: layout version %u, this build knows %u (made by "
			 "%s build)",
			 t->path, h->layout_version, TMEM_LAYOUT_VERSION,
			 h->layout_version < TMEM_LAYOUT_VERSION ? "an older"
								 : "a newer");
		return -EPROTO;
	}
	if (h->geo_hash != geometry_hash(&h->geo)) {
		tmem_log(t, TMEM_LOG_ERROR, "%s: header checksum mismatch",
			 t->path);
		return -EBADMSG;
	}
	if (h->header_size != sizeof *h ||
	    tmem_geometry_compute(h->geo.pool_size, &want) != 0 ||
	    memcmp(&want, &h->geo, sizeof want) != 0) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "%s: geometry differs from this build's", t->path);
		return -EPROTO;
	}
	if (st_size < h->geo.segment_bytes) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "%s: truncated: %llu bytes, header says %llu", t->path,
			 (unsigned long long)st_size,
			 (unsigned long long)h->geo.segment_bytes);
		return -EBADMSG;
	}
	return 0;
}

/* The sub-pool records every request trusts without a check of its own:
 * one whose seal does not match its state, generation, kind, dedup scope
 * and name, or one in use with a value no build writes, is damaged.  Its
 * pages would go to the wrong half of the pool, a persistent one's could
 * be evicted, or a repair would drop them as misplaced: the segment is
 * refused (-EBADMSG), naming the record, and left as it is.  The seals are
 * read under pool_lock (a record changes under it, its seal last); when
 * that lock stays busy (a stopped holder), or for a read-only attach,
 * only the values are checked (a record is published by its state,
 * last). */
static int validate_pools(struct tmem *t)
{
	bool locked =
		!t->readonly && tmem_timedlock(t, &t->hdr->pool_lock, 1000);
	unsigned i;
	int r = 0;

	for (i = 0; i < TMEM_MAX_POOLS && !r; i++) {
		struct tmem_pool_rec *pr = seg_pool(t, i);
		uint32_t state =
			atomic_load_explicit(&pr->state, memory_order_acquire);
		uint32_t kind = __atomic_load_n(&pr->kind, __ATOMIC_RELAXED);
		uint32_t dedup = __atomic_load_n(&pr->dedup, __ATOMIC_RELAXED);
		bool sealed = !locked ||
			      __atomic_load_n(&pr->seal, __ATOMIC_RELAXED) ==
				      tmem_pool_seal(pr);

		if (sealed &&
		    (state == POOL_FREE ||
		     (state <= POOL_DESTROYING && kind <= TMEM_EPHEMERAL &&
		      dedup <= TMEM_DEDUP_POOL &&
		      memchr(pr->name, 0, sizeof pr->name))))
			continue;
		tmem_log(t, TMEM_LOG_ERROR,
			 "%s: sub-pool record %u is damaged (%s: state %u, "
			 "kind %u, dedup scope %u): nothing can use this "
			 "segment safely; remove it (tmemctl destroy) when "
			 "nothing has it open",
			 t->path, i,
			 sealed ? "a value no build writes"
				: "its seal does not match",
			 state, kind, dedup);
		r = -EBADMSG;
	}
	if (locked)
		tmem_unlock(&t->hdr->pool_lock);
	return r;
}

bool tmem_slot_alive(struct tmem *t, unsigned slot)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)(TMEM_LIVENESS_OFFSET + slot),
		.l_len = 1,
	};

	if ((int)slot == t->slot)
		return true;
	if (fcntl(t->fd, F_OFD_GETLK, &fl) == -1)
		return true; /* cannot tell: assume alive */
	return fl.l_type != F_UNLCK;
}

static bool slot_try_claim(struct tmem *t, unsigned slot)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)(TMEM_LIVENESS_OFFSET + slot),
		.l_len = 1,
	};

	return fcntl(t->fd, F_OFD_SETLK, &fl) == 0;
}

static void slot_release_lock(struct tmem *t, unsigned slot)
{
	struct flock fl = {
		.l_type = F_UNLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)(TMEM_LIVENESS_OFFSET + slot),
		.l_len = 1,
	};

	fcntl(t->fd, F_OFD_SETLK, &fl);
}

/* Claim a process slot.  Slots of dead processes are reclaimed by the
 * repair this triggers, not here. */
static int slot_claim(struct tmem *t)
{
	bool dead = false;
	unsigned i;
	int tries, r;

	for (tries = 0; tries < 2; tries++) {
		tmem_lock(t, &t->hdr->slots_lock);
		for (i = 0; i < TMEM_MAX_SLOTS; i++) {
			struct tmem_slot *s = seg_slot(t, i);

			if (s->state == SLOT_ATTACHED) {
				if (!tmem_slot_alive(t, i))
					dead = true;
				continue;
			}
			if (!slot_try_claim(t, i))
				continue;
			memset(s->intent_blob, 0, sizeof s->intent_blob);
			atomic_store(&s->grower, 0);
			slot_set(&s->repaired, 0);
			s->pid = getpid();
			s->attach_count++;
			slot_set(&s->state, SLOT_ATTACHED);
			t->slot = (int)i;
			break;
		}
		tmem_unlock(&t->hdr->slots_lock);
		/* A live serving process's grower repairs (it looks for
		 * dead processes every second): one that only attaches, as
		 * tmemctl does, leaves it that work and its locks.  When it
		 * needs a dead process's slot it waits for that repair
		 * (tmem_reap_dead), and fails if it does not come. */
		if (t->slot < 0 && dead) {
			r = tmem_reap_dead(t);
			if (r)
				return r;
		} else if ((dead || tmem_repair_pending(t)) &&
			   !tmem_repair_deferred(t)) {
			tmem_fsck(t, true);
		} else if (dead || tmem_repair_pending(t)) {
			tmem_grower_wake(t);
		}
		dead = false;
		if (t->slot >= 0)
			return 0;
	}
	tmem_log(t, TMEM_LOG_ERROR, "%s: all %u process slots are in use",
		 t->path, TMEM_MAX_SLOTS);
	return -EUSERS;
}

int tmem_file_private(int fd, char *why, size_t whylen)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		snprintf(why, whylen, "fstat: %s", strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return -EPERM;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, whylen,
			 "owned by uid %u, not by uid %u who runs this: "
			 "another user made it and could read or change "
			 "the pages (remove it, or run as its owner)",
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & 077) {
		snprintf(why, whylen,
			 "mode %04o lets group or other users at it "
			 "(tmem makes its files 0600): chmod 600 it if it is "
			 "yours, or remove it",
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* Whether fd is still the file at path (not removed or replaced). */
static bool fd_current(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Open the segment's file with a shared lock; *created says whether this
 * call made it (O_EXCL), the one case besides an empty file in which the
 * caller may format it. */
static int open_locked_fd(struct tmem *t, const struct tmem_options *opts,
			  bool *created)
{
	int flags =
		(opts->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW;
	bool create = opts->create && !opts->readonly;
	int fd, r;

	for (;;) {
		char why[200];

		*created = false;
		fd = -1;
		if (create) {
			fd = open(t->path, flags | O_CREAT | O_EXCL, 0600);
			if (fd == -1 && errno != EEXIST)
				return -errno;
			*created = fd != -1;
		}
		if (fd == -1)
			fd = open(t->path, flags);
		if (fd == -1 && errno == ENOENT && create)
			continue; /* removed since O_EXCL found it */
		if (fd == -1)
			return -errno;
		/* Before anything is read or locked: a file another user
		 * made first must not receive our pages. */
		r = tmem_file_private(fd, why, sizeof why);
		if (r) {
			tmem_log(t, TMEM_LOG_ERROR,
				 "%s: refusing the segment: %s", t->path, why);
			close(fd);
			return r;
		}
		if (flock(fd, LOCK_SH) == -1) {
			int e = errno;
			close(fd);
			return -e;
		}
		/* tmem_unlink may have removed it before we locked it. */
		if (fd_current(fd, t->path))
			return fd;
		close(fd);
	}
}

static int read_header(int fd, struct tmem_header *h, uint64_t *size)
{
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) == -1)
		return -errno;
	*size = (uint64_t)st.st_size;
	memset(h, 0, sizeof *h);
	n = pread(fd, h, sizeof *h, 0);
	if (n < 0)
		return -errno;
	return 0;
}

/* Whether a creator is still to format the file (or died doing it). */
static bool segment_unformatted(struct tmem_header *h)
{
	uint64_t magic = atomic_load(&h->magic);

	return magic == 0 || magic == TMEM_MAGIC_FORMATTING;
}

/* A file with bytes but no magic that this process did not make: not
 * tmem's, since a creator marks the file before it gives it bytes. */
static bool segment_foreign(struct tmem_header *h, uint64_t size, bool created)
{
	return atomic_load(&h->magic) == 0 && size != 0 && !created;
}

/* Map the segment, formatting it first if nobody has. */
static int segment_attach(struct tmem *t, const struct tmem_options *opts)
{
	struct tmem_header h;
	uint64_t size;
	bool created;
	int prot, r;

	t->fd = open_locked_fd(t, opts, &created);
	if (t->fd < 0) {
		r = t->fd;
		t->fd = -1;
		if (r == -ENOENT)
			tmem_log(t, TMEM_LOG_ERROR, "%s: no such segment",
				 t->path);
		return r;
	}
	r = read_header(t->fd, &h, &size);
	if (r)
		return r;
	/* Formatted only if this process made the file, it is empty (made
	 * by another that has not formatted it yet) or a creator died while
	 * formatting it: a file with bytes that is not a segment keeps
	 * them. */
	if (segment_foreign(&h, size, created)) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "%s: not a tmem segment (not formatted): not "
			 "formatted over, as it is not empty; remove it if "
			 "it is not needed",
			 t->path);
		return -EBADMSG;
	}
	if (segment_unformatted(&h)) {
		if (!opts->create || opts->readonly) {
			tmem_log(t, TMEM_LOG_ERROR, "%s: segment not formatted",
				 t->path);
			return -ENOENT;
		}
		/* Nobody else is attached once we hold LOCK_EX.  Taking it
		 * lets go of LOCK_SH first: the file may have been removed
		 * meanwhile (tmem_unlink), and a segment formatted there
		 * would be one no other process finds. */
		if (flock(t->fd, LOCK_EX) == -1)
			return -errno;
		r = read_header(t->fd, &h, &size);
		if (!r && !fd_current(t->fd, t->path)) {
			tmem_log(t, TMEM_LOG_ERROR,
				 "%s: removed while this process attached it; "
				 "try again",
				 t->path);
			return -ESTALE;
		}
		if (!r && segment_foreign(&h, size, created)) {
			tmem_log(t, TMEM_LOG_ERROR,
				 "%s: not a tmem segment (not formatted)",
				 t->path);
			r = -EBADMSG;
		} else if (!r && segment_unformatted(&h)) {
			r = format_segment(t, t->fd, opts);
			/* Only a file this process made, still at the path
			 * (no other process can be attached: LOCK_EX). */
			if (r && created && fd_current(t->fd, t->path))
				unlink(t->path);
		}
		if (flock(t->fd, LOCK_SH) == -1 && !r)
			r = -errno;
		if (!r)
			r = read_header(t->fd, &h, &size);
		if (r)
			return r;
	}
	r = validate_header(t, &h, size);
	if (r)
		return r;
	prot = PROT_READ | (opts->readonly ? 0 : PROT_WRITE);
	t->map_size = h.geo.segment_bytes;
	t->base = mmap(NULL, t->map_size, prot, MAP_SHARED, t->fd, 0);
	if (t->base == MAP_FAILED) {
		t->base = NULL;
		return -errno;
	}
	t->hdr = (struct tmem_header *)t->base;
	t->geo = &t->hdr->geo;
	return validate_pools(t);
}

int tmem_open(const struct tmem_options *opts, struct tmem **out)
{
	pthread_condattr_t cattr;
	struct tmem *t;
	int r;

	*out = NULL;
	if (!opts || !name_valid(opts->name) || opts->contexts == 0 ||
	    opts->contexts > TMEM_CONTEXTS_MAX ||
	    opts->level < ZSTD_minCLevel() || opts->level > ZSTD_maxCLevel())
		return -EINVAL;
	if (opts->readonly && (opts->prefault || opts->grower))
		return -EINVAL;
	t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->fd = -1;
	t->slot = -1;
	pthread_mutex_init(&t->compact_mu, NULL);
	pthread_mutex_init(&t->dict_mu, NULL);
	pthread_condattr_init(&cattr);
	/* The trainer's timed waits count elapsed time, not the wall
	 * clock's (which may be set back), as every wait of the pool. */
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->dict_cv, &cattr);
	pthread_condattr_destroy(&cattr);
	t->compact_ctx.id = TMEM_COMPACT_CTX;
	t->log = opts->log;
	t->log_opaque = opts->log_opaque;
	t->log_level = opts->log_level;
	t->readonly = opts->readonly;
	t->level = opts->level;
	t->dedup = opts->dedup;
	t->nr_ctx = opts->contexts;
	t->grower_wanted = opts->grower;
	t->sync_grow = !opts->grower;
	t->may_grow = opts->grower && opts->put_may_grow;
	snprintf(t->name, sizeof t->name, "%s", opts->name);
	snprintf(t->path, sizeof t->path, SHM_DIR "%s", opts->name);
#ifdef TMEM_TEST_HOOKS
	if (getenv("TMEM_CRASH_POINT"))
		tmem_crash_at = atoi(getenv("TMEM_CRASH_POINT"));
	if (getenv("TMEM_SERVED_WAIT_MS"))
		tmem_served_wait_ms =
			(unsigned)atoi(getenv("TMEM_SERVED_WAIT_MS"));
#endif

	r = segment_attach(t, opts);
	if (r)
		goto err;
	r = tmem_dict_init(t);
	if (r)
		goto err;
	if (!t->readonly) {
		r = segment_fault_meta(t);
		if (r)
			goto err;
		r = tmem_ctx_init_all(t);
		if (r)
			goto err;
		r = slot_claim(t);
		if (r)
			goto err;
		r = tmem_segment_prepare(t, opts);
		if (r)
			goto err;
	}
	*out = t;
	return 0;

err:
	tmem_close(t);
	return r;
}

void tmem_close(struct tmem *t)
{
	unsigned i;

	if (!t)
		return;
	if (t->grower_running) {
		atomic_store(&t->grower_stop, true);
		tmem_grower_wake(t);
		pthread_join(t->grower, NULL);
		atomic_store(&seg_slot(t, t->slot)->grower, 0);
		atomic_fetch_sub(&t->hdr->growers, 1);
	}
	tmem_dict_fini(t);
	if (t->hdr && t->slot >= 0) {
		for (i = 0; i < t->nr_ctx && t->ctx; i++)
			tmem_ctx_close_chunks(t, &t->ctx[i]);
		tmem_ctx_close_chunks(t, &t->compact_ctx);
		tmem_lock(t, &t->hdr->slots_lock);
		memset(seg_slot(t, t->slot)->intent_blob, 0,
		       sizeof seg_slot(t, t->slot)->intent_blob);
		slot_set(&seg_slot(t, t->slot)->state, SLOT_FREE);
		tmem_unlock(&t->hdr->slots_lock);
		slot_release_lock(t, t->slot);
	}
	tmem_ctx_free_all(t);
	pthread_mutex_destroy(&t->compact_mu);
	pthread_cond_destroy(&t->dict_cv);
	pthread_mutex_destroy(&t->dict_mu);
	if (t->base)
		munmap(t->base, t->map_size);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

int tmem_unlink(const char *name)
{
	char path[TMEM_NAME_MAX + 16];
	CLEANUP_CLOSE int fd = -1;
	uint64_t magic = 0;
	struct stat st;

	if (!name_valid(name))
		return -EINVAL;
	snprintf(path, sizeof path, SHM_DIR "%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	/* Only a tmem segment, and only its owner's (or root's). */
	if (fstat(fd, &st) == -1)
		return -errno;
	if (!S_ISREG(st.st_mode) ||
	    pread(fd, &magic, sizeof magic, 0) != (ssize_t)sizeof magic ||
	    (magic != TMEM_MAGIC && magic != TMEM_MAGIC_FORMATTING))
		return -EBADMSG;
	if (st.st_uid != geteuid() && geteuid() != 0)
		return -EPERM;
	if (unlink(path) == -1)
		return -errno;
	return 0;
}

int tmem_segment_info(struct tmem *t, struct tmem_segment_info *info)
{
	unsigned i, n = 0;

	memset(info, 0, sizeof *info);
	snprintf(info->name, sizeof info->name, "%s", t->name);
	info->layout_version = t->hdr->layout_version;
	info->pool_size = t->geo->pool_size;
	info->segment_bytes = t->geo->segment_bytes;
	info->level = t->hdr->level;
	info->dedup = t->hdr->dedup;
	info->dictionary = t->hdr->dictionary;
	tmem_dict_info(t, info);
	info->max_pools = TMEM_MAX_POOLS;
	for (i = 0; i < TMEM_MAX_SLOTS; i++) {
		if (slot_get(&seg_slot(t, i)->state) == SLOT_ATTACHED &&
		    tmem_slot_alive(t, i))
			n++;
	}
	info->attached = n;
	return 0;
}
