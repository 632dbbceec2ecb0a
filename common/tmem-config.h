/* tmem: configuration — the settings, the size parser and the tmem.conf
 * reader.
 *
 * Every front-end (plugin, FUSE daemon, tmemctl) takes the same keys with
 * the same meaning.  A key may come from the INI file (section [pool],
 * [swap] or [cache]) or from the command line (tmem_opt_set, in
 * tmem-opt.h, which also knows each key's type and range); the command
 * line wins.
 *
 * Error convention: 0 or -errno; where an error message buffer is passed,
 * it receives a one-line message ("FILE:LINE: key: what is wrong" for the
 * file, "key: what is wrong" for the command line).
 */
#ifndef TMEM_CONFIG_H
#define TMEM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tmem.h"

#define TMEM_DEFAULT_CONFIG "/etc/tmem.conf"

/* How many [pool] min-share.NAME / max-share.NAME sub-pools a file may
 * name, and how many keys the file knows (sizes origin[] below). */
#define TMEM_CONFIG_SHARES_MAX 32
#define TMEM_CONFIG_KEYS_MAX   40

/* Parse a size: decimal digits with an optional K, M, G or T suffix
 * (powers of 1024, any case, an optional trailing "B" or "iB"), or, when
 * allow_percent, "N%" of physical RAM.  -EINVAL for a malformed string,
 * -ERANGE on overflow.  "0" is valid; callers reject it where it is not. */
int tmem_parse_size(const char *str, bool allow_percent, uint64_t *out);

/* Parse a boolean: 1/0, true/false, yes/no, on/off (any case).
 * -EINVAL for anything else. */
int tmem_parse_bool(const char *str, bool *out);

/* Limits a sub-pool's share of the pool: [pool] min-share.NAME = SIZE and
 * max-share.NAME = SIZE.  0 means "none" / "no cap". */
struct tmem_config_share {
	char name[TMEM_NAME_MAX + 1];
	uint64_t min_bytes;
	uint64_t max_bytes;
	int min_origin, max_origin; /* as origin[] below */
};

/* [swap] dedup-scope =: what the device's pages may share. */
enum tmem_scope_key {
	TMEM_SCOPE_SUBPOOL = 0, /* its own pages only (TMEM_DEDUP_SUBPOOL) */
	TMEM_SCOPE_POOL = 1,	/* every sub-pool set so (TMEM_DEDUP_POOL) */
};

/* The cache's -o admit=: when a chunk goes to the pool under pressure. */
enum tmem_admit {
	TMEM_ADMIT_REPEAT = 0, /* at its second miss */
	TMEM_ADMIT_ALL = 1,    /* at every miss */
};

struct tmem_config {
	/* [pool] */
	char pool_name[TMEM_NAME_MAX + 1]; /* name = */
	uint64_t pool_size;		   /* size = (bytes, K/M/G/T, %) */
	int level;			   /* level = zstd level */
	bool dedup;			   /* dedup = */
	bool dictionary;		   /* dictionary = */
	bool lock;			   /* lock = lock on fault */
	bool prefault;			   /* prefault = */
	unsigned contexts;		   /* contexts = */

	/* [swap] */
	uint64_t swap_size;	  /* size = device size */
	char swap_overflow[4096]; /* overflow = file path, "" = none */
	char swap_export[TMEM_NAME_MAX + 1]; /* export = sub-pool name */
	char swap_socket[4096];		     /* socket = unix socket path */
	uint64_t swap_min_share;	     /* min-share = reserved for swap */
	unsigned swap_threads;		     /* threads = nbdkit -t */
	int swap_priority;		     /* priority = swapon -p */
	int swap_dedup_scope;	     /* dedup-scope = enum tmem_scope_key */
	double swap_demote_after;    /* demote-after = seconds between looks
				      * for pages read back to move to the
				      * overflow file; 0 = never */
	uint64_t swap_ballast;	     /* ballast = memory the server gives
				      * back at the minimum watermark */
	uint64_t swap_watermark_gap; /* watermark-gap = free memory between
				      * the kernel's watermarks that
				      * tmem-swap asks for */
	bool swap_free_notify;	     /* free-notify = tmem-swap passes the
				      * plugin swap-device= */
	double swap_full_oom;	     /* full-oom = seconds of refused writes
				      * with every task stalled before the
				      * server asks for an OOM kill; 0 =
				      * never */
	bool swap_realtime;	     /* realtime = request threads run
				      * SCHED_RR (the kernel's reserve below
				      * the minimum watermark) */

