/* tmem: the tmem.conf reader and the command-line keys.
 *
 * One table below lists every key: its section, its command-line name,
 * its type and its limits.  The INI file (libinih) and the command line
 * both go through config_apply, so a key is checked the same way wherever
 * it comes from, and the command line wins whatever the order in which
 * front-ends call tmem_config_set and tmem_config_load.
 *
 * Debian's libinih is built without line numbers in the handler
 * (INI_HANDLER_LINENO 0), so lines are fed to ini_parse_stream by a reader
 * of our own that counts them.  The reader also does what inih would do
 * silently or confusingly: it rejects unknown sections (inih never tells
 * the handler about an empty one), over-long lines (inih would split
 * them) and NUL bytes, and strips indentation so that an indented key is
 * a key, not a continuation of the previous value.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "tmem-config.h"

/* A config file is a few hundred bytes; refuse something that is not. */
#define CONFIG_FILE_MAX (1 << 20)

enum key_type {
	KEY_NAME,    /* segment name: never empty */
	KEY_SUBPOOL, /* sub-pool name: empty allowed ("from elsewhere") */
	KEY_SIZE,    /* tmem_parse_size */
	KEY_INT,     /* int in [min, max] */
	KEY_UINT,    /* unsigned in [min, max] */
	KEY_BOOL,
	KEY_PATH,    /* any string up to 4095 bytes, empty allowed */
	KEY_SECONDS, /* double in [min, max] */
};

/* Size flags. */
#define SZ_PERCENT 1u /* "N%" of RAM allowed */
#define SZ_PAGES   2u /* a multiple of TMEM_PAGE_SIZE */
/* Int flag. */
#define INT_ZSTD_LEVEL 4u /* limits are what the linked zstd accepts */

struct key_def {
	const char *section;
	const char *key;
	const char *option; /* command-line name */
	enum key_type type;
	size_t off, size;
	long long min, max; /* INT, UINT, SECONDS; SIZE: bytes (max 0: none) */
	unsigned flags;
};

#define F(field)                             \
	offsetof(struct tmem_config, field), \
		sizeof(((struct tmem_config *)0)->field)

static const struct key_def keys[] = {
	{"pool", "name", "pool", KEY_NAME, F(pool_name), 0, 0, 0},
	{"pool", "size", "pool-size", KEY_SIZE, F(pool_size), 1 << 20, 0,
	 SZ_PERCENT | SZ_PAGES},
	{"pool", "level", "level", KEY_INT, F(level), 0, 0, INT_ZSTD_LEVEL},
	{"pool", "dedup", "dedup", KEY_BOOL, F(dedup), 0, 0, 0},
	{"pool", "dictionary", "dictionary", KEY_BOOL, F(dictionary), 0, 0, 0},
	{"pool", "lock", "lock", KEY_BOOL, F(lock), 0, 0, 0},
	{"pool", "prefault", "prefault", KEY_BOOL, F(prefault), 0, 0, 0},
	{"pool", "contexts", "contexts", KEY_UINT, F(contexts), 1, 4096, 0},
	{"swap", "size", "size", KEY_SIZE, F(swap_size), 0, 0,
	 SZ_PERCENT | SZ_PAGES},
	{"swap", "overflow", "overflow", KEY_PATH, F(swap_overflow), 0, 0, 0},
	{"swap", "export", "export", KEY_SUBPOOL, F(swap_export), 0, 0, 0},
	{"swap", "socket", "socket", KEY_PATH, F(swap_socket), 0, 0, 0},
	{"swap", "min-share", "min-share", KEY_SIZE, F(swap_min_share), 0, 0,
	 SZ_PERCENT},
	{"swap", "threads", "threads", KEY_UINT, F(swap_threads), 1, 1024, 0},
	{"swap", "priority", "priority", KEY_INT, F(swap_priority), -1, 32767,
	 0},
	{"cache", "chunk-size", "chunk-size", KEY_SIZE, F(cache_chunk_size),
	 TMEM_PAGE_SIZE, 64 << 20, SZ_PAGES},
	{"cache", "max-share", "max-share", KEY_SIZE, F(cache_max_share), 0, 0,
	 SZ_PERCENT},
	{"cache", "attr-timeout", "attr-timeout", KEY_SECONDS,
	 F(cache_attr_timeout), 0, 86400, 0},
	{"cache", "entry-timeout", "entry-timeout", KEY_SECONDS,
	 F(cache_entry_timeout), 0, 86400, 0},
	{"cache", "name", "cache-name", KEY_SUBPOOL, F(cache_name), 0, 0, 0},
	{"cache", "dedup", "cache-dedup", KEY_BOOL, F(cache_dedup), 0, 0, 0},
};
#define NR_KEYS (sizeof keys / sizeof keys[0])
_Static_assert(sizeof keys / sizeof keys[0] <= TMEM_CONFIG_KEYS_MAX,
	       "raise TMEM_CONFIG_KEYS_MAX");

