/* tmem-fuse-cache: the read cache in the pool.
 *
 * Regular files are read per 4 KiB page from an ephemeral sub-pool: a page
 * found there is copied out, a missing one is read from the source in a
 * larger aligned chunk whose pages are then put.  Gets are inclusive: the
 * kernel's page cache (kept across opens with keep_cache) serves repeats,
 * and FUSE never tells us when the kernel drops a page, so the pool keeps
 * its copy for when it does — the second chance.
 *
 * Coherency is close-to-open.  At open the source file's validator (size,
 * mtime, ctime, inode, generation) is compared with the one the pool's
 * pages belong to; on a change the object is dropped and a new object id
 * taken, and the kernel's page cache is not kept.  Files changed within
 * the source's timestamp granularity of now are not cached at all, since
 * a second change in the same tick would leave the validator unchanged.
 * Writes, truncates, unlinks and renames through the mount invalidate, and
 * every invalidation bumps the inode's counter: a miss captures the counter
 * before it reads the source and puts only if it is unchanged, so bytes
 * read before a write never land in the pool after it.
 *
 * Admission: while the sub-pool has room every chunk read is put.  Once it
 * is under pressure (at its max share, its pages being evicted, or puts
 * refused for want of room), a chunk is put only at its second miss within a
 * while: a small table of recent first misses (a "doorkeeper", as in TinyLFU or
 * the ghost list of 2Q) remembers them.  The pool evicts by CLOCK over whole
 * chunks of the segment (a chunk the hand passed while it was being filled
 * closes marked, so the pages put into it last are not the next to go:
 * tmem-alloc.c).  Without the filter, pages the kernel asks for once and never
 * again (most of a skewed random workload's misses) push out the pages it keeps
 * coming back for.  -o admit=all turns it off.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "fc-internal.h"

uint64_t fc_new_object(void)
{
	return atomic_fetch_add(&fc.next_obj, 1);
}

static bool fc_ts_equal(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool fc_validator_equal(const struct fc_validator *a,
			       const struct fc_validator *b)
{
	return a->size == b->size && a->ino == b->ino &&
	       a->generation == b->generation &&
	       fc_ts_equal(a->mtime, b->mtime) &&
	       fc_ts_equal(a->ctime, b->ctime);
}

static double fc_ts_age(struct timespec now, struct timespec t)
{
	return (double)(now.tv_sec - t.tv_sec) +
	       (double)(now.tv_nsec - t.tv_nsec) / 1e9;
}

/* Flush every page in may have in the pool, and start again from none.
 * Caller must hold in->cache_lock exclusively, or be the last user of in. */
void fc_flush_pooled(struct fc_inode *in)
{
	tmem_flush_range(fc.tmem, fc.pool_id, in->obj, 0,
			 atomic_load(&in->pooled_end));
	atomic_store(&in->pooled_end, 0);
}

/* Drop every pooled page of in.  Caller must hold in->cache_lock
 * exclusively. */
static void fc_drop_object(struct fc_inode *in)
{
	in->inval++;
	if (fc.tmem && in->pooled) {
		fc_flush_pooled(in);
		in->pooled = false;
		/* Later pages go under a new id: what a flush might miss can
		 * never be found again. */
		in->obj = fc_new_object();
	}
}

/* Called by open on a freshly opened descriptor of a regular file (fd, or
 * -1 for a deferred open): decide whether this open uses the pool and
 * whether the kernel keeps its page cache.  fresh, if not NULL, holds the
 * file's attributes as the source gave them since the open began (the
 * name check's); otherwise they are asked for here.  0 or -errno. */
