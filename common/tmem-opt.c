/* tmem: the one option parser (see tmem-opt.h).
 *
 * keys[] below is the only list of keys in the project: the plugin, the
 * cache, tmemctl and the tmem.conf reader look keys up here, parse
 * values with key_parse and store them with key_store, so a key has one
 * type, one range and one set of messages wherever it is given.
 */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "tmem-opt.h"

enum key_type {
	KEY_NAME,    /* segment name: never empty */
	KEY_SUBPOOL, /* sub-pool name: empty allowed ("from elsewhere") */
	KEY_SIZE,    /* tmem_parse_size in [min, max] */
	KEY_INT,     /* int in [min, max] */
	KEY_UINT,    /* unsigned in [min, max] */
	KEY_BOOL,
	KEY_PATH,    /* any string up to size - 1 bytes, empty allowed */
	KEY_SECONDS, /* double in [min, max] */
	KEY_ENUM,    /* one of names[], stored as its index (an int) */
};

/* Size flags. */
#define SZ_PERCENT 1u /* "N%" of RAM allowed */
#define SZ_PAGES   2u /* a multiple of TMEM_PAGE_SIZE */
/* Int flag. */
#define INT_ZSTD_LEVEL 4u /* limits are what the linked zstd accepts */

struct key_def {
	const char *section; /* NULL: on the command line only */
	const char *key;     /* in tmem.conf */
	const char *option;  /* on the command line */
	unsigned progs;	     /* TMEM_OPT_*: who takes it on the command line */
	enum key_type type;
	size_t off, size;   /* where it lands in struct tmem_config */
	long long min, max; /* INT, UINT, SECONDS; SIZE: bytes (max 0: none,
			     * min: 0 allowed unless min is set) */
	unsigned flags;
	const char *const *names; /* ENUM: the values, NULL-terminated */
};

#define F(field)                             \
	offsetof(struct tmem_config, field), \
		sizeof(((struct tmem_config *)0)->field)

#define PLUGIN TMEM_OPT_PLUGIN
#define CACHE  TMEM_OPT_CACHE
#define CTL    TMEM_OPT_CTL
#define ALL    (PLUGIN | CACHE | CTL)

/* The largest device nbdkit can serve, in whole pages. */
#define SWAP_SIZE_MAX (INT64_MAX & ~(long long)(TMEM_PAGE_SIZE - 1))

static const char *const admit_names[] = {"repeat", "all", NULL};
static const char *const scope_names[] = {"subpool", "pool", NULL};

