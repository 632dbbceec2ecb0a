/* tmem: the shared compressed page pool — public API.
 *
 * This is the only way into the pool.  The nbdkit plugin (nbd-tmem/), the
 * FUSE cache (fuse-cache/) and tmemctl all go through it.  The pool lives in
 * a shared-memory segment (a file under /dev/shm) mapped by every process
 * that uses it; everything inside is addressed by offsets.
 *
 * Error convention: every function returns 0 (or a non-negative value where
 * stated) on success and -errno on failure.  Nothing here logs through a
 * front-end; diagnostics go to the optional log callback in tmem_options.
 *
 * Thread safety: a struct tmem handle may be used by many threads at once.
 * put/get/flush allocate no heap memory once tmem_open has returned.
 */
#ifndef TMEM_H
#define TMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TMEM_PAGE_SIZE	       4096
#define TMEM_PAGE_SHIFT	       12
#define TMEM_NAME_MAX	       63 /* segment and sub-pool names */
#define TMEM_DEFAULT_SEGMENT   "tmem"
#define TMEM_DEFAULT_LEVEL     3
#define TMEM_DEFAULT_POOL_SIZE (256ULL << 20)
/* What tmem_open takes: opts->contexts from 1 to TMEM_CONTEXTS_MAX, and,
 * when creating, opts->pool_size from TMEM_POOL_SIZE_MIN to
 * TMEM_POOL_SIZE_MAX (blob locations are 32 bits of 4-byte units). */
#define TMEM_CONTEXTS_MAX  62
#define TMEM_POOL_SIZE_MIN (1ULL << 20)
#define TMEM_POOL_SIZE_MAX ((16ULL << 30) - (128 << 10))
/* What the reserved minimums of a pool of pool_size bytes may add up to
 * so that each can be kept: its 64 KiB chunks but one, which puts always
 * leave free for compaction. */
#define TMEM_RESERVABLE(pool_size) ((((uint64_t)(pool_size) >> 16) - 1) << 16)

enum tmem_kind {
	TMEM_PERSISTENT = 0, /* frontswap: never dropped */
	TMEM_EPHEMERAL = 1,  /* cleancache: may be dropped at any time */
};

/* Which stored pages a sub-pool's put may share (deduplicate) with.  A put
 * that finds an identical page is faster than one that stores it, so
 * whoever can put pages into a sub-pool can time whether a guessed page is
 * already among those it may share with (the KSM attacks): sharing is a
 * trust boundary.  Across sub-pools it never happens.  The trained
 * dictionaries keep to the same boundary: each compresses only the pages
 * of the sub-pool (or of the TMEM_DEDUP_POOL sub-pools) whose pages
 * trained it, and a TMEM_DEDUP_NONE sub-pool's pages never use one. */
enum tmem_dedup_scope {
	TMEM_DEDUP_SUBPOOL = 0, /* with the sub-pool's own pages (default):
				 * for a sub-pool with one owner */
	TMEM_DEDUP_NONE = 1,	/* never: for a sub-pool whose puts come from
				 * users who must not learn of each other's
				 * pages (the read cache's default) */
	TMEM_DEDUP_POOL = 2,	/* with every persistent sub-pool set so: an
				 * opt-in for owners who trust each other
				 * (guests of one image).  Their pages are
				 * stored in the sub-pool TMEM_SHARED_POOL,
				 * charged to it rather than to them */
};
/* The sub-pool holding the pages of TMEM_DEDUP_POOL sub-pools.  Its name is
 * reserved: tmem_pool_open refuses it.  It cannot be destroyed while it
 * holds a page. */
#define TMEM_SHARED_POOL ".shared"

enum tmem_log_level {
	TMEM_LOG_ERROR = 0,
	TMEM_LOG_WARNING = 1,
	TMEM_LOG_INFO = 2,
	TMEM_LOG_DEBUG = 3,
};

typedef void (*tmem_log_fn)(void *opaque, enum tmem_log_level level,
			    const char *msg);