int fc_cache_open(fuse_req_t req, fuse_ino_t ino, struct fc_inode *in, int fd,
		  const struct stat *fresh, struct fuse_file_info *fi,
		  bool *cache)
{
	struct fc_validator v = {0};
	struct timespec now;
	struct stat st;
	bool stale = false, keep = false, first, recent;
	long gen = 0;

	*cache = false;
	fi->keep_cache = 0;
	if (in->type != S_IFREG)
		return 0;

	/* Close-to-open: the validator comes from the source itself, not
	 * from attributes the kernel cached for a FUSE or network source
	 * (NFS's attribute cache holds them up to 60 s), also when the open
	 * was deferred and only the O_PATH descriptor is at hand; with -o
	 * cto=no, what the kernel has (fc_open_sync). */
	if (fresh) {
		st = *fresh;
	} else {
		int err = fc_statx(fd >= 0 ? fd : in->fd, fc_open_sync(), &st);
		if (err < 0)
			return err;
	}
	/* One round trip less per open on sources without generations
	 * (FUSE, NFS): ask once per device. */
	if (fd >= 0 && st.st_dev != atomic_load(&fc.nogen_dev) &&
	    ioctl(fd, FS_IOC_GETVERSION, &gen) < 0) {
		gen = 0;
		if (errno == ENOTTY || errno == ENOSYS || errno == EOPNOTSUPP ||
		    errno == EINVAL)
			atomic_store(&fc.nogen_dev, st.st_dev);
	}
	v.size = st.st_size;
	v.mtime = st.st_mtim;
	v.ctime = st.st_ctim;
	v.ino = st.st_ino;
	v.generation = (uint64_t)gen;
	clock_gettime(CLOCK_REALTIME, &now);
	recent = fc_ts_age(now, v.mtime) < fc.set.granularity ||
		 fc_ts_age(now, v.ctime) < fc.set.granularity;

	pthread_rwlock_wrlock(&in->cache_lock);
	first = !in->has_validator;
	if (in->has_validator && !fc_validator_equal(&in->v, &v)) {
		stale = true;
		fc_drop_object(in);
	}
	/* The kernel's pages were read under the old validator: keep them
	 * only if it held then (stable) and still holds. */
	keep = in->has_validator && in->stable && !stale && !recent;
	in->v = v;
	in->has_validator = true;
	in->stable = !recent;
	in->cacheable = !recent;
	pthread_rwlock_unlock(&in->cache_lock);

	if (stale)
		atomic_fetch_add(&fc.stats.stale_opens, 1);
	/* The kernel's attributes (size above all) may predate a change
	 * made in the source: make it ask again.  Attributes only: data
	 * invalidation from inside a request for the same inode can
	 * deadlock on its page locks; not keeping the cache drops the data
	 * instead. */
	if ((stale || first) && fc.se)
		fuse_lowlevel_notify_inval_inode(fc.se, ino, -1, 0);
	if (recent)
		atomic_fetch_add(&fc.stats.recent_opens, 1);
	(void)req;
	/* Without a pool (no-pool) the validator still decides keep_cache,
	 * so the kernel's page cache works as well as with one. */
	fi->keep_cache = keep;
	*cache = fc.tmem && !recent;
	return 0;
}

/* Forget pooled pages of in overlapping [off, off + len); len < 0 means the
 * whole object.  Reads through the pool stop until the next open
 * re-validates the file.  A flush that fails (-ETIMEDOUT: a repair held
 * up; -EIO: damage that may hide the page) may leave the page findable:
 * then every page of in goes, under a new object id. */
void fc_cache_invalidate(struct fc_inode *in, off_t off, off_t len)
{
	if (in->type != S_IFREG)
		return;
	pthread_rwlock_wrlock(&in->cache_lock);
	in->cacheable = false;
	in->stable = false;
	if (len < 0 || !in->pooled) {
		fc_drop_object(in);
	} else {
		in->inval++;
		uint64_t first = (uint64_t)off >> TMEM_PAGE_SHIFT;
		uint64_t last =
			((uint64_t)off + (uint64_t)len + TMEM_PAGE_SIZE - 1) >>
			TMEM_PAGE_SHIFT;
		for (uint64_t i = first; i < last; i++) {
			if (tmem_flush_page(fc.tmem, fc.pool_id, in->obj, i) <
			    0) {
				fc_drop_object(in);
				break;
			}
		}
	}
	pthread_rwlock_unlock(&in->cache_lock);
}

/* Per-thread buffers: the reply and one chunk of the source, freed when
 * the worker thread ends. */