static const struct key_def keys[] = {
	{"pool", "name", "pool", ALL, KEY_NAME, F(pool_name), 0, 0, 0, NULL},
	{"pool", "size", "pool-size", ALL, KEY_SIZE, F(pool_size),
	 TMEM_POOL_SIZE_MIN, TMEM_POOL_SIZE_MAX, SZ_PERCENT | SZ_PAGES, NULL},
	{"pool", "level", "level", ALL, KEY_INT, F(level), 0, 0, INT_ZSTD_LEVEL,
	 NULL},
	{"pool", "dedup", "dedup", ALL, KEY_BOOL, F(dedup), 0, 0, 0, NULL},
	{"pool", "dictionary", "dictionary", ALL, KEY_BOOL, F(dictionary), 0, 0,
	 0, NULL},
	{"pool", "lock", "lock", ALL, KEY_BOOL, F(lock), 0, 0, 0, NULL},
	{"pool", "prefault", "prefault", ALL, KEY_BOOL, F(prefault), 0, 0, 0,
	 NULL},
	{"pool", "contexts", "contexts", ALL, KEY_UINT, F(contexts), 1,
	 TMEM_CONTEXTS_MAX, 0, NULL},
	{"swap", "size", "size", PLUGIN | CTL, KEY_SIZE, F(swap_size), 0,
	 SWAP_SIZE_MAX, SZ_PERCENT | SZ_PAGES, NULL},
	{"swap", "overflow", "overflow", PLUGIN | CTL, KEY_PATH,
	 F(swap_overflow), 0, 0, 0, NULL},
	{"swap", "export", "export", PLUGIN | CTL, KEY_SUBPOOL, F(swap_export),
	 0, 0, 0, NULL},
	{"swap", "socket", "socket", CTL, KEY_PATH, F(swap_socket), 0, 0, 0,
	 NULL},
	{"swap", "min-share", "min-share", PLUGIN | CTL, KEY_SIZE,
	 F(swap_min_share), 0, 0, SZ_PERCENT, NULL},
	{"swap", "threads", "threads", CTL, KEY_UINT, F(swap_threads), 1, 1024,
	 0, NULL},
	{"swap", "priority", "priority", CTL, KEY_INT, F(swap_priority), -1,
	 32767, 0, NULL},
	{"swap", "demote-after", "demote-after", PLUGIN | CTL, KEY_SECONDS,
	 F(swap_demote_after), 0, 86400, 0, NULL},
	{"swap", "ballast", "ballast", PLUGIN | CTL, KEY_SIZE, F(swap_ballast),
	 0, 1 << 30, SZ_PAGES, NULL},
	{"swap", "watermark-gap", "watermark-gap", PLUGIN | CTL, KEY_SIZE,
	 F(swap_watermark_gap), 1 << 20, 1 << 30, SZ_PAGES, NULL},
	{"swap", "free-notify", "free-notify", CTL, KEY_BOOL,
	 F(swap_free_notify), 0, 0, 0, NULL},
	{"swap", "realtime", "realtime", PLUGIN | CTL, KEY_BOOL,
	 F(swap_realtime), 0, 0, 0, NULL},
	{"swap", "full-oom", "full-oom", PLUGIN | CTL, KEY_SECONDS,
	 F(swap_full_oom), 0, 3600, 0, NULL},
	{"swap", "dedup-scope", "dedup-scope", PLUGIN | CTL, KEY_ENUM,
	 F(swap_dedup_scope), 0, 0, 0, scope_names},
	{"cache", "chunk-size", "chunk-size", CACHE | CTL, KEY_SIZE,
	 F(cache_chunk_size), TMEM_PAGE_SIZE, 64 << 20, SZ_PAGES, NULL},
	{"cache", "max-share", "max-share", CACHE | CTL, KEY_SIZE,
	 F(cache_max_share), 0, 0, SZ_PERCENT, NULL},
	{"cache", "attr-timeout", "attr-timeout", CACHE | CTL, KEY_SECONDS,
	 F(cache_attr_timeout), 0, 86400, 0, NULL},
	{"cache", "entry-timeout", "entry-timeout", CACHE | CTL, KEY_SECONDS,
	 F(cache_entry_timeout), 0, 86400, 0, NULL},
	{"cache", "name", "cache-name", CACHE | CTL, KEY_SUBPOOL, F(cache_name),
	 0, 0, 0, NULL},
	{"cache", "dedup", "cache-dedup", CACHE | CTL, KEY_BOOL, F(cache_dedup),
	 0, 0, 0, NULL},
	/* The command line's own: one run's actions and tuning. */
	{NULL, "overflow-size", "overflow-size", PLUGIN, KEY_SIZE,
	 F(swap_overflow_size), TMEM_PAGE_SIZE, SWAP_SIZE_MAX, SZ_PAGES, NULL},
	{NULL, "reset", "reset", PLUGIN, KEY_BOOL, F(swap_reset), 0, 0, 0,
	 NULL},
	/* The plugin's cap of its export (the cache's max-share is the
	 * [cache] key of that name). */
	{NULL, "max-share", "max-share", PLUGIN, KEY_SIZE, F(swap_max_share),
	 TMEM_PAGE_SIZE, 0, SZ_PERCENT, NULL},
	{NULL, "timestamp-granularity", "timestamp-granularity", CACHE,
	 KEY_SECONDS, F(cache_granularity), 0, 86400, 0, NULL},
	{NULL, "admit", "admit", CACHE, KEY_ENUM, F(cache_admit), 0, 0, 0,
	 admit_names},
	{NULL, "acl", "acl", CACHE, KEY_BOOL, F(cache_acl), 0, 0, 0, NULL},
	{NULL, "cto", "cto", CACHE, KEY_BOOL, F(cache_cto), 0, 0, 0, NULL},
	{NULL, "kept-inodes", "kept-inodes", CACHE, KEY_UINT,
	 F(cache_kept_inodes), 0, UINT32_MAX, 0, NULL},
};
#define NR_KEYS (sizeof keys / sizeof keys[0])
_Static_assert(sizeof keys / sizeof keys[0] <= TMEM_CONFIG_KEYS_MAX,
	       "raise TMEM_CONFIG_KEYS_MAX");