/* How a process opens (creates or attaches to) the segment.
 * tmem_options_init fills in the defaults. */
struct tmem_options {
	const char *name;   /* segment name: /dev/shm/NAME; default "tmem" */
	uint64_t pool_size; /* ceiling in bytes when this process creates
			     * the segment; ignored on attach */
	int level;	    /* zstd level, negative levels allowed */
	bool dedup;	    /* deduplicate identical pages (default true) */
	bool dictionary;    /* train zstd dictionaries, one per sub-pool
			     * (TMEM_DEDUP_POOL ones share one), on the first
			     * pages stored, by a process that runs
			     * tmem_start, and compress with them from then on
			     * (default true; when creating the segment) */
	bool create;	    /* create the segment if missing (default true) */
	bool readonly;	    /* attach read-only (tmemctl); implies !create */
	bool prefault;	    /* reserve and fault in the whole segment now */
	bool lock;	    /* lock segment pages on fault (mlock2 ONFAULT) */
	bool grower;	    /* run the background thread that keeps a reserve
			     * of pre-faulted chunks (see tmem_start) */
	bool put_may_grow;  /* with the grower: a put that finds the reserve
			     * empty may fault one chunk in itself (and an
			     * index record the grower has not) instead of
			     * failing (default false; never on a swap path,
			     * where a put must not fault memory in) */
	unsigned contexts;  /* compression contexts = concurrent put/get
			     * callers served without waiting (default 16,
			     * at most 62) */
	tmem_log_fn log;    /* optional */
	void *log_opaque;
	/* The most detailed level passed to log (default TMEM_LOG_DEBUG,
	 * all); a message past it is not even formatted, which a serving
	 * process wants: a put that formats a message it drops runs deeper
	 * on its stack than any other put, and faults a page in. */
	enum tmem_log_level log_level;
};

struct tmem; /* one process's handle on a segment */

/* Fill *opts with the defaults.  Cannot fail. */
void tmem_options_init(struct tmem_options *opts);

/* Create or attach to the segment named opts->name.  Validates magic,
 * layout version and geometry on attach (-EPROTO for another version or
 * geometry, -EBADMSG for a corrupt header, -ENOENT if missing and
 * !opts->create, -ENOSPC if /dev/shm cannot hold a prefaulted segment,
 * -EPERM for a segment owned by another user or open to group or other
 * (see tmem_file_private), -EINVAL for bad options).  Takes a shared flock held
 * until tmem_close. Repairs what a process that died while attached left half
 * done, unless a live process running a grower is attached: its grower
 * thread repairs then (a tool never stops the world of a pool that is
 * served).  When every process slot is taken and one of them is a dead
 * process's, the slot comes back only by that repair: on a served pool the
 * open waits for the server's grower, and fails with -ETIMEDOUT (the log
 * names the serving pid) if it has not repaired within the bound (10 s). */
int tmem_open(const struct tmem_options *opts, struct tmem **out);

/* Start the background grower thread (if opts->grower) and, while the
 * segment was made with opts->dictionary, the thread that trains one for
 * each sub-pool this process stores pages of that has none yet, on
 * sampled pages, while a slot is free (TMEM_DICT_SLOTS).  Call it in the
 * process that serves, after any fork (threads do not survive fork).
 * With opts->grower a put never faults segment memory in: when the reserve
 * of pre-faulted chunks is empty, or the index records faulted in ahead
 * are used up, it fails at once with -ENOSPC (reject RESERVE_EMPTY, or
 * RECORDS_LATER) and the grower refills them; retry.  With put_may_grow too,
 * such a put faults what it needs in itself instead.  Without a grower, puts
 * fault chunks in themselves (tests, tools).  The reserve grows with the
 * rate chunks are taken (see docs/pool.md). */
int tmem_start(struct tmem *t);

