/* tmem: configuration — the one size parser and the tmem.conf reader.
 *
 * Every front-end (plugin, FUSE daemon, tmemctl) takes the same keys with
 * the same meaning.  A key may come from the INI file (section [pool],
 * [swap] or [cache]) or from the command line; the command line wins.
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

#include "tmem.h"

#define TMEM_DEFAULT_CONFIG "/etc/tmem.conf"

/* Parse a size: decimal digits with an optional K, M, G or T suffix
 * (powers of 1024, any case, an optional trailing "B" or "iB"), or, when
 * allow_percent, "N%" of physical RAM.  -EINVAL for a malformed string,
 * -ERANGE on overflow.  "0" is valid; callers reject it where it is not. */
int tmem_parse_size(const char *str, bool allow_percent, uint64_t *out);

/* Parse a boolean: 1/0, true/false, yes/no, on/off (any case). */
int tmem_parse_bool(const char *str, bool *out);

struct tmem_config {
	/* [pool] */
	char pool_name[TMEM_NAME_MAX + 1]; /* name = */
	uint64_t pool_size;		   /* size = (bytes, K/M/G/T, %) */
	int level;			   /* level = zstd level */
	bool dedup;			   /* dedup = */
	bool lock;			   /* lock = lock on fault */
	bool prefault;			   /* prefault = */
	unsigned contexts;		   /* contexts = */

	/* [swap] */
	uint64_t swap_size;	    /* size = device size */
	char swap_overflow[4096];   /* overflow = file path, "" = none */
	char swap_export[TMEM_NAME_MAX + 1]; /* export = sub-pool name */
	char swap_socket[4096];	    /* socket = unix socket path */
	uint64_t swap_min_share;    /* min-share = reserved for swap */
	unsigned swap_threads;	    /* threads = nbdkit -t */
	int swap_priority;	    /* priority = swapon -p */

	/* [cache] */
	uint64_t cache_chunk_size;  /* chunk-size = source read size */
	uint64_t cache_max_share;   /* max-share = cap of the cache sub-pool */
	double cache_attr_timeout;  /* attr-timeout = seconds */
	double cache_entry_timeout; /* entry-timeout = seconds */
	char cache_name[TMEM_NAME_MAX + 1]; /* name = sub-pool name, "" = from
					     * the mountpoint */
};

/* Defaults for every key. */
void tmem_config_init(struct tmem_config *cfg);

/* Read an INI file into cfg (keys not in the file keep their value).
 * -ENOENT if the file is missing (callers ignore that for the default
 * path), -EINVAL with "FILE:LINE: key: ..." in err for a bad file. */
int tmem_config_load(struct tmem_config *cfg, const char *path, char *err,
		     size_t errlen);

/* Set one key as given on a command line.  section is "pool", "swap" or
 * "cache"; key is the INI key.  -ENOENT for an unknown key, -EINVAL or
 * -ERANGE for a bad value, with "key: ..." in err. */
int tmem_config_set(struct tmem_config *cfg, const char *section,
		    const char *key, const char *value, char *err,
		    size_t errlen);

/* Check for conflicting settings after everything is set. */
int tmem_config_validate(const struct tmem_config *cfg, char *err,
			 size_t errlen);

/* The pool options the config implies. */
void tmem_config_to_options(const struct tmem_config *cfg,
			    struct tmem_options *opts);

#endif /* TMEM_CONFIG_H */