static __thread char *fc_out;
static __thread size_t fc_out_cap;
static __thread char *fc_chunk;
static pthread_key_t fc_buf_key;
static pthread_once_t fc_buf_once = PTHREAD_ONCE_INIT;

static void fc_buffers_free(void *unused)
{
	free(fc_out);
	free(fc_chunk);
	fc_out = fc_chunk = NULL;
	fc_out_cap = 0;
}

static void fc_buffers_key(void)
{
	pthread_key_create(&fc_buf_key, fc_buffers_free);
}

static int fc_buffers(size_t size)
{
	if (!fc_chunk) {
		void *p;
		if (posix_memalign(&p, TMEM_PAGE_SIZE, fc.set.chunk_size) != 0)
			return -ENOMEM;
		fc_chunk = p;
		pthread_once(&fc_buf_once, fc_buffers_key);
		pthread_setspecific(fc_buf_key, fc_chunk);
	}
	if (size > fc_out_cap) {
		void *p;
		if (posix_memalign(&p, TMEM_PAGE_SIZE, size) != 0)
			return -ENOMEM;
		free(fc_out);
		fc_out = p;
		fc_out_cap = size;
	}
	return 0;
}

/* A copy of buf in this thread's page-aligned buffer, for a write to a
 * descriptor opened with O_DIRECT; NULL with *err set if no buffer. */
const char *fc_cache_bounce(const char *buf, size_t size, int *err)
{
	int r = fc_buffers(size);

	if (r < 0) {
		*err = -r;
		return NULL;
	}
	memcpy(fc_out, buf, size);
	return fc_out;
}

/* pread until len bytes or end of file; bytes read or -errno. */
static ssize_t fc_pread_full(int fd, char *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += n;
	}
	atomic_fetch_add(&fc.stats.source_reads, 1);
	atomic_fetch_add(&fc.stats.source_bytes, done);
	return done;
}

static uint64_t fc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- admission ------------------------------------------------------ */

/* The doorkeeper: buckets of FC_DOOR_WAYS tags, each a hash of (source
 * file, chunk index) of a chunk that missed once under pressure and was
 * not put; the newest first in its bucket, the oldest dropped.  It
 * remembers roughly the last FC_DOOR_WAYS * (fc_door_mask + 1) first
 * misses; two ways keep two chunks that hash to one bucket from pushing
 * each other out forever. */
#define FC_DOOR_WAYS 2
static _Atomic uint64_t *fc_door;
static uint64_t fc_door_mask;

/* Pressure: the sub-pool's statistics are looked at at most every
 * FC_PRESSURE_CHECK_NS; the sub-pool at its max share, an increase of its
 * eviction count or a put refused for want of room means pressure for
 * FC_PRESSURE_HOLD_NS. */
#define FC_PRESSURE_CHECK_NS 100000000ull
#define FC_PRESSURE_HOLD_NS  1000000000ull
static pthread_mutex_t fc_press_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t fc_press_next;	/* monotonic ns of the next look */
static _Atomic uint64_t fc_press_until; /* pressure assumed until (ns) */
static uint64_t fc_press_evictions;	/* fc_press_lock */
static struct tmem_pool_info *fc_press_pools; /* fc_press_lock */
static int fc_press_npools;

/* Size the doorkeeper at a quarter of the chunks the sub-pool can hold
 * (its max share, else the segment's ceiling): a power of two of buckets
 * between 512 and 512K (8 MiB).  0 or -errno. */
int fc_admission_init(void)
{
	struct tmem_segment_info si;
	uint64_t bytes = fc.set.max_share, want, n = 512;

	if (!fc.tmem || fc.set.admit_all)
		return 0;
	if (tmem_segment_info(fc.tmem, &si) < 0)
		return -EIO;
	if (!bytes || bytes > si.pool_size)
		bytes = si.pool_size;
	want = bytes / fc.set.chunk_size / 4 / FC_DOOR_WAYS;
	while (n < want && n < (1u << 19))
		n <<= 1;
	fc_door = calloc(n * FC_DOOR_WAYS, sizeof(*fc_door));
	fc_press_pools = calloc(si.max_pools, sizeof(*fc_press_pools));
	if (!fc_door || !fc_press_pools) {
		fc_admission_free();
		return -ENOMEM;
	}
	fc_door_mask = n - 1;
	fc_press_npools = (int)si.max_pools;
	return 0;
}