/* Lock in memory the segments of the loaded object (program or shared
 * library) that holds addr; NULL: the program.  Every page of its code,
 * constants and data is read in now and stays, so a path run for the
 * first time does not fault on them (a serving process locks only what it
 * touches); so is its bss when the writable segment is at most 1 MiB.  A
 * process opened with opts->lock does this for the pool's own code, zstd,
 * the C library and the dynamic loader; a server adds its own program.  0;
 * -ENOENT when no object holds addr; the mlock error as -errno (EPERM,
 * ENOMEM: no CAP_IPC_LOCK and RLIMIT_MEMLOCK too low). */
int tmem_lock_code(const void *addr);

/* Does the program, or a library loaded in it, bind its calls lazily?
 * Then the first call of each function resolves it in the dynamic loader,
 * which reads the symbol tables of every loaded library: pages no process
 * locks.  glibc's own libc.so binds its calls to malloc and the loader so,
 * unless LD_BIND_NOW is set: false then, and when every loaded object
 * with calls to bind was linked -z now (a server started with
 * LD_BIND_NOW=1 resolves every call at start). */
bool tmem_binds_lazily(void);

/* Stop threads, unmap, drop the flock.  Accepts NULL.  Never fails. */
void tmem_close(struct tmem *t);

/* Remove the named segment.  -EBUSY while any process is attached;
 * -EBADMSG, and nothing removed, if the file is not a tmem segment (no
 * tmem magic); -EPERM if another user owns it and the caller is not
 * root. */
int tmem_unlink(const char *name);

/* Is the open file fd fit to hold a pool's data or one of its side files
 * (a lock, an overflow map)?  A regular file owned by the effective uid
 * with no group or other permission bits: a file another user made first
 * (a squatter in /dev/shm) or could read is refused.  0, or -EPERM with
 * the reason in why (a sentence naming the owner or the mode). */
int tmem_file_private(int fd, char *why, size_t whylen);

/* A readable description of a -errno returned by this API. */
const char *tmem_strerror(int err);

/* The package version, e.g. "0.1.0". */
const char *tmem_version(void);

/* ---- sub-pools ---------------------------------------------------- */

/* Open the sub-pool called name, creating it if it does not exist.
 * min_bytes is reserved for it (other pools' ephemeral pages are evicted
 * to honour it); max_bytes caps it (0 = no cap).  -EEXIST if a pool of
 * that name exists with another kind; -ENOSPC if the table is full.
 * On success *pool_id is the id to pass to the calls below, and this
 * process holds the sub-pool until it destroys it or closes the handle
 * (or dies): no other process can destroy it meanwhile. */
int tmem_pool_open(struct tmem *t, const char *name, enum tmem_kind kind,
		   uint64_t min_bytes, uint64_t max_bytes, uint32_t *pool_id);

/* Set which stored pages the sub-pool's later puts may share (a new
 * sub-pool starts with TMEM_DEDUP_SUBPOOL; a segment made with dedup off
 * shares nothing whatever this says).  Pages stored before keep what they
 * share and where they are.  TMEM_DEDUP_POOL (persistent sub-pools only)
 * also opens TMEM_SHARED_POOL in this process, creating it if needed; a
 * process that puts into the sub-pool without having set it so, or a
 * segment made with dedup off, stores its pages in the sub-pool's own
 * chunks.  -ENOENT for a stale id, -EINVAL for another scope, or for
 * TMEM_DEDUP_POOL on an ephemeral sub-pool or one with a reserved minimum
 * (its pages would not be in its chunks), -ENOSPC when the shared sub-pool
 * cannot be made, -EROFS. */
int tmem_pool_set_dedup(struct tmem *t, uint32_t pool_id,
			enum tmem_dedup_scope scope);

/* Look up a sub-pool by name without creating it: -ENOENT if absent.
 * -EINPROGRESS while a destroy of a sub-pool of that name still holds its
 * pages: a destroy of a swap sub-pool handed to the swap server's grower
 * (see tmem_pool_destroy), or one a repair finishes.  With no swap server
 * alive any more, this call finishes such a destroy itself (then
 * -ENOENT). */