static const char *const sections[] = {"pool", "swap", "cache"};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A size for messages: the largest suffix that is exact. */
static const char *fmt_size(uint64_t v, char *buf, size_t len)
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

void tmem_config_init(struct tmem_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->pool_name, sizeof cfg->pool_name, "%s",
		 TMEM_DEFAULT_SEGMENT);
	cfg->pool_size = TMEM_DEFAULT_POOL_SIZE;
	cfg->level = TMEM_DEFAULT_LEVEL;
	cfg->dedup = true;
	cfg->dictionary = true;
	cfg->lock = true;
	cfg->prefault = false;
	cfg->contexts = 16;

	cfg->swap_size = 0; /* the plugin requires it */
	snprintf(cfg->swap_export, sizeof cfg->swap_export, "swap");
	snprintf(cfg->swap_socket, sizeof cfg->swap_socket, "/run/tmem.sock");
	cfg->swap_min_share = 0;
	cfg->swap_threads = 16;	  /* nbdkit's own default */
	cfg->swap_priority = 100; /* above disk swap, as zram-generator */

	cfg->cache_chunk_size = 128 << 10;
	cfg->cache_max_share = 0;
	cfg->cache_attr_timeout = 1.0;
	cfg->cache_entry_timeout = 1.0;
	cfg->cache_dedup = false;
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
			set_err(msg, msglen,
				"'%s' is not a valid name (1 to %d letters, "
				"digits, '.', '_' or '-', not starting with "
				"'.' or '-')",
				value, TMEM_NAME_MAX);
			return -EINVAL;
		}
		return 0;

	case KEY_PATH:
		if (strlen(value) >= def->size) {
			set_err(msg, msglen, "longer than %zu characters",
				def->size - 1);
			return -ENAMETOOLONG;
		}
		return 0;

	case KEY_BOOL:
		r = tmem_parse_bool(value, &v->b);
		if (r < 0)
			set_err(msg, msglen,
				"'%s' is not a boolean (expected yes/no, "
				"true/false, on/off or 1/0)",
				value);
		return r;

	case KEY_SIZE:
		r = tmem_parse_size(value, def->flags & SZ_PERCENT, &v->size);
		if (r == -ERANGE && strchr(value, '%'))
			set_err(msg, msglen, "'%s' is more than all of RAM",
				value);
		else if (r == -ERANGE)
			set_err(msg, msglen, "'%s' is too large", value);
		else if (r == -ENOTSUP)
			set_err(msg, msglen,
				"'%s': cannot tell how much RAM there is",
				value);
		else if (r < 0 && strchr(value, '%') &&
			 !(def->flags & SZ_PERCENT))
			set_err(msg, msglen,
				"'%s': a percentage is not allowed here",
				value);
		else if (r < 0)
			set_err(msg, msglen,
				"'%s' is not a size (expected a number with an "
				"optional K, M, G or T suffix%s)",
				value,
				def->flags & SZ_PERCENT ? ", or N% of RAM"
							: "");
		if (r < 0)
			return r;
		if ((def->flags & SZ_PAGES) && v->size % TMEM_PAGE_SIZE) {
			set_err(msg, msglen,
				"'%s' is not a multiple of the page size (%d)",
				value, TMEM_PAGE_SIZE);
			return -EINVAL;
		}
		if (v->size != 0 && v->size < (uint64_t)def->min) {
			set_err(msg, msglen,
				"'%s' is less than the minimum, %s", value,
				fmt_size(def->min, a, sizeof a));
			return -ERANGE;
		}
		if (def->max != 0 && v->size > (uint64_t)def->max) {
			set_err(msg, msglen,
				"'%s' is more than the maximum, %s", value,
				fmt_size(def->max, a, sizeof a));
			return -ERANGE;
		}
		if (v->size == 0 && def->min != 0) {
			set_err(msg, msglen, "must not be 0");
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
			set_err(msg, msglen, "'%s' is not an integer", value);
			return -EINVAL;
		}
		if (errno == ERANGE || n < lo || n > hi) {
			snprintf(a, sizeof a, "%lld", lo);
			snprintf(b, sizeof b, "%lld", hi);
			set_err(msg, msglen, "'%s' is out of range (%s to %s)",
				value, a, b);
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
			set_err(msg, msglen, "'%s' is not a number of seconds",
				value);
			return -EINVAL;
		}
		if (errno == ERANGE || v->d < def->min || v->d > def->max) {
			set_err(msg, msglen,
				"'%s' is out of range (%lld to %lld seconds)",
				value, def->min, def->max);
			return -ERANGE;
		}
		return 0;
	}
	return -EINVAL;
}

