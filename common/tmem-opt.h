/* tmem: the one option parser — every key of every program, once.
 *
 * A single table (tmem-opt.c) knows each key: its tmem.conf section and
 * key, its command-line name, the programs that take it on their command
 * line, its type and range, and the field of struct tmem_config it lands
 * in.  The plugin's KEY=VALUE keys, the cache's -o options, tmemctl's
 * KEY=VALUE and --segment, and the entries of tmem.conf all go through
 * it, so a value is checked against the same range and refused with the
 * same words wherever it comes from: "KEY: what is wrong", KEY being the
 * name as the user typed it (the file adds "FILE:LINE: " in front).
 *
 * The ranges are the pool's own (tmem_open's contexts and pool size, the
 * linked zstd's levels), so a value the parser takes is never refused
 * later for being out of range.
 */
#ifndef TMEM_OPT_H
#define TMEM_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmem-config.h"

/* The programs that take a key on their command line (a bit set). */
#define TMEM_OPT_PLUGIN 1u /* nbdkit tmem KEY=VALUE */
#define TMEM_OPT_CACHE	2u /* tmem-fuse-cache -o KEY=VALUE */
#define TMEM_OPT_CTL	4u /* tmemctl KEY=VALUE (and --segment: pool) */

/* Set KEY=VALUE as given to program prog (one TMEM_OPT_*) on its command
 * line.  The command line wins over tmem.conf whatever the order of this
 * and tmem_config_load.  0; -ENOENT if prog takes no such key; -EINVAL,
 * -ERANGE or -ENAMETOOLONG for a bad value, cfg then unchanged.  On
 * error err gets "KEY: what is wrong" ("KEY: unknown key" for -ENOENT). */
int tmem_opt_set(struct tmem_config *cfg, unsigned prog, const char *key,
		 const char *value, char *err, size_t errlen);

/* Whether prog takes the key whose name is the keylen bytes at key (the
 * cache asks this of each -o KEY=VALUE before libfuse sees it). */
bool tmem_opt_known(unsigned prog, const char *key, size_t keylen);

/* ---- for tmem-config.c ---------------------------------------------- */

/* One error message into err (nothing if err is NULL or errlen 0). */
void tmem_opt_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A size for messages: the largest suffix that is exact ("64M"). */
const char *tmem_opt_fmt_size(uint64_t v, char *buf, size_t len);

/* The number of keys in the table (indexes of cfg->origin[]). */
size_t tmem_opt_count(void);

/* Key i of the table: its tmem.conf section (NULL for a key of the
 * command line only, which the file refuses and print leaves out) and
 * key.  Keys of one section are next to each other, in print order. */
const char *tmem_opt_section(size_t i);
const char *tmem_opt_key(size_t i);

/* The index of [section] key, or -1. */
int tmem_opt_index(const char *section, const char *key);

/* The value of key i in cfg as text: sizes with the largest exact suffix,
 * or in bytes when bytes is set (for scripts). */
void tmem_opt_format(const struct tmem_config *cfg, size_t i, bool bytes,
		     char *buf, size_t len);

/* "min-share.NAME" / "max-share.NAME" of [pool]: 0 or 1 for which, with
 * *name set; -1 if key is not of that form. */
int tmem_opt_share_key(const char *key, const char **name);

/* The index in cfg->shares[] of sub-pool name, or -1. */
int tmem_opt_share_find(const struct tmem_config *cfg, const char *name);

/* Which keys one file has set, to refuse a key set twice. */
struct tmem_opt_seen {
	int key[TMEM_CONFIG_KEYS_MAX];
	int share[TMEM_CONFIG_SHARES_MAX][2];
};

/* Check and store [section] key = value.  origin: -1 for the command
 * line, the line number for a file (seen then catches duplicates; a
 * value the command line set is checked but kept).  -ENOENT for an
 * unknown key; what is wrong goes to msg, without the key. */
int tmem_opt_apply(struct tmem_config *cfg, const char *section,
		   const char *key, const char *value, int origin,
		   struct tmem_opt_seen *seen, char *msg, size_t msglen);

#endif /* TMEM_OPT_H */