/* min-share.NAME and max-share.NAME of [pool]. */
static const struct key_def share_def = {
	"pool", "min-share.NAME", NULL, CACHE | CTL, KEY_SIZE, 0, 0, 0,
	0,	SZ_PERCENT,	  NULL};

void tmem_opt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A size for messages: the largest suffix that is exact. */
const char *tmem_opt_fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char suffix[] = "KMGT";
	int i = -1;

	while (i < 3 && v != 0 && (v & 1023) == 0) {
		v >>= 10;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)v, suffix[i]);
	return buf;
}

bool tmem_config_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > TMEM_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* A value ready to store, so that nothing is written before it is
 * known to be good. */
union key_value {
	uint64_t size;
	int i;
	unsigned u;
	bool b;
	double d;
};

/* Parse value for def into *v.  0, or -errno with what is wrong in msg. */
static int key_parse(const struct key_def *def, const char *value,
		     union key_value *v, char *msg, size_t msglen)
{
	char a[32], b[32];
	long long n;
	char *end;
	int r;

	switch (def->type) {
	case KEY_NAME:
	case KEY_SUBPOOL:
		if (def->type == KEY_SUBPOOL && value[0] == '\0')
			return 0;
		if (!tmem_config_name_ok(value)) {
			tmem_opt_err(
				msg, msglen,
				"'%s' is not a valid name (1 to %d letters, "
				"digits, '.', '_' or '-', not starting with "
				"'.' or '-')",
				value, TMEM_NAME_MAX);
			return -EINVAL;
		}
		return 0;

	case KEY_PATH:
		if (strlen(value) >= def->size) {
			tmem_opt_err(msg, msglen, "longer than %zu characters",
				     def->size - 1);
			return -ENAMETOOLONG;
		}
		return 0;

	case KEY_BOOL:
		r = tmem_parse_bool(value, &v->b);
		if (r < 0)
			tmem_opt_err(msg, msglen,
				     "'%s' is not a boolean (expected yes/no, "
				     "true/false, on/off or 1/0)",
				     value);
		return r;

	case KEY_SIZE:
		r = tmem_parse_size(value, def->flags & SZ_PERCENT, &v->size);
		if (r == -ERANGE && strchr(value, '%'))
			tmem_opt_err(msg, msglen,
				     "'%s' is more than all of RAM", value);
		else if (r == -ERANGE)
			tmem_opt_err(msg, msglen, "'%s' is too large", value);
		else if (r == -ENOTSUP)
			tmem_opt_err(msg, msglen,
				     "'%s': cannot tell how much RAM there is",
				     value);
		else if (r < 0 && strchr(value, '%') &&
			 !(def->flags & SZ_PERCENT))
			tmem_opt_err(msg, msglen,
				     "'%s': a percentage is not allowed here",
				     value);
		else if (r < 0)
			tmem_opt_err(
				msg, msglen,
				"'%s' is not a size (expected a number with an "
				"optional K, M, G or T suffix%s)",
				value,
				def->flags & SZ_PERCENT ? ", or N% of RAM"
							: "");
		if (r < 0)
			return r;
		if ((def->flags & SZ_PAGES) && v->size % TMEM_PAGE_SIZE) {
			tmem_opt_err(
				msg, msglen,
				"'%s' is not a multiple of the page size (%d)",
				value, TMEM_PAGE_SIZE);
			return -EINVAL;
		}
		if (v->size != 0 && v->size < (uint64_t)def->min) {
			tmem_opt_err(msg, msglen,
				     "'%s' is less than the minimum, %s", value,
				     tmem_opt_fmt_size(def->min, a, sizeof a));
			return -ERANGE;
		}
		if (def->max != 0 && v->size > (uint64_t)def->max) {
			if (strchr(value, '%'))
				snprintf(b, sizeof b, " (%s)",
					 tmem_opt_fmt_size(v->size, a,
							   sizeof a));
			else
				b[0] = '\0';
			tmem_opt_err(msg, msglen,
				     "'%s'%s is more than the maximum, %s",
				     value, b,
				     tmem_opt_fmt_size(def->max, a, sizeof a));
			return -ERANGE;
		}
		if (v->size == 0 && def->min != 0) {
			tmem_opt_err(msg, msglen, "must not be 0");
			return -ERANGE;
		}
		return 0;

	case KEY_INT:
	case KEY_UINT: {
		long long lo = def->min, hi = def->max;

		if (def->flags & INT_ZSTD_LEVEL) {
			lo = ZSTD_minCLevel();
			hi = ZSTD_maxCLevel();
		}
		errno = 0;
		n = strtoll(value, &end, 10);
		if (end == value || *end != '\0' || value[0] == ' ') {
			tmem_opt_err(msg, msglen, "'%s' is not an integer",
				     value);
			return -EINVAL;
		}
		if (errno == ERANGE || n < lo || n > hi) {
			snprintf(a, sizeof a, "%lld", lo);
			snprintf(b, sizeof b, "%lld", hi);
			tmem_opt_err(msg, msglen,
				     "'%s' is out of range (%s to %s)", value,
				     a, b);
			return -ERANGE;
		}
		if (def->type == KEY_INT)
			v->i = (int)n;
		else
			v->u = (unsigned)n;
		return 0;
	}

	case KEY_SECONDS:
		errno = 0;
		v->d = strtod(value, &end);
		if (end == value || *end != '\0' || value[0] == ' ' ||
		    !isfinite(v->d)) {
			tmem_opt_err(msg, msglen,
				     "'%s' is not a number of seconds", value);
			return -EINVAL;
		}
		if (errno == ERANGE || v->d < def->min || v->d > def->max) {
			tmem_opt_err(
				msg, msglen,
				"'%s' is out of range (%lld to %lld seconds)",
				value, def->min, def->max);
			return -ERANGE;
		}
		return 0;

	case KEY_ENUM: {
		char names[256] = "";
		size_t len = 0;

		for (n = 0; def->names[n]; n++)
			if (strcmp(value, def->names[n]) == 0) {
				v->i = (int)n;
				return 0;
			}
		for (n = 0; def->names[n]; n++)
			len += (size_t)snprintf(
				names + len,
				len < sizeof names ? sizeof names - len : 0,
				"%s'%s'",
				n == 0		    ? ""
				: def->names[n + 1] ? ", "
						    : " or ",
				def->names[n]);
		tmem_opt_err(msg, msglen, "'%s' is not %s", value, names);
		return -EINVAL;
	}
	}
	return -EINVAL;
}