void fc_admission_free(void)
{
	free(fc_door);
	free(fc_press_pools);
	fc_door = NULL;
	fc_press_pools = NULL;
}

static void fc_pressure_seen(void)
{
	atomic_store(&fc_press_until, fc_now_ns() + FC_PRESSURE_HOLD_NS);
}

static bool fc_under_pressure(void)
{
	uint64_t now = fc_now_ns();

	if (now >= atomic_load(&fc_press_next) &&
	    pthread_mutex_trylock(&fc_press_lock) == 0) {
		if (now >= atomic_load(&fc_press_next)) {
			int n = tmem_pool_list(fc.tmem, fc_press_pools,
					       fc_press_npools);
			for (int i = 0; i < n && i < fc_press_npools; i++) {
				const struct tmem_pool_info *pi =
					&fc_press_pools[i];
				if (pi->id != fc.pool_id)
					continue;
				/* At its cap (within 1/32: the pool counts
				 * whole chunks) it stays full until pages
				 * go, so that is pressure too. */
				bool full =
					pi->max_bytes &&
					pi->stats.bytes_resident +
							pi->max_bytes / 32 >=
						pi->max_bytes;
				if (pi->stats.evictions != fc_press_evictions ||
				    full) {
					fc_press_evictions =
						pi->stats.evictions;
					atomic_store(&fc_press_until,
						     now + FC_PRESSURE_HOLD_NS);
				}
				break;
			}
			atomic_store(&fc_press_next,
				     now + FC_PRESSURE_CHECK_NS);
		}
		pthread_mutex_unlock(&fc_press_lock);
	}
	return now < atomic_load(&fc_press_until);
}

/* Whether the chunk of in starting at page cidx, just read from the
 * source, goes into the pool.  The table is keyed by the source's (device,
 * inode), not by the object id: the kernel forgets inodes (drop_caches,
 * memory pressure) and a forgotten inode with nothing pooled comes back
 * with a new object id.  A false match only admits a chunk. */
static bool fc_admit(const struct fc_inode *in, uint64_t cidx)
{
	if (!fc_door || !fc_under_pressure())
		return true;
	/* splitmix64's finaliser over both halves of the key */
	uint64_t h = ((uint64_t)in->dev * 0x9e3779b97f4a7c15ull ^
		      (uint64_t)in->ino) *
			     0xff51afd7ed558ccdull ^
		     cidx;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	h ^= h >> 31;
	h |= 1; /* 0 marks an empty slot */
	/* Racing threads may lose or duplicate a tag: that only admits a
	 * chunk early or late. */
	_Atomic uint64_t *b =
		&fc_door[((h >> 1) & fc_door_mask) * FC_DOOR_WAYS];
	for (int w = 0; w < FC_DOOR_WAYS; w++) {
		if (atomic_load_explicit(&b[w], memory_order_relaxed) == h) {
			atomic_store_explicit(&b[w], 0, memory_order_relaxed);
			return true;
		}
	}
	for (int w = FC_DOOR_WAYS - 1; w > 0; w--)
		atomic_store_explicit(
			&b[w],
			atomic_load_explicit(&b[w - 1], memory_order_relaxed),
			memory_order_relaxed);
	atomic_store_explicit(&b[0], h, memory_order_relaxed);
	atomic_fetch_add(&fc.stats.puts_deferred, 1);
	return false;
}

/* Until when puts that found no room are not retried (monotonic ns). */
static _Atomic uint64_t fc_nospace_until;

/* Room the segment may have left and still count as short of it: the
 * last chunks are not for this put (compaction keeps one, the grower's
 * reserve is counted in). */
#define FC_ROOM_SLACK (1u << 20)