static void key_store(struct tmem_config *cfg, const struct key_def *def,
		      const char *value, const union key_value *v)
{
	char *p = (char *)cfg + def->off;

	switch (def->type) {
	case KEY_NAME:
	case KEY_SUBPOOL:
	case KEY_PATH:
		snprintf(p, def->size, "%s", value);
		break;
	case KEY_SIZE:
		memcpy(p, &v->size, sizeof v->size);
		break;
	case KEY_INT:
		memcpy(p, &v->i, sizeof v->i);
		break;
	case KEY_UINT:
		memcpy(p, &v->u, sizeof v->u);
		break;
	case KEY_BOOL:
		memcpy(p, &v->b, sizeof v->b);
		break;
	case KEY_SECONDS:
		memcpy(p, &v->d, sizeof v->d);
		break;
	}
}

static const struct key_def *key_find(const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < NR_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

/* Where the value of a key in the table came from (see origin[]). */
static int key_origin(const struct tmem_config *cfg, const char *section,
		      const char *key)
{
	const struct key_def *def = key_find(section, key);

	return def ? cfg->origin[def - keys] : 0;
}

/* Per-load memory of which keys this file set, to catch duplicates. */
struct seen {
	int key[TMEM_CONFIG_KEYS_MAX];
	int share[TMEM_CONFIG_SHARES_MAX][2];
};

/* "min-share.NAME" / "max-share.NAME" in [pool]: 0 or 1 for which, with
 * *name set; -1 if key is not of that form. */
static int share_key(const char *key, const char **name)
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

static int share_find(const struct tmem_config *cfg, const char *name)
{
	unsigned i;

	for (i = 0; i < cfg->nr_shares; i++)
		if (strcmp(cfg->shares[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const struct key_def share_def = {
	"pool", "min-share.NAME", NULL, KEY_SIZE, 0, 0, 0, 0, SZ_PERCENT};

/* Set min- or max-share of a sub-pool.  origin as in config_apply. */
static int share_apply(struct tmem_config *cfg, int which, const char *name,
		       const char *value, int origin, struct seen *seen,
		       char *msg, size_t msglen)
{
	struct tmem_config_share *sh;
	union key_value v;
	int *o, i, r;

	if (!tmem_config_name_ok(name)) {
		set_err(msg, msglen,
			"'%s' is not a valid sub-pool name (1 to %d letters, "
			"digits, '.', '_' or '-', not starting with '.' or "
			"'-')",
			name, TMEM_NAME_MAX);
		return -EINVAL;
	}
	r = key_parse(&share_def, value, &v, msg, msglen);
	if (r < 0)
		return r;

	i = share_find(cfg, name);
	if (i < 0) {
		if (cfg->nr_shares == TMEM_CONFIG_SHARES_MAX) {
			set_err(msg, msglen,
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
			set_err(msg, msglen, "set twice (first on line %d)",
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
static int config_apply(struct tmem_config *cfg, const char *section,
			const char *key, const char *value, int origin,
			struct seen *seen, char *msg, size_t msglen)
{
	const struct key_def *def = key_find(section, key);
	const char *name;
	union key_value v;
	int which, i, r;

	if (def == NULL) {
		which = strcmp(section, "pool") == 0 ? share_key(key, &name)
						     : -1;
		if (which >= 0)
			return share_apply(cfg, which, name, value, origin,
					   seen, msg, msglen);
		set_err(msg, msglen, "unknown key in [%s]", section);
		return -ENOENT;
	}
	i = (int)(def - keys);
	r = key_parse(def, value, &v, msg, msglen);
	if (r < 0)
		return r;
	if (seen) {
		if (seen->key[i]) {
			set_err(msg, msglen,
				"set twice in [%s] (first on line %d)", section,
				seen->key[i]);
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

int tmem_config_set(struct tmem_config *cfg, const char *section,
		    const char *key, const char *value, char *err,
		    size_t errlen)
{
	char msg[512];
	size_t i;
	int r;

	for (i = 0; i < 3; i++)
		if (strcmp(section, sections[i]) == 0)
			break;
	if (i == 3) {
		set_err(err, errlen, "[%s]: unknown section", section);
		return -ENOENT;
	}
	r = config_apply(cfg, section, key, value, -1, NULL, msg, sizeof msg);
	if (r < 0)
		set_err(err, errlen, "%s: %s", key, msg);
	return r;
}

int tmem_config_set_option(struct tmem_config *cfg, const char *key,
			   const char *value, char *err, size_t errlen)
{
	const char *name;
	size_t i;

	for (i = 0; i < NR_KEYS; i++)
		if (strcmp(keys[i].option, key) == 0)
			return tmem_config_set(cfg, keys[i].section,
					       keys[i].key, value, err, errlen);
	if (share_key(key, &name) >= 0)
		return tmem_config_set(cfg, "pool", key, value, err, errlen);
	return -ENOENT;
}

/* ---- the file ------------------------------------------------------ */

struct load_ctx {
	struct tmem_config *cfg;
	const char *file;
	const char *buf;
	size_t len, pos;
	int lineno;
	struct seen seen;
	int err;       /* first error, -errno; 0 while all is well */
	char msg[768]; /* "LINE-less" message: "key: what is wrong" */
};

static void load_fail(struct load_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;

	if (ctx->err)
		return;
	ctx->err = err;
	va_start(ap, fmt);
	vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
	va_end(ap);
}

/* Check a section header the way inih will read it: the name is what
 * lies between '[' and the first ']', untrimmed. */
static void load_check_section(struct load_ctx *ctx, const char *line,
			       size_t len)
{
	const char *close = memchr(line, ']', len);
	size_t n, i;

	if (close == NULL) {
		load_fail(ctx, -EINVAL, "%.*s: missing ']'", (int)len, line);
		return;
	}
	n = (size_t)(close - line - 1);
	for (i = 0; i < 3; i++)
		if (strlen(sections[i]) == n &&
		    memcmp(sections[i], line + 1, n) == 0)
			return;
	load_fail(ctx, -EINVAL,
		  "[%.*s]: unknown section (expected [pool], [swap] or "
		  "[cache])",
		  (int)n, line + 1);
}

/* ini_reader: hand inih the next line, counting lines. */
static char *load_reader(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	const char *line, *nl, *s, *end;
	size_t n;

	if (ctx->err || ctx->pos >= ctx->len || num < 3)
		return NULL;
	line = ctx->buf + ctx->pos;
	nl = memchr(line, '\n', ctx->len - ctx->pos);
	end = nl ? nl : ctx->buf + ctx->len;
	ctx->pos = (size_t)(end - ctx->buf) + (nl ? 1 : 0);
	ctx->lineno++;

	s = line;
	if (ctx->lineno == 1 && end - s >= 3 &&
	    memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3; /* UTF-8 byte order mark */
	if (memchr(s, '\0', (size_t)(end - s))) {
		load_fail(ctx, -EINVAL, "NUL byte in the line");
		return NULL;
	}
	/* Indentation is cosmetic here: without it inih would take an
	 * indented line for the continuation of the previous value. */
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s &&
	       (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - s);
	if (n > (size_t)num - 2) {
		load_fail(ctx, -EINVAL, "line longer than %d characters",
			  num - 2);
		return NULL;
	}
	if (n > 0 && s[0] == '[')
		load_check_section(ctx, s, n);
	if (ctx->err)
		return NULL;
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

static int load_handler(void *user, const char *section, const char *name,
			const char *value)
{
	struct load_ctx *ctx = user;
	char msg[512];
	int r;

	if (ctx->err)
		return 0;
	if (name[0] == '\0') {
		load_fail(ctx, -EINVAL, "missing key before '='");
		return 0;
	}
	if (section[0] == '\0') {
		load_fail(ctx, -EINVAL,
			  "%s: key before any section (put it under [pool], "
			  "[swap] or [cache])",
			  name);
		return 0;
	}
	/* "key =;x" gives the value ";x", but the printed "key = ;x" reads
	 * back as an empty value and a comment: refuse what cannot round
	 * trip rather than guess which one was meant. */
	if (value[0] == ';') {
		load_fail(ctx, -EINVAL,
			  "%s: the value starts with ';' (a comment needs a "
			  "space before it; a value cannot start with ';')",
			  name);
		return 0;
	}
	r = config_apply(ctx->cfg, section, name, value, ctx->lineno,
			 &ctx->seen, msg, sizeof msg);
	if (r < 0) {
		load_fail(ctx, r == -ENOENT ? -EINVAL : r, "%s: %s", name, msg);
		return 0;
	}
	return 1;
}

int tmem_config_load_buffer(struct tmem_config *cfg, const char *filename,
			    const char *buf, size_t len, char *err,
			    size_t errlen)
{
	struct load_ctx ctx = {
		.cfg = cfg,
		.file = filename,
		.buf = buf,
		.len = len,
	};
	int r;

	r = ini_parse_stream(load_reader, &ctx, load_handler, &ctx);
	if (r < 0 && !ctx.err) {
		set_err(err, errlen, "%s: out of memory", filename);
		return -ENOMEM;
	}
	/* inih's own complaint (a line that is neither a section, a
	 * comment nor key = value) comes back as its line number. */
	if (r > 0 && (!ctx.err || r < ctx.lineno)) {
		set_err(err, errlen,
			"%s:%d: syntax error (expected [section], key = value "
			"or a comment)",
			filename, r);
		return -EINVAL;
	}
	if (ctx.err) {
		set_err(err, errlen, "%s:%d: %s", filename, ctx.lineno,
			ctx.msg);
		return -EINVAL;
	}
	snprintf(cfg->file, sizeof cfg->file, "%s", filename);
	return 0;
}

int tmem_config_load(struct tmem_config *cfg, const char *path, char *err,
		     size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EFBIG;
		set_err(err, errlen, "%s: %s", path,
			S_ISREG(st.st_mode) ? "larger than 1 MiB: not a config "
					      "file"
					    : "not a regular file");
		goto err_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		set_err(err, errlen, "%s: out of memory", path);
		goto err_close;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			set_err(err, errlen, "%s: %s", path, strerror(-r));
			goto err_free;
		}
		if (n == 0)
			break; /* shrank under us: parse what we have */
		got += (size_t)n;
	}
	close(fd);
	r = tmem_config_load_buffer(cfg, path, buf, got, err, errlen);
	free(buf);
	return r;

err_free:
	free(buf);
err_close:
	close(fd);
	return r;
}

/* ---- conflicts ----------------------------------------------------- */

/* "FILE:LINE: " for a value from the file, "" otherwise. */
static const char *where(const struct tmem_config *cfg, int origin, char *buf,
			 size_t len)
{
	if (origin > 0)
		snprintf(buf, len, "%s:%d: ", cfg->file, origin);
	else
		buf[0] = '\0';
	return buf;
}

int tmem_config_validate(const struct tmem_config *cfg, char *err,
			 size_t errlen)
{
	const struct tmem_config_share *sh;
	char w[4200], a[32], b[32];
	uint64_t pool = cfg->pool_size, reserved = cfg->swap_min_share;
	unsigned i;

	if (cfg->swap_min_share > pool) {
		set_err(err, errlen,
			"%smin-share: %s is more than the pool's size (%s)",
			where(cfg, key_origin(cfg, "swap", "min-share"), w,
			      sizeof w),
			fmt_size(cfg->swap_min_share, a, sizeof a),
			fmt_size(pool, b, sizeof b));
		return -EINVAL;
	}
	if (cfg->cache_max_share > pool) {
		set_err(err, errlen,
			"%smax-share: %s is more than the pool's size (%s)",
			where(cfg, key_origin(cfg, "cache", "max-share"), w,
			      sizeof w),
			fmt_size(cfg->cache_max_share, a, sizeof a),
			fmt_size(pool, b, sizeof b));
		return -EINVAL;
	}
	if (cfg->swap_export[0] &&
	    strcmp(cfg->swap_export, cfg->cache_name) == 0) {
		set_err(err, errlen,
			"%sname: the cache cannot use '%s', the swap device's "
			"sub-pool",
			where(cfg, key_origin(cfg, "cache", "name"), w,
			      sizeof w),
			cfg->cache_name);
		return -EINVAL;
	}
	for (i = 0; i < cfg->nr_shares; i++) {
		sh = &cfg->shares[i];
		if (sh->min_bytes > pool || sh->max_bytes > pool) {
			bool min = sh->min_bytes > pool;

			set_err(err, errlen,
				"%s%s-share.%s: %s is more than the pool's "
				"size (%s)",
				where(cfg,
				      min ? sh->min_origin : sh->max_origin, w,
				      sizeof w),
				min ? "min" : "max", sh->name,
				fmt_size(min ? sh->min_bytes : sh->max_bytes, a,
					 sizeof a),
				fmt_size(pool, b, sizeof b));
			return -EINVAL;
		}
		if (sh->max_bytes != 0 && sh->min_bytes > sh->max_bytes) {
			set_err(err, errlen,
				"%smin-share.%s: %s is more than max-share.%s "
				"(%s)",
				where(cfg, sh->min_origin, w, sizeof w),
				sh->name, fmt_size(sh->min_bytes, a, sizeof a),
				sh->name, fmt_size(sh->max_bytes, b, sizeof b));
			return -EINVAL;
		}
		/* The swap device's own entry replaces [swap] min-share. */
		if (strcmp(sh->name, cfg->swap_export) == 0)
			reserved -= cfg->swap_min_share;
		/* Saturate: two shares near 2^64 must not wrap to little. */
		if (__builtin_add_overflow(reserved, sh->min_bytes, &reserved))
			reserved = UINT64_MAX;
		if (reserved > pool) {
			set_err(err, errlen,
				"%smin-share.%s: the reserved shares add up to "
				"%s, more than the pool's size (%s)",
				where(cfg, sh->min_origin, w, sizeof w),
				sh->name, fmt_size(reserved, a, sizeof a),
				fmt_size(pool, b, sizeof b));
			return -EINVAL;
		}
	}
	return 0;
}

int tmem_config_share(const struct tmem_config *cfg, const char *name,
		      uint64_t *min_bytes, uint64_t *max_bytes)
{
	int i = share_find(cfg, name);

	if (i < 0)
		return -ENOENT;
	*min_bytes = cfg->shares[i].min_bytes;
	*max_bytes = cfg->shares[i].max_bytes;
	return 0;
}

void tmem_config_to_options(const struct tmem_config *cfg,
			    struct tmem_options *opts)
{
	opts->name = cfg->pool_name;
	opts->pool_size = cfg->pool_size;
	opts->level = cfg->level;
	opts->dedup = cfg->dedup;
	opts->dictionary = cfg->dictionary;
	opts->lock = cfg->lock;
	opts->prefault = cfg->prefault;
	opts->contexts = cfg->contexts;
}

/* ---- printing ------------------------------------------------------ */

static const char *origin_str(const struct tmem_config *cfg, int origin,
			      char *buf, size_t len)
{
	if (origin > 0)
		snprintf(buf, len, "%s:%d", cfg->file, origin);
	else
		snprintf(buf, len, "%s",
			 origin < 0 ? "command line" : "default");
	return buf;
}

/* The value of a key as text: sizes with the largest exact suffix, or in
 * bytes when bytes is set (for scripts). */
static void key_format(const struct tmem_config *cfg, const struct key_def *def,
		       bool bytes, char *val, size_t len)
{
	const char *p = (const char *)cfg + def->off;

	switch (def->type) {
	case KEY_NAME:
	case KEY_SUBPOOL:
	case KEY_PATH:
		snprintf(val, len, "%s", p);
		break;
	case KEY_SIZE: {
		uint64_t v;

		memcpy(&v, p, sizeof v);
		if (bytes)
			snprintf(val, len, "%llu", (unsigned long long)v);
		else
			fmt_size(v, val, len);
		break;
	}
	case KEY_INT: {
		int v;

		memcpy(&v, p, sizeof v);
		snprintf(val, len, "%d", v);
		break;
	}
	case KEY_UINT: {
		unsigned v;

		memcpy(&v, p, sizeof v);
		snprintf(val, len, "%u", v);
		break;
	}
	case KEY_BOOL: {
		bool v;

		memcpy(&v, p, sizeof v);
		snprintf(val, len, "%s", v ? "yes" : "no");
		break;
	}
	case KEY_SECONDS: {
		double v;

		memcpy(&v, p, sizeof v);
		snprintf(val, len, "%g", v);
		break;
	}
	}
}

int tmem_config_get(const struct tmem_config *cfg, const char *section,
		    const char *key, char *buf, size_t len)
{
	const struct key_def *def = key_find(section, key);
	uint64_t mn = 0, mx = 0;
	const char *name;
	int which;

	if (def) {
		key_format(cfg, def, true, buf, len);
		return 0;
	}
	which = strcmp(section, "pool") == 0 ? share_key(key, &name) : -1;
	if (which < 0 || !tmem_config_name_ok(name))
		return -ENOENT;
	(void)tmem_config_share(cfg, name, &mn, &mx);
	snprintf(buf, len, "%llu", (unsigned long long)(which ? mx : mn));
	return 0;
}

int tmem_config_print(const struct tmem_config *cfg, FILE *fp)
{
	const struct tmem_config_share *sh;
	const char *section = "";
	char val[4200], o[4200];
	size_t i;
	unsigned j;

	for (i = 0; i < NR_KEYS; i++) {
		const struct key_def *def = &keys[i];

		if (strcmp(section, def->section) != 0) {
			section = def->section;
			fprintf(fp, "%s[%s]\n", i ? "\n" : "", section);
			if (strcmp(section, "pool") == 0) {
				for (j = 0; j < cfg->nr_shares; j++) {
					sh = &cfg->shares[j];
					fprintf(fp, "min-share.%s = %s ; %s\n",
						sh->name,
						fmt_size(sh->min_bytes, val,
							 sizeof val),
						origin_str(cfg, sh->min_origin,
							   o, sizeof o));
					fprintf(fp, "max-share.%s = %s ; %s\n",
						sh->name,
						fmt_size(sh->max_bytes, val,
							 sizeof val),
						origin_str(cfg, sh->max_origin,
							   o, sizeof o));
				}
			}
		}
		key_format(cfg, def, false, val, sizeof val);
		fprintf(fp, "%s = %s ; %s\n", def->key, val,
			origin_str(cfg, cfg->origin[i], o, sizeof o));
	}
	return ferror(fp) ? -EIO : 0;
}