int tmem_pool_find(struct tmem *t, const char *name, uint32_t *pool_id);

/* Whether a destroy of a sub-pool called name is pending, its pages still
 * held (tmem_pool_find answers -EINPROGRESS for the name, or finishes
 * it): 1 or 0; -EINVAL for a bad name.  Changes nothing and takes no lock,
 * so it works on a read-only handle, whose attach repairs nothing: asked
 * there before a read-write attach and its lookup, it tells a destroy
 * that they finished (the attach's repair of a dead swap server's half,
 * or tmem_pool_find) from a name that was never there. */
int tmem_pool_destroying(struct tmem *t, const char *name);

/* Drop every page of the pool and free its id.  Later calls with the old
 * id return -ENOENT (ids are generation-tagged, never silently reused).
 * A persistent sub-pool's pages lie on the swap stripes: while a swap
 * server (a process whose grower serves a persistent sub-pool) lives, a
 * process that is none leaves them to that server's grower and waits for
 * it, holding no lock, at most 10 s; then -ETIMEDOUT, and the server
 * finishes the destroy later (the id is gone at once; the name is found
 * as being destroyed until then: tmem_pool_find).
 * -EBUSY, and nothing dropped, while another live process holds it (has
 * it open: see tmem_pool_open); the log callback names that process.
 * -ENOTEMPTY for TMEM_SHARED_POOL while it holds pages; -EBUSY for it in
 * a process that set a sub-pool to TMEM_DEDUP_POOL (its puts store there). */
int tmem_pool_destroy(struct tmem *t, uint32_t pool_id);

/* The other live processes that hold a sub-pool: their pids go to
 * pids[0..max), and the number of them is returned (it may exceed max).
 * -ENOENT: no such pool.  Works on a read-only handle too. */
int tmem_pool_holders(struct tmem *t, uint32_t pool_id, int *pids, int max);

/* ---- pages -------------------------------------------------------- */

/* Put, get, probe, read_back, flush_page, flush_range and flush_object
 * may also fail with -ETIMEDOUT: a repair of the key's half was due and
 * did not come in time.  In a process without a grower, it is left to
 * the grower of the live process that serves the pool, and waited for
 * 10 s (the log names its pid); in a process with a grower, to that
 * grower, which cannot take a lock that a stopped process holds, and
 * waited for 20 s, then by the half's next requests 1 s each until one
 * finds it repaired (a request never waits longer: a kernel swapping to
 * the process would wait with it; the request logs nothing).  A put or
 * get so refused changed nothing (a put's older version stays); a flush,
 * or a put whose older version was being dropped, may have removed some
 * of the key's pages first (flush_range, flush_object: of its keys). */

/* Store one 4096-byte page under (pool, object, index), replacing what was
 * there.  -ENOSPC: no room (persistent pools never evict persistent data).
 * A persistent sub-pool's put that fails leaves the key as it was (its
 * older version, if any, stays); an ephemeral one's drops any older
 * version (unless a repair was due and held up: then it may stay).
 * -ENOENT:
 * no such pool; -EIO: a stripe the put needs stayed damaged after the
 * repair it asked for (a damaged stripe asks for the repair of its half
 * and waits for it, as for a dead process's: see tmem_repair_wait), or the
 * key's index stripe could not be taken for the older version either.  An
 * ephemeral put may also quietly not be kept. */
int tmem_put(struct tmem *t, uint32_t pool, uint64_t object, uint64_t index,
	     const void *page);

/* Copy the page stored under the key into page: its own bytes, never
 * another key's.  -ENOENT: not there (a miss); -EIO: the page is damaged
 * — its stored bytes fail their checksum, its index entry fails the check
 * that binds it to the key, or its index bucket holds a damaged entry that
 * may have been this key's.  -EIO is sticky: every get of the key answers
 * it until the key is put or flushed; it is counted (checksum_errors) and
 * logged once per page. */
int tmem_get(struct tmem *t, uint32_t pool, uint64_t object, uint64_t index,
	     void *page);

