/* nbd-tmem: private declarations shared by the plugin's source files.
 *
 * Layers, top to bottom: nbd-plugin.c (nbdkit callbacks, keys, process
 * set-up) → nbd-pages.c (byte ranges to whole pages, the page locks, pool
 * first and overflow second) → nbd-overflow.c (the overflow file and its
 * slot map) and common/ (the pool).  nbd-demote.c runs beside the requests:
 * a thread that moves pages read back to the overflow file through
 * nbd-pages.c.
 *
 * Lock order: a page stripe lock (nbd-pages.c), then the overflow free-list
 * lock (nbd-overflow.c), then whatever the pool takes inside.  A thread
 * never holds two stripe locks at once.
 *
 * Error convention below the plugin callbacks: 0 or -errno, no logging on
 * the data path (nbd-plugin.c turns -errno into a message through nt_log,
 * which never calls nbdkit on a request's thread once serving).
 */
#ifndef NBD_INTERNAL_H
#define NBD_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tmem.h"

/* Device pages live in one object of the sub-pool, indexed by page number;
 * the label (what device this sub-pool holds) lives in another. */
#define NT_DATA_OBJECT	0
#define NT_LABEL_OBJECT UINT64_MAX

/* Pages are locked in stripes: page p is guarded by stripe p % NT_STRIPES,
 * which also owns one page-aligned scratch buffer for read-modify-write and
 * O_DIRECT transfers, so the data path needs no allocation. */
#define NT_STRIPES 256

#define NT_NO_SLOT UINT32_MAX

struct nt_overflow;

/* Counters kept by the plugin itself (the pool keeps its own).  Updated
 * with relaxed atomics: they are statistics, not synchronisation. */
struct nt_counters {
	uint64_t rmw_pages;	   /* partial pages read-modified-written */
	uint64_t ov_writes;	   /* pages written to the overflow file */
	uint64_t ov_reads;	   /* pages read from the overflow file */
	uint64_t ov_promoted;	   /* overflow pages moved back into the pool */
	uint64_t ov_demoted;	   /* pages read back moved to the overflow
				    * file (nbd-demote.c) */
	uint64_t ov_full;	   /* writes refused: overflow file full */
	uint64_t nospace;	   /* writes refused: pool full, no overflow */
	uint64_t nospace_retries;  /* ENOSPC retried (a chunk or records being
				    * readied) */
	uint64_t nospace_waited;   /* of those refused: after the whole wait,
				    * the pool not full (the grower late) */
	uint64_t fault_waits;	   /* puts that waited past the budget for
				    * the grower's allocation */
	uint64_t io_errors;	   /* -EIO from the pool or the overflow file */
	uint64_t ballast_releases; /* ballast given back (nbd-ballast.c) */
	uint64_t ballast_refills;  /* ballast taken back whole */
	uint64_t rt_threads;	   /* request threads made real-time */
	uint64_t full_refused;	   /* write requests refused: device full */
	uint64_t full_ooms;	   /* OOM kills asked for (nbd-oom.c) */
};

#define NT_COUNT(field) \
	__atomic_fetch_add(&nt_counters.field, 1, __ATOMIC_RELAXED)
extern struct nt_counters nt_counters;

/* CLOCK_MONOTONIC now, in ns (clock_gettime: the vDSO, no system call;
 * the clock of the kernel's bpf_ktime_get_ns). */
static inline uint64_t nt_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The CLOCK_MONOTONIC time ms milliseconds from now: the deadline of the
 * plugin's threads' timed waits (the log ring, the demotion thread). */
static inline struct timespec nt_deadline_ms(unsigned long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* A background thread's sleep that its stopper cuts short (CLOCK_MONOTONIC
 * waits, so a clock step neither wakes nor holds it). */
struct nt_napper {
	pthread_mutex_t mu;
	pthread_cond_t wake; /* stop was set */
	bool stop;	     /* protected by mu */
};
#define NT_NAPPER_INIT                          \
	{                                       \
		.mu = PTHREAD_MUTEX_INITIALIZER \
	}

static inline void nt_napper_init(struct nt_napper *n)
{
	pthread_condattr_t ca;

	n->stop = false;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->wake, &ca);
	pthread_condattr_destroy(&ca);
}