/* Whether a put this thread just saw refused found the segment short of
 * room.  Otherwise the refusal means that the grower has not yet refilled
 * the reserve of ready chunks (a busy machine, a burst of reads) or
 * faulted in the index records the put needed (records_later, which the
 * pool says only for a page it has room for, or one that needs none), or
 * that this sub-pool is at its max share, which fc_under_pressure sees by
 * itself; taking a lagging grower for pressure would turn the admission
 * filter on for a second and keep out every chunk read once meanwhile.
 * (Room owed to other sub-pools' minimum shares is not told apart: a
 * refusal there is not taken for pressure.) */
static bool fc_short_of_room(void)
{
	return tmem_last_reject() != TMEM_REJECT_RECORDS_LATER &&
	       tmem_room(fc.tmem) <= FC_ROOM_SLACK;
}

/* One put, retried a little where waiting can help.  An ephemeral put
 * gives up at once on a busy lock (the swap path must never wait on the
 * cache) and when the pool's reserve of ready chunks is empty (its grower
 * refills it in the background); this daemon has just waited for the
 * source and can afford a short wait.  When retries do not help, it stops
 * retrying for a second (each put is still tried once), and when the pool
 * is short of room that is pressure (fc_under_pressure).  0 or -errno. */
static int fc_put_page(uint64_t obj, uint64_t idx, const void *src)
{
	int r;
	for (int tries = 0;; tries++) {
		r = tmem_put(fc.tmem, fc.pool_id, obj, idx, src);
		if (r == -EBUSY && tries < 16) {
			if (tries < 8)
				sched_yield();
			else
				usleep(100);
			continue;
		}
		if (r == -ENOSPC && tries < 4 &&
		    fc_now_ns() >= atomic_load(&fc_nospace_until)) {
			usleep(1000);
			continue;
		}
		break;
	}
	if (r == -ENOSPC) {
		atomic_store(&fc_nospace_until, fc_now_ns() + 1000000000u);
		if (fc_short_of_room())
			fc_pressure_seen();
	}
	return r;
}

/* Put the pages of a chunk just read from the source, unless an
 * invalidation happened since snap was taken or the validator's size is no
 * longer fsize, the size the chunk's length n was cut to.  A final partial
 * page is stored zero-padded: its length follows from the validator's
 * size, so a page cut by another size would serve zeros where the file has
 * bytes. */
static void fc_put_chunk(struct fc_inode *in, uint64_t obj, uint64_t snap,
			 off_t fsize, off_t cstart, const char *buf, size_t n)
{
	char page[TMEM_PAGE_SIZE] __attribute__((aligned(64)));

	pthread_rwlock_rdlock(&in->cache_lock);
	if (in->inval != snap || in->obj != obj || !in->cacheable ||
	    in->v.size != fsize) {
		pthread_rwlock_unlock(&in->cache_lock);
		atomic_fetch_add(&fc.stats.puts_refused, 1);
		return;
	}
	in->pooled = true;
	uint64_t idx = (uint64_t)cstart >> TMEM_PAGE_SHIFT;
	uint64_t end = idx + (n + TMEM_PAGE_SIZE - 1) / TMEM_PAGE_SIZE;
	uint64_t was = atomic_load(&in->pooled_end);
	while (was < end &&
	       !atomic_compare_exchange_weak(&in->pooled_end, &was, end))
		;
	for (size_t o = 0; o < n; o += TMEM_PAGE_SIZE, idx++) {
		const char *src = buf + o;
		if (n - o < TMEM_PAGE_SIZE) {
			memcpy(page, src, n - o);
			memset(page + (n - o), 0, TMEM_PAGE_SIZE - (n - o));
			src = page;
		}
		int r = fc_put_page(obj, idx, src);
		/* Sub-pool gone (destroyed by tmemctl), or its repair held
		 * up by a stopped process: the chunk's next puts would wait
		 * for that too, holding cache_lock. */
		if (r == -ENOENT || r == -ETIMEDOUT)
			break;
	}
	pthread_rwlock_unlock(&in->cache_lock);
}