/* What is stored under a key, without decompressing.  A damaged page
 * (one a get answers -EIO) is TMEM_PAGE_DATA, never absent or zero. */
enum tmem_page_state {
	TMEM_PAGE_ABSENT = 0,
	TMEM_PAGE_ZERO = 1, /* an all-zero page */
	TMEM_PAGE_DATA = 2, /* anything else */
};
int tmem_probe(struct tmem *t, uint32_t pool, uint64_t object, uint64_t index,
	       enum tmem_page_state *state);

/* Whether a persistent sub-pool's key holds a stored page (not a zero or
 * same-filled one, nor one another key shares) that was read since it was
 * last written: 1 or 0 (absent keys and damaged entries: 0), or -errno as
 * tmem_probe.  Such a page is likely stale (the kernel frees a swap slot on
 * swap-in without telling the device), so a caller may move it somewhere
 * cheaper.  A hint: the
 * caller must hold off writers of the key if it acts on the answer. */
int tmem_read_back(struct tmem *t, uint32_t pool, uint64_t object,
		   uint64_t index);

/* Forget one page / every page of an object.  Absent keys are fine.  On a
 * damaged segment a flush may wait for the repair of its half, as any
 * stripe's taker does, and answers -EIO when the damage may still hide
 * a page of the key after it (the page must not come back).
 * tmem_flush_object walks the index of every stripe of the pool's kind
 * (of a persistent sub-pool, its group's: docs/pool.md, "Concurrency and
 * crashes"): its cost grows with what the pool holds, not with the
 * object.  A caller
 * that knows where an object's pages are should use tmem_flush_range,
 * whose cost is count lookups whatever the pool holds. */
int tmem_flush_page(struct tmem *t, uint32_t pool, uint64_t object,
		    uint64_t index);
int tmem_flush_object(struct tmem *t, uint32_t pool, uint64_t object);

/* Forget the pages first .. first + count - 1 of an object (counted as one
 * flush).  Absent keys are fine. */
int tmem_flush_range(struct tmem *t, uint32_t pool, uint64_t object,
		     uint64_t first, uint64_t count);

/* ---- statistics --------------------------------------------------- */

/* Each reason has a counter in the segment, in the order below: a new one
 * goes last. */
enum tmem_reject {
	TMEM_REJECT_NOSPACE = 0,   /* segment full, nothing evictable */
	TMEM_REJECT_RESERVE_EMPTY, /* no pre-faulted chunk ready (or
				    * chunk_lock busy) */
	TMEM_REJECT_POOL_MAX,	   /* the sub-pool's max share reached */
	TMEM_REJECT_INDEX_FULL,	   /* no free index entry */
	TMEM_REJECT_LOCK_BUSY,	   /* ephemeral put skipped: lock busy */
	TMEM_REJECT_COMPRESS_FAIL, /* zstd returned an error */
	TMEM_REJECT_DAMAGED,	   /* a stripe it needs stayed damaged after
				    * the repair asked for (-EIO) */
	TMEM_REJECT_RECORDS_LATER, /* the index entry or blob record it
				    * needs is not faulted in ahead yet
				    * (or could not be: /dev/shm full,
				    * memory short); a page with no room
				    * is refused for that instead */
	TMEM_REJECT_NR
};
extern const char *const tmem_reject_names[TMEM_REJECT_NR];

/* Why the calling thread's last refused put was refused (TMEM_REJECT_NR
 * before any): a caller that retries tells a grower that is late
 * (TMEM_REJECT_RESERVE_EMPTY, TMEM_REJECT_RECORDS_LATER) from a limit no
 * wait lifts.  An empty reserve in a pool whose free chunks are all but
 * gone may be the pool filling up; records not yet faulted in are the
 * grower's lateness (or a full /dev/shm, or memory short), never the
 * pool's, even in a pool at its ceiling.  Thread-local,
 * no lock. */
enum tmem_reject tmem_last_reject(void);