/* Sleep ms milliseconds unless stopped first; whether to stop. */
static inline bool nt_nap(struct nt_napper *n, unsigned long ms)
{
	struct timespec until = nt_deadline_ms(ms);
	bool stop;

	pthread_mutex_lock(&n->mu);
	while (!n->stop &&
	       pthread_cond_timedwait(&n->wake, &n->mu, &until) != ETIMEDOUT)
		;
	stop = n->stop;
	pthread_mutex_unlock(&n->mu);
	return stop;
}

/* Stop the thread that naps on n, and wait for it. */
static inline void nt_napper_stop(struct nt_napper *n, pthread_t thread)
{
	pthread_mutex_lock(&n->mu);
	n->stop = true;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->mu);
	pthread_join(thread, NULL);
	pthread_cond_destroy(&n->wake);
}

/* Write to every page of a private array, so that it is this process's
 * own (not shared copy-on-write with the parent nbdkit forked from, nor
 * left untouched: a compiler may drop a memset of zeroes after calloc, or
 * turn malloc and memset into calloc) and the data path never takes a
 * fault that must allocate. */
static inline void nt_touch_pages(void *p, size_t bytes)
{
	volatile unsigned char *c = p;
	size_t i;

	for (i = 0; i < bytes; i += TMEM_PAGE_SIZE)
		c[i] = c[i];
	if (bytes)
		c[bytes - 1] = c[bytes - 1];
}

/* Touch the 16 KiB of the calling thread's stack below this frame, so
 * that (locked as the process is) its pages are in memory before memory
 * runs short: a fault there then could wait on reclaim (nbd-plugin.c). */
void nt_stack_touch(void);

/* ---- nbd-log.c ------------------------------------------------------ */

/* A message for nbdkit_error (or nbdkit_debug): straight to nbdkit before
 * nt_log_start and after nt_log_stop; in between through a preallocated
 * ring that the log thread drains every 100 ms, so that no request waits
 * for the log (a message that finds the ring full is counted instead). */