static void fc_read_direct(fuse_req_t req, struct fc_file *f, size_t size,
			   off_t off)
{
	int fd = fc_file_fd(f);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	ssize_t n = fc_pread_full(fd, fc_out, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, fc_out, (size_t)n);
}

void fc_cache_read(fuse_req_t req, struct fc_inode *in, struct fc_file *f,
		   size_t size, off_t off)
{
	bool cacheable;
	uint64_t obj, snap;
	off_t fsize;
	int err;

	err = fc_buffers(size);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	if (!f->cache) {
		fc_read_direct(req, f, size, off);
		return;
	}
	pthread_rwlock_rdlock(&in->cache_lock);
	cacheable = in->cacheable;
	obj = in->obj;
	fsize = in->v.size;
	pthread_rwlock_unlock(&in->cache_lock);
	if (!cacheable) {
		fc_read_direct(req, f, size, off);
		return;
	}

	/* The size at open is the file's size for this open (close-to-open);
	 * a change from outside is seen at the next open.  Another open may
	 * take a new validator while this request runs (without a new object
	 * id when nothing was pooled): a chunk cut to fsize is put only if
	 * the validator still has that size (fc_put_chunk). */
	off_t pos = off;
	off_t end = off + (off_t)size;
	if (end > fsize)
		end = fsize;
	while (pos < end) {
		uint64_t idx = (uint64_t)pos >> TMEM_PAGE_SHIFT;
		off_t pstart = (off_t)(idx << TMEM_PAGE_SHIFT);
		off_t pend = pstart + TMEM_PAGE_SIZE;
		char page[TMEM_PAGE_SIZE] __attribute__((aligned(64)));

		if (pend > end)
			pend = end;
		/* A whole page of the reply is fetched in place. */
		bool whole = pos == pstart && pend == pstart + TMEM_PAGE_SIZE;
		char *dst = whole ? fc_out + (pos - off) : page;
		if (tmem_get(fc.tmem, fc.pool_id, obj, idx, dst) == 0) {
			if (!whole)
				memcpy(fc_out + (pos - off),
				       page + (pos - pstart), pend - pos);
			pos = pend;
			atomic_fetch_add(&fc.stats.pool_hits, 1);
			continue;
		}

		off_t cstart = pos - pos % (off_t)fc.set.chunk_size;
		size_t clen = fc.set.chunk_size;
		if (cstart + (off_t)clen > fsize)
			clen = fsize - cstart;
		pthread_rwlock_rdlock(&in->cache_lock);
		snap = in->inval;
		pthread_rwlock_unlock(&in->cache_lock);

		int fd = fc_file_fd(f);
		ssize_t n =
			fd < 0 ? fd : fc_pread_full(fd, fc_chunk, clen, cstart);
		if (n < 0 && fd >= 0) {
			/* The chunk is read for the pool's sake: an error in
			 * a part of it nobody asked for (a bad sector, an
			 * O_DIRECT length at the end) must not fail the pages
			 * asked for.  Read just those, and keep nothing. */
			n = fc_pread_full(fd, fc_out + (pos - off),
					  (size_t)(end - pos), pos);
			if (n >= 0) {
				pos += n;
				break;
			}
		}
		if (n < 0) {
			if (pos > off)
				break; /* return what we have */
			fuse_reply_err(req, (int)-n);
			return;
		}
		/* A short read means the file changed under us: serve it,
		 * but do not keep it. */
		if ((size_t)n == clen &&
		    fc_admit(in, (uint64_t)cstart >> TMEM_PAGE_SHIFT))
			fc_put_chunk(in, obj, snap, fsize, cstart, fc_chunk,
				     clen);
		off_t cend = cstart + n;
		off_t upto = cend < end ? cend : end;
		if (upto > pos) {
			memcpy(fc_out + (pos - off), fc_chunk + (pos - cstart),
			       upto - pos);
			pos = upto;
		}
		if ((size_t)n < clen)
			break;
	}
	fuse_reply_buf(req, fc_out, pos > off ? (size_t)(pos - off) : 0);
}