/* Gauges (now): pages_stored .. raw_pages.  Counters (since creation):
 * puts .. rejects.  Evicted pages stay counted in pages_stored until the
 * grower (or the next miss on them) sweeps their index entries. */
struct tmem_stats {
	uint64_t pages_stored;	    /* keys present */
	uint64_t bytes_represented; /* 4096 * pages_stored */
	uint64_t bytes_used;	    /* segment bytes taken by data+metadata */
	uint64_t bytes_resident;    /* segment bytes in memory now; per
				     * sub-pool, the bytes of its chunks (64
				     * KiB each), below its bytes_used by
				     * its index records */
	uint64_t bytes_compressed;  /* payload bytes of stored blobs */
	uint64_t bytes_index;	    /* index records of the stored pages: an
				     * entry per key, a record per blob (part
				     * of bytes_used) */
	uint64_t zero_pages;
	uint64_t same_filled_pages; /* 16-bit patterns repeated; wider ones are
				     * compressed (a few bytes each) */
	uint64_t dedup_hits;	    /* puts that found an identical blob */
	uint64_t raw_pages;	    /* stored uncompressed (compression poor) */
	uint64_t pages_read_back;   /* persistent pages read since written:
				     * likely stale (swap frees a slot on
				     * swap-in without telling the device) */
	uint64_t bytes_read_back;   /* their payload bytes (a blob shared by
				     * several pages counts for each) */
	uint64_t puts;
	uint64_t gets;
	uint64_t hits;
	uint64_t misses;
	uint64_t flushes;
	uint64_t evictions;
	uint64_t checksum_errors;
	uint64_t rejects[TMEM_REJECT_NR];
};

struct tmem_pool_info {
	uint32_t id;
	char name[TMEM_NAME_MAX + 1];
	enum tmem_kind kind;
	enum tmem_dedup_scope dedup;
	uint64_t min_bytes, max_bytes;
	struct tmem_stats stats;
};

/* The segment's dictionaries at a glance, the most useful state any of
 * its slots is in: one ready, else one training, else one failed. */
enum tmem_dict_state {
	TMEM_DICT_SAMPLING = 0, /* none trained yet */
	TMEM_DICT_TRAINING = 1,
	TMEM_DICT_READY = 2,  /* in use */
	TMEM_DICT_FAILED = 3, /* training failed or did not pay */
	TMEM_DICT_OFF = 4,    /* dictionary = no */
};

struct tmem_segment_info {
	char name[TMEM_NAME_MAX + 1];
	uint32_t layout_version;
	uint64_t pool_size;	/* ceiling */
	uint64_t segment_bytes; /* mapped size */
	int level;
	bool dedup;
	bool dictionary;
	enum tmem_dict_state dict_state;
	uint32_t dict_bytes; /* of the ready ones */
	unsigned dicts;	     /* dictionaries ready, one per group */
	unsigned dict_slots; /* at most (TMEM_DICT_SLOTS) */
	unsigned attached;   /* processes attached now (best effort) */
	unsigned max_pools;
};

int tmem_segment_info(struct tmem *t, struct tmem_segment_info *info);

/* Whole-segment statistics. */
int tmem_stats_get(struct tmem *t, struct tmem_stats *st);

/* Bytes of the pool's ceiling that hold no data: chunks free or never
 * used yet (the grower's reserve among them).  While it is above zero, a
 * put refused for want of room is waiting for the grower, not for space:
 * the metadata, the reserve already faulted in and the page tables do
 * not count against it.  Lock-free and approximate (a moment old). */
uint64_t tmem_room(struct tmem *t);

/* What this process's grower thread is doing: the step it is in and
 * since how long; and the segment's free chunks (the reserve, those still
 * to fault in, those to punch), which another process's grower may be
 * the one to fill.  For a message when a put waited for the grower in
 * vain.  Lock-free, allocates nothing: a swap request may call it.
 * -ENOENT when the process runs no grower (no tmem_start). */