void nt_log(bool debug, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int nt_log_start(void);
void nt_log_stop(void);
/* log-file=VALUE: open VALUE (appending, created 0600) or, for "-", keep
 * a copy of stderr, for every error and warning from nbdkit's fork on
 * (nbdkit in the background sends its stderr to /dev/null).  -1 when it
 * cannot; nbdkit said why. */
int nt_log_file(const char *value);
void nt_log_file_close(void);
/* .after_fork has begun: from now on errors go to log-file= when given,
 * and the plugin's own warnings through nbdkit's log when not. */
void nt_log_forked(void);
/* A warning of the plugin's own outside any request: to log-file= when
 * given, else to stderr before the fork and nbdkit's log after it. */
void nt_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- nbd-pages.c ---------------------------------------------------- */

/* The device being served.  Set once before serving; read-only after. */
struct nt_device {
	struct tmem *pool;
	uint32_t pool_id;
	uint64_t size; /* bytes, a multiple of TMEM_PAGE_SIZE */
	uint64_t pages;
	struct nt_overflow *ov;	  /* NULL without overflow= */
	unsigned nospace_wait_ms; /* retry a put answered -ENOSPC this long */
	uint64_t pool_ceiling;	  /* the segment's pool-size */
	bool stamps;		  /* keep each page's last write time (for
				   * nbd-freed.c) */
};

/* A page's last write time, and a free's: CLOCK_MONOTONIC in units of
 * 2^NT_STAMP_SHIFT ns (about a millisecond), the low 32 bits; compared
 * as a signed difference (a stamp over 26 days, 2^51 ns, older than the
 * free may look newer: its page is then kept, as without the notice). */
#define NT_STAMP_SHIFT 20

/* With an overflow file, how long a refused put waits for a growing pool
 * before the page is spilled. */
#define NT_SPILL_WAIT_MS 5
/* Without an overflow file, a put refused while the pool's grower is in
 * the kernel's allocator for the chunks it waits for (reclaim can hold a
 * NOIO allocation up to a second) waits on, up to this long from its
 * first refusal, before a swap write the pool has room for is refused. */
#define NT_FAULT_WAIT_MS 1000
/* With an overflow file, a refused put waits for the grower only while
 * the pool has more than this left that holds no data. */
#define NT_SPILL_ROOM (4ULL << 20)
/* How long a write refused because the device is full waits before it is
 * answered (nbd-pages.c, full_pace). */
#define NT_FULL_PACE_MS 20

/* Allocate the stripe locks and their scratch pages (and touch them, so
 * that a locked process already has them in RAM).  -ENOMEM. */
int nt_pages_init(struct nt_device *dev);
void nt_pages_free(void);

int nt_pages_read(void *buf, uint32_t count, uint64_t offset);
int nt_pages_write(const void *buf, uint32_t count, uint64_t offset);
/* Zero the range; whole pages are dropped when may_trim, else stored as
 * zero pages (cheap in the pool, and extents then report them as data
 * that reads as zero, not as holes). */
int nt_pages_zero(uint32_t count, uint64_t offset, bool may_trim);
/* Drop whole pages in the range; partial pages are left alone (a trim is
 * advisory). */
int nt_pages_trim(uint32_t count, uint64_t offset);
/* Move overflow pages in the range back into the pool where room allows. */
int nt_pages_cache(uint32_t count, uint64_t offset);
/* What page p holds: TMEM_PAGE_ABSENT, _ZERO or _DATA. */
int nt_pages_probe(uint64_t page, enum tmem_page_state *state);
/* Make overflow writes durable (fdatasync); 0 without overflow. */
int nt_pages_sync(void);
/* With an overflow file: move page there if it was read back since it was
 * written (see nbd-demote.c).  1 moved, 0 not, -ENOSPC file full,
 * -errno. */
int nt_pages_demote(uint64_t page);

/* A swap slot that holds page was freed by the kernel at stamp (see
 * nbd-freed.c): drop the page unless it was written at or after stamp.  1
 * dropped, 0 kept, -errno. */
int nt_pages_freed(uint64_t page, uint32_t stamp);

/* ---- nbd-freed.c ---------------------------------------------------- */

/* Whether path is a block device (before the fork, so that a mistake
 * reaches the terminal): 0, or -ENODEV with a message. */
int nt_freed_check(const char *path);
/* In .get_ready, before the fork and before the process locks its
 * memory: load the kprobe that hears the kernel free swap slots of the
 * block device path (swap-device=).  1 loaded; 0 not (a warning on
 * stderr says why: no libbpf, no BTF, not root; the device then works as
 * without it); -errno with a message for a path that is not a block
 * device.  pages: the device's size, which the spill table covers. */
int nt_freed_load(const char *path, uint64_t pages);
/* Serving: start the thread that drops the pages of freed slots (nothing
 * without nt_freed_load). -errno. */
int nt_freed_start(struct nt_device *dev);
/* A connection opened or closed: the device is confirmed to be this
 * server's again before a notice is believed. */
void nt_freed_reconfirm(void);
void nt_freed_stop(void);

/* ---- nbd-demote.c --------------------------------------------------- */

/* Pages read back are likely stale: the kernel frees a swap slot on
 * swap-in (once swap is half full) and tells no device but zram.  With an
 * overflow file, a thread moves every page found read back at two scans
 * after_s seconds apart out of the pool into the file, where it costs disk
 * instead of RAM; a page read again after that is read from the file.  It
 * keeps an eighth of the file's slots free for the writes the pool cannot
 * take.  after_s 0 or no overflow file: no thread.  -errno. */
int nt_demote_start(struct nt_device *dev, double after_s);
void nt_demote_stop(void);

/* ---- nbd-ballast.c -------------------------------------------------- */

/* Keep bytes (rounded up to 64 KiB) of locked memory, and give them back
 * to the kernel when free memory has stayed at its floor (the zones'
 * minimum watermarks with their protection) for a second: the server's own
 * replies need pages there, and as an I/O flusher it cannot make the
 * kernel find any.  Take them back once memory is plentiful again.
 * 0 bytes: nothing.  Memory that cannot be locked: a warning, and no
 * ballast (0).  Logs through nbdkit and returns -errno when the ballast
 * cannot be set up otherwise. */
int nt_ballast_start(uint64_t bytes);
void nt_ballast_stop(void);
/* Bytes of ballast held now. */
size_t nt_ballast_held(void);

/* ---- nbd-oom.c ------------------------------------------------------ */

/* When for seconds in a row (rounded up, by the clock) writes were refused
 * because the device is full, nothing was read, at most one write was
 * taken for four refused, and the kernel's memory
 * pressure had every task waiting, ask the kernel's OOM killer to act
 * (sysrq "f").  0: never.  Files it cannot use: a warning, and no thread
 * (0).  -errno when the thread cannot start. */
int nt_oom_start(double seconds);
void nt_oom_stop(void);
/* On a connection's thread as it opens: whether its client is on this
 * machine (a Unix socket, the loopback); never asks once one is not. */
void nt_oom_peer(void);

/* A read answered: the swap moves.  On the request path: one load, and a
 * store only when the flag was clear. */
extern _Atomic bool nt_oom_read_flag;
static inline void nt_oom_read(void)
{
	if (!atomic_load_explicit(&nt_oom_read_flag, memory_order_relaxed))
		atomic_store_explicit(&nt_oom_read_flag, true,
				      memory_order_relaxed);
}

/* A write request taken whole: counted, to be weighed against the writes
 * refused (one refused after some of its pages were taken counts only as
 * refused).  On the request path: one relaxed add. */
extern _Atomic uint64_t nt_oom_taken_count;
static inline void nt_oom_taken(void)
{
	atomic_fetch_add_explicit(&nt_oom_taken_count, 1, memory_order_relaxed);
}

/* ---- nbd-overflow.c ------------------------------------------------- */

/* Open (creating if needed) the overflow file at path, allocate all of
 * bytes with posix_fallocate, and attach the slot map kept in the shared
 * memory file map_name (so a restarted server finds what it had spilled;
 * label ties the map to one life of the sub-pool: another label resets
 * it).  The file must be a regular file, not a symbolic link, this user's
 * and private to it (0600), and no other server's: it is locked for the
 * server's life.  On failure, -errno and a message in err naming the
 * file; a file it created is removed again. */
int nt_ov_open(const char *path, uint64_t bytes, uint64_t device_pages,
	       const char *map_name, uint64_t label, struct nt_overflow **out,
	       char *err, size_t errlen);
void nt_ov_close(struct nt_overflow *ov);
/* In the serving process, before serving: make every page of the slot
 * maps present and private to it. */
void nt_ov_touch(struct nt_overflow *ov);
/* For a server started without an overflow file: -EEXIST and a message
 * in err when map_name records pages of this life of the sub-pool (label)
 * in a file, which a server without it would read as zeros; 0 when there
 * is no such map (or it is not this user's private file). */
int nt_ov_map_check(const char *map_name, uint64_t label, char *err,
		    size_t errlen);
/* Remove the shared map of a sub-pool being reset.  Absent is fine. */
void nt_ov_unlink_map(const char *map_name);

/* All callers below must hold page's stripe lock. */
uint32_t nt_ov_lookup(struct nt_overflow *ov, uint64_t page);
/* Write a page (page-aligned buf) into page's slot, taking a free slot if
 * it has none.  -ENOSPC when every slot is taken. */
int nt_ov_write(struct nt_overflow *ov, uint64_t page, const void *buf);
/* Read page's slot into buf (page-aligned): -EIO if the bytes are not
 * that page's as written (their checksum, bound to the page and the
 * export's life, fails). */
int nt_ov_read(struct nt_overflow *ov, uint64_t page, uint32_t slot, void *buf);
/* Slots whose map record was damaged at start: the pages they held are
 * unknown, so a page found nowhere may be one of them. */
uint64_t nt_ov_lost(const struct nt_overflow *ov);
/* Give page's slot back, if it has one. */
void nt_ov_release(struct nt_overflow *ov, uint64_t page);

int nt_ov_sync(struct nt_overflow *ov);
uint64_t nt_ov_slots(const struct nt_overflow *ov);
uint64_t nt_ov_slots_used(struct nt_overflow *ov);

#endif /* NBD_INTERNAL_H */