/* Store a value key_parse made.  Every member of the union starts at its
 * start, and each field has the size of its type's member. */
static void key_store(struct tmem_config *cfg, const struct key_def *def,
		      const char *value, const union key_value *v)
{
	char *p = (char *)cfg + def->off;

	if (def->type == KEY_NAME || def->type == KEY_SUBPOOL ||
	    def->type == KEY_PATH)
		snprintf(p, def->size, "%s", value);
	else
		memcpy(p, v, def->size);
}

static const struct key_def *key_find(const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < NR_KEYS; i++)
		if (keys[i].section && strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

/* "min-share.NAME" / "max-share.NAME" in [pool]: 0 or 1 for which, with
 * *name set; -1 if key is not of that form. */
int tmem_opt_share_key(const char *key, const char **name)
{
	if (strncmp(key, "min-share.", 10) == 0) {
		*name = key + 10;
		return 0;
	}
	if (strncmp(key, "max-share.", 10) == 0) {
		*name = key + 10;
		return 1;
	}
	return -1;
}

int tmem_opt_share_find(const struct tmem_config *cfg, const char *name)
{
	unsigned i;

	for (i = 0; i < cfg->nr_shares; i++)
		if (strcmp(cfg->shares[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Set min- or max-share of a sub-pool.  origin as in config_apply. */
static int share_apply(struct tmem_config *cfg, int which, const char *name,
		       const char *value, int origin,
		       struct tmem_opt_seen *seen, char *msg, size_t msglen)
{
	struct tmem_config_share *sh;
	union key_value v;
	int *o, i, r;

	if (!tmem_config_name_ok(name)) {
		tmem_opt_err(
			msg, msglen,
			"'%s' is not a valid sub-pool name (1 to %d letters, "
			"digits, '.', '_' or '-', not starting with '.' or "
			"'-')",
			name, TMEM_NAME_MAX);
		return -EINVAL;
	}
	r = key_parse(&share_def, value, &v, msg, msglen);
	if (r < 0)
		return r;

	i = tmem_opt_share_find(cfg, name);
	if (i < 0) {
		if (cfg->nr_shares == TMEM_CONFIG_SHARES_MAX) {
			tmem_opt_err(
				msg, msglen,
				"too many sub-pools with shares (at most %d)",
				TMEM_CONFIG_SHARES_MAX);
			return -E2BIG;
		}
		i = (int)cfg->nr_shares++;
		memset(&cfg->shares[i], 0, sizeof cfg->shares[i]);
		snprintf(cfg->shares[i].name, sizeof cfg->shares[i].name, "%s",
			 name);
	}
	sh = &cfg->shares[i];
	o = which ? &sh->max_origin : &sh->min_origin;
	if (seen) {
		if (seen->share[i][which]) {
			tmem_opt_err(msg, msglen,
				     "set twice (first on line %d)",
				     seen->share[i][which]);
			return -EINVAL;
		}
		seen->share[i][which] = origin;
	}
	if (origin > 0 && *o == -1)
		return 0; /* the command line wins */
	if (which)
		sh->max_bytes = v.size;
	else
		sh->min_bytes = v.size;
	*o = origin;
	return 0;
}

/* Check and store one key.  origin: -1 for the command line, the line
 * number for a file (seen then catches duplicates).  -ENOENT for an
 * unknown key; what is wrong goes to msg, without the key. */
static int key_apply(struct tmem_config *cfg, const struct key_def *def,
		     const char *value, int origin, struct tmem_opt_seen *seen,
		     char *msg, size_t msglen);

int tmem_opt_apply(struct tmem_config *cfg, const char *section,
		   const char *key, const char *value, int origin,
		   struct tmem_opt_seen *seen, char *msg, size_t msglen)
{
	const struct key_def *def = key_find(section, key);
	const char *name;
	int which;

	if (def == NULL) {
		which = strcmp(section, "pool") == 0
				? tmem_opt_share_key(key, &name)
				: -1;
		if (which >= 0)
			return share_apply(cfg, which, name, value, origin,
					   seen, msg, msglen);
		tmem_opt_err(msg, msglen, "unknown key in [%s]", section);
		return -ENOENT;
	}
	return key_apply(cfg, def, value, origin, seen, msg, msglen);
}

/* Check and store one key of the table; as tmem_opt_apply. */
static int key_apply(struct tmem_config *cfg, const struct key_def *def,
		     const char *value, int origin, struct tmem_opt_seen *seen,
		     char *msg, size_t msglen)
{
	int i = (int)(def - keys), r;
	union key_value v;

	r = key_parse(def, value, &v, msg, msglen);
	if (r < 0)
		return r;
	if (seen) {
		if (seen->key[i]) {
			tmem_opt_err(msg, msglen,
				     "set twice in [%s] (first on line %d)",
				     def->section, seen->key[i]);
			return -EINVAL;
		}
		seen->key[i] = origin;
	}
	if (origin > 0 && cfg->origin[i] == -1)
		return 0; /* the command line wins */
	key_store(cfg, def, value, &v);
	cfg->origin[i] = origin;
	return 0;
}

/* The value of a key as text: sizes with the largest exact suffix, or in
 * bytes when bytes is set (for scripts). */
static void key_format(const struct tmem_config *cfg, const struct key_def *def,
		       bool bytes, char *val, size_t len)
{
	const char *p = (const char *)cfg + def->off;
	union key_value v;

	if (def->type == KEY_NAME || def->type == KEY_SUBPOOL ||
	    def->type == KEY_PATH) {
		snprintf(val, len, "%s", p);
		return;
	}
	memcpy(&v, p, def->size);
	if (def->type == KEY_SIZE && bytes)
		snprintf(val, len, "%llu", (unsigned long long)v.size);
	else if (def->type == KEY_SIZE)
		tmem_opt_fmt_size(v.size, val, len);
	else if (def->type == KEY_INT)
		snprintf(val, len, "%d", v.i);
	else if (def->type == KEY_ENUM)
		snprintf(val, len, "%s", def->names[v.i]);
	else if (def->type == KEY_UINT)
		snprintf(val, len, "%u", v.u);
	else if (def->type == KEY_BOOL)
		snprintf(val, len, "%s", v.b ? "yes" : "no");
	else
		snprintf(val, len, "%g", v.d);
}

/* ---- the command line ---------------------------------------------- */

/* The key prog takes under the name at key (len bytes), or NULL. */
static const struct key_def *option_find(unsigned prog, const char *key,
					 size_t len)
{
	size_t i;

	for (i = 0; i < NR_KEYS; i++)
		if ((keys[i].progs & prog) && strlen(keys[i].option) == len &&
		    strncmp(keys[i].option, key, len) == 0)
			return &keys[i];
	return NULL;
}

/* Whether the len bytes at key are min-share.NAME or max-share.NAME with
 * a non-empty NAME, and prog takes those. */
static bool option_is_share(unsigned prog, const char *key, size_t len)
{
	return (share_def.progs & prog) && len > 10 &&
	       (strncmp(key, "min-share.", 10) == 0 ||
		strncmp(key, "max-share.", 10) == 0);
}

bool tmem_opt_known(unsigned prog, const char *key, size_t keylen)
{
	return option_find(prog, key, keylen) != NULL ||
	       option_is_share(prog, key, keylen);
}

int tmem_opt_set(struct tmem_config *cfg, unsigned prog, const char *key,
		 const char *value, char *err, size_t errlen)
{
	const struct key_def *def = option_find(prog, key, strlen(key));
	const char *name = NULL;
	char msg[512];
	int which, r;

	if (def) {
		r = key_apply(cfg, def, value, -1, NULL, msg, sizeof msg);
	} else if (option_is_share(prog, key, strlen(key))) {
		which = tmem_opt_share_key(key, &name);
		r = share_apply(cfg, which, name, value, -1, NULL, msg,
				sizeof msg);
	} else {
		snprintf(msg, sizeof msg, "unknown key");
		r = -ENOENT;
	}
	if (r < 0)
		tmem_opt_err(err, errlen, "%s: %s", key, msg);
	return r;
}

/* ---- the table, for the file and for printing ----------------------- */

size_t tmem_opt_count(void)
{
	return NR_KEYS;
}

const char *tmem_opt_section(size_t i)
{
	return keys[i].section;
}

const char *tmem_opt_key(size_t i)
{
	return keys[i].key;
}

int tmem_opt_index(const char *section, const char *key)
{
	const struct key_def *def = key_find(section, key);

	return def ? (int)(def - keys) : -1;
}

void tmem_opt_format(const struct tmem_config *cfg, size_t i, bool bytes,
		     char *buf, size_t len)
{
	key_format(cfg, &keys[i], bytes, buf, len);
}