struct tmem_grower_info {
	const char *step; /* "waiting", "repairing", "checking", "growing",
			   * "faulting chunks in" (the kernel allocating
			   * their pages), "faulting in records",
			   * "punching", "trimming", "compacting",
			   * "reaping" */
	uint64_t step_ms;
	bool allocating; /* step is "faulting chunks in" or "faulting in
			  * records": in the kernel's allocator */
	uint64_t reserve, holes, to_punch; /* chunks */
};
int tmem_grower_info(struct tmem *t, struct tmem_grower_info *gi);

/* Sub-pool pool's pages and the bytes they use (chunks, records), read
 * from its gauges alone: no process's counters, nothing that opening it did
 * not touch, so a swap request may call it.  -ENOENT for a bad id. */
int tmem_pool_usage(struct tmem *t, uint32_t pool, uint64_t *pages,
		    uint64_t *bytes_used);

/* Per sub-pool: fills up to max entries, returns how many pools exist. */
int tmem_pool_list(struct tmem *t, struct tmem_pool_info *pools, int max);

/* Walk every structure and check it is consistent (free lists, refcounts,
 * index, chunk layout, accounting).  0 if sound, -EUCLEAN if not; problems
 * are reported through the log callback of the process that ran the walk.
 * First repairs what processes that died while attached left behind.
 * Stops the world one half at a time (every lock of the persistent
 * sub-pools, then of the ephemeral ones): for tests and tools, not the
 * data path.  In a process without a grower, on a pool that a live process
 * with a grower serves, neither runs here: that grower is asked and runs
 * them, and this waits for its answer, holding no lock, at most 10 s
 * (then -ETIMEDOUT, the serving pid in the log).  -EROFS read-only. */
int tmem_check(struct tmem *t);

/* What tmem_check_report found. */
struct tmem_check_result {
	unsigned problems; /* differences found */
	int checked_by;	   /* pid whose grower ran the check (its log has
			    * the details), 0: this process ran it */
};

/* tmem_check, saying what it found and where it ran. */
int tmem_check_report(struct tmem *t, struct tmem_check_result *res);

/* What tmem_verify found. */
struct tmem_verify_result {
	uint64_t entries;     /* index entries looked at */
	uint64_t pages;	      /* stored pages decompressed (deep) */
	uint64_t bad_pages;   /* entries or pages that fail their check */
	uint64_t bad_chains;  /* index chains that are broken, and
			       * stripes whose bucket count is damaged */
	uint64_t cut_stripes; /* index stripes whose chains miss entries,
			       * and stripes whose bucket count is damaged
			       * (among bad_chains): repair was asked for,
			       * which relinks them */
	int served_by;	      /* pid of the live server that the
			       * persistent half was left to (see
			       * tmem_verify), 0: all verified here */
};

/* Verify without stopping the world: one index stripe is held at a time,
 * for one bucket (or, to count its chains, for the stripe's links).
 * Every index chain stays in the table and ends; every entry's check
 * binds what it holds to its key (sub-pool, object, index; a blob's
 * content hash); every blob record it names is in range; every stripe's
 * chains reach exactly the entries it holds.  Nothing is changed, except
 * that a stripe whose chains miss entries asks for the repair, which
 * relinks them from the records before the data path uses the pool
 * again.  deep: also decompress every stored page and compare its
 * checksum, at most pages_per_sec a second (0: no bound).  Every problem
 * goes to the log callback, naming the sub-pool, object and index.  0 if
 * sound, -EUCLEAN if not, -EROFS read-only.  Pages written meanwhile may
 * be looked at twice or not at all.  A process that runs no grower never
 * takes a persistent sub-pool's lock while a live process's grower serves
 * the pool (a stalled tool must not hold what swap needs): it verifies
 * the ephemeral half only and sets res->served_by; tmem_check_report has
 * the server verify the persistent half (not deep). */
int tmem_verify(struct tmem *t, bool deep, uint64_t pages_per_sec,
		struct tmem_verify_result *res);

#ifdef __cplusplus
}
#endif

#endif /* TMEM_H */