	/* [cache] */
	uint64_t cache_chunk_size;  /* chunk-size = source read size */
	uint64_t cache_max_share;   /* max-share = cap of the cache sub-pool */
	double cache_attr_timeout;  /* attr-timeout = seconds */
	double cache_entry_timeout; /* entry-timeout = seconds */
	bool cache_dedup;	    /* dedup = share pages across files */
	char cache_name[TMEM_NAME_MAX + 1]; /* name = sub-pool name, "" = from
					     * the mountpoint */

	/* Command line only (no tmem.conf key). */
	uint64_t swap_overflow_size; /* plugin overflow-size=, 0 = the
				      * device size */
	bool swap_reset;	     /* plugin reset= */
	uint64_t swap_max_share;     /* plugin max-share=, 0 = none: a cap
				      * on the export's sub-pool */
	double cache_granularity;    /* cache -o timestamp-granularity= */
	int cache_admit;	     /* cache -o admit=: enum tmem_admit */
	bool cache_acl;		     /* cache -o acl=: the kernel checks ACLs */
	bool cache_cto; /* cache -o cto=: each open asks the source */
	unsigned cache_kept_inodes; /* cache -o kept-inodes=, 0 = from the
				     * share */

	/* [pool] min-share.NAME, max-share.NAME */
	struct tmem_config_share shares[TMEM_CONFIG_SHARES_MAX];
	unsigned nr_shares;

	/* Where each value came from, for messages and precedence: 0 = the
	 * default, -1 = the command line, N > 0 = line N of file[].  Indexed
	 * by tmem-opt.c's key table; read it through the functions. */
	int origin[TMEM_CONFIG_KEYS_MAX];
	char file[4096];
};

/* Defaults for every key. */
void tmem_config_init(struct tmem_config *cfg);

/* Read an INI file into cfg (keys not in the file keep their value).
 * Keys already set by tmem_config_set keep the command line's value
 * whatever the order of the calls, but the file's value is still checked.
 * -ENOENT if the file is missing (callers ignore that for the default
 * path), another -errno if it cannot be read (err says why), -EINVAL
 * with "FILE:LINE: key: ..." in err for a bad file. */
int tmem_config_load(struct tmem_config *cfg, const char *path, char *err,
		     size_t errlen);

/* The same on a file already in memory (tests, the fuzzer); filename is
 * only used in messages.  buf need not be NUL-terminated. */
int tmem_config_load_buffer(struct tmem_config *cfg, const char *filename,
			    const char *buf, size_t len, char *err,
			    size_t errlen);

/* Set one key as given on a command line, by its tmem.conf name (the
 * front-ends use tmem_opt_set, by the command-line name).  section is
 * "pool", "swap" or "cache"; key is the INI key.  -ENOENT for an unknown key,
 * -EINVAL or -ERANGE for a bad value, with "key: ..." in err. */
int tmem_config_set(struct tmem_config *cfg, const char *section,
		    const char *key, const char *value, char *err,
		    size_t errlen);

/* Check for conflicting settings after everything is set: shares larger
 * than the pool or than each other, reserved shares adding up to more
 * than the pool, the cache and the swap device on one sub-pool.  -EINVAL
 * with "FILE:LINE: key: ..." (or "key: ..." for the command line). */
int tmem_config_validate(const struct tmem_config *cfg, char *err,
			 size_t errlen);

/* The [pool] min-share.NAME / max-share.NAME of sub-pool name: 0 if the
 * config names it, each value stored only where it was given (the other
 * keeps what the caller put there: its own default, e.g. [swap] min-share
 * or [cache] max-share); -ENOENT, nothing stored, if not. */
int tmem_config_share(const struct tmem_config *cfg, const char *name,
		      uint64_t *min_bytes, uint64_t *max_bytes);

/* Whether name is a valid segment or sub-pool name: 1 to TMEM_NAME_MAX
 * letters, digits, '.', '_' or '-', not starting with '.' or '-'. */
bool tmem_config_name_ok(const char *name);

/* Fill the fields of opts that the config decides (name, pool_size,
 * level, dedup, lock, prefault, contexts); the others are left alone, so
 * call tmem_options_init first.  opts->name points into cfg. */
void tmem_config_to_options(const struct tmem_config *cfg,
			    struct tmem_options *opts);

/* The value of one key as text, for scripts: sizes in bytes, booleans
 * yes/no, names and paths as they are; min-share.NAME and max-share.NAME
 * of [pool] give 0 for a sub-pool the config does not name.  0, or
 * -ENOENT for an unknown key. */
int tmem_config_get(const struct tmem_config *cfg, const char *section,
		    const char *key, char *buf, size_t len);

/* Write the effective configuration as a tmem.conf (every key, with
 * where it came from as a comment).  Returns 0 or -errno. */
int tmem_config_print(const struct tmem_config *cfg, FILE *fp);

#endif /* TMEM_CONFIG_H */
