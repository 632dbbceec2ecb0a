/* tmem: the tmem.conf reader, the checks across keys, and printing.
 *
 * The keys themselves, their types, ranges and messages are tmem-opt.c's
 * table: the INI file (libinih) and the command line (tmem_opt_set) both
 * go through tmem_opt_apply, so a key is checked the same way wherever it
 * comes from, and the command line wins whatever the order in which
 * front-ends call tmem_opt_set and tmem_config_load.
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
#include "tmem-opt.h"

/* A config file is a few hundred bytes; refuse something that is not. */
#define CONFIG_FILE_MAX (1 << 20)

static const char *const sections[] = {"pool", "swap", "cache"};

/* Where the value of [section] key came from (see origin[]). */
static int key_origin(const struct tmem_config *cfg, const char *section,
		      const char *key)
{
	int i = tmem_opt_index(section, key);

	return i >= 0 ? cfg->origin[i] : 0;
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
	cfg->swap_demote_after = 10.0;
	cfg->swap_free_notify = true;
	cfg->swap_ballast = 4 << 20;
	cfg->swap_realtime = true;
	cfg->swap_full_oom = 5;
	cfg->swap_watermark_gap = 32 << 20;
	cfg->swap_dedup_scope = TMEM_SCOPE_SUBPOOL;

	cfg->cache_chunk_size = 128 << 10;
	cfg->cache_max_share = 0;
	cfg->cache_attr_timeout = 1.0;
	cfg->cache_entry_timeout = 1.0;
	cfg->cache_dedup = false;
	cfg->cache_granularity = 2.0;
	cfg->cache_admit = TMEM_ADMIT_REPEAT;
	cfg->cache_kept_inodes = 0;
	cfg->cache_acl = true;
	cfg->cache_cto = true;
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
		tmem_opt_err(err, errlen, "[%s]: unknown section", section);
		return -ENOENT;
	}
	r = tmem_opt_apply(cfg, section, key, value, -1, NULL, msg, sizeof msg);
	if (r < 0)
		tmem_opt_err(err, errlen, "%s: %s", key, msg);
	return r;
}

/* ---- the file ------------------------------------------------------ */

struct load_ctx {
	struct tmem_config *cfg;
	const char *file;
	const char *buf;
	size_t len, pos;
	int lineno;
	struct tmem_opt_seen seen;
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
 * lies between '[' and the first ']', untrimmed.  inih ignores what
 * follows ']'; here only blanks and a ';' or '#' comment may, so that a
 * key written on the header's line is refused, not dropped. */
static void load_check_section(struct load_ctx *ctx, const char *line,
			       size_t len)
{
	const char *close = memchr(line, ']', len);
	const char *p, *end = line + len;
	size_t n, i;

	if (close == NULL) {
		load_fail(ctx, -EINVAL, "%.*s: missing ']'", (int)len, line);
		return;
	}
	for (p = close + 1; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	if (p < end && *p != ';' && *p != '#') {
		load_fail(ctx, -EINVAL,
			  "%.*s: text after ']' (only a ';' or '#' comment "
			  "may follow)",
			  (int)len, line);
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
	r = tmem_opt_apply(ctx->cfg, section, name, value, ctx->lineno,
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
		tmem_opt_err(err, errlen, "%s: out of memory", filename);
		return -ENOMEM;
	}
	/* inih's own complaint (a line that is neither a section, a
	 * comment nor key = value) comes back as its line number. */
	if (r > 0 && (!ctx.err || r < ctx.lineno)) {
		tmem_opt_err(
			err, errlen,
			"%s:%d: syntax error (expected [section], key = value "
			"or a comment)",
			filename, r);
		return -EINVAL;
	}
	if (ctx.err) {
		tmem_opt_err(err, errlen, "%s:%d: %s", filename, ctx.lineno,
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

	/* Not blocked waiting for a writer if PATH is a FIFO: it is refused
	 * below, as is anything else but a regular file, where O_NONBLOCK
	 * changes nothing. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		tmem_opt_err(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		tmem_opt_err(err, errlen, "%s: %s", path, strerror(-r));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
		r = S_ISDIR(st.st_mode)	  ? -EISDIR
		    : S_ISREG(st.st_mode) ? -EFBIG
					  : -EINVAL;
		tmem_opt_err(err, errlen, "%s: %s", path,
			     S_ISREG(st.st_mode)
				     ? "larger than 1 MiB: not a config "
				       "file"
				     : "not a regular file");
		goto err_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		tmem_opt_err(err, errlen, "%s: out of memory", path);
		goto err_close;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			tmem_opt_err(err, errlen, "%s: %s", path, strerror(-r));
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
		tmem_opt_err(
			err, errlen,
			"%smin-share: %s is more than the pool's size (%s)",
			where(cfg, key_origin(cfg, "swap", "min-share"), w,
			      sizeof w),
			tmem_opt_fmt_size(cfg->swap_min_share, a, sizeof a),
			tmem_opt_fmt_size(pool, b, sizeof b));
		return -EINVAL;
	}
	if (cfg->cache_max_share > pool) {
		tmem_opt_err(
			err, errlen,
			"%smax-share: %s is more than the pool's size (%s)",
			where(cfg, key_origin(cfg, "cache", "max-share"), w,
			      sizeof w),
			tmem_opt_fmt_size(cfg->cache_max_share, a, sizeof a),
			tmem_opt_fmt_size(pool, b, sizeof b));
		return -EINVAL;
	}
	if (cfg->swap_export[0] &&
	    strcmp(cfg->swap_export, cfg->cache_name) == 0) {
		tmem_opt_err(
			err, errlen,
			"%sname: the cache cannot use '%s', the swap device's "
			"sub-pool",
			where(cfg, key_origin(cfg, "cache", "name"), w,
			      sizeof w),
			cfg->cache_name);
		return -EINVAL;
	}
	for (i = 0; i < cfg->nr_shares; i++) {
		bool swap;
		uint64_t mn;

		sh = &cfg->shares[i];
		/* The swap device's own entry replaces [swap] min-share
		 * where it gives a minimum (tmem_config_share). */
		swap = strcmp(sh->name, cfg->swap_export) == 0;
		mn = swap && !sh->min_origin ? cfg->swap_min_share
					     : sh->min_bytes;
		if (sh->min_bytes > pool || sh->max_bytes > pool) {
			bool min = sh->min_bytes > pool;

			tmem_opt_err(
				err, errlen,
				"%s%s-share.%s: %s is more than the pool's "
				"size (%s)",
				where(cfg,
				      min ? sh->min_origin : sh->max_origin, w,
				      sizeof w),
				min ? "min" : "max", sh->name,
				tmem_opt_fmt_size(min ? sh->min_bytes
						      : sh->max_bytes,
						  a, sizeof a),
				tmem_opt_fmt_size(pool, b, sizeof b));
			return -EINVAL;
		}
		if (sh->max_bytes != 0 && mn > sh->max_bytes) {
			tmem_opt_err(
				err, errlen,
				"%s%smin-share%s%s: %s is more than "
				"max-share.%s (%s)",
				where(cfg,
				      sh->min_origin ? sh->min_origin
						     : key_origin(cfg, "swap",
								  "min-share"),
				      w, sizeof w),
				sh->min_origin ? "" : "[swap] ",
				sh->min_origin ? "." : "",
				sh->min_origin ? sh->name : "",
				tmem_opt_fmt_size(mn, a, sizeof a), sh->name,
				tmem_opt_fmt_size(sh->max_bytes, b, sizeof b));
			return -EINVAL;
		}
		if (swap)
			reserved -= cfg->swap_min_share;
		/* Saturate: two shares near 2^64 must not wrap to little. */
		if (__builtin_add_overflow(reserved, mn, &reserved))
			reserved = UINT64_MAX;
		/* Less the chunk puts leave free for compaction: beyond
		 * it one promise could not be kept (TMEM_RESERVABLE). */
		if (reserved > TMEM_RESERVABLE(pool)) {
			tmem_opt_err(
				err, errlen,
				"%smin-share.%s: the reserved shares add up to "
				"%s, more than the pool can reserve (its size, "
				"%s, less one 64K chunk)",
				where(cfg, sh->min_origin, w, sizeof w),
				sh->name,
				tmem_opt_fmt_size(reserved, a, sizeof a),
				tmem_opt_fmt_size(pool, b, sizeof b));
			return -EINVAL;
		}
	}
	return 0;
}

int tmem_config_share(const struct tmem_config *cfg, const char *name,
		      uint64_t *min_bytes, uint64_t *max_bytes)
{
	int i = tmem_opt_share_find(cfg, name);

	if (i < 0)
		return -ENOENT;
	if (cfg->shares[i].min_origin)
		*min_bytes = cfg->shares[i].min_bytes;
	if (cfg->shares[i].max_origin)
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

int tmem_config_get(const struct tmem_config *cfg, const char *section,
		    const char *key, char *buf, size_t len)
{
	int i = tmem_opt_index(section, key), which;
	uint64_t mn = 0, mx = 0;
	const char *name;

	if (i >= 0) {
		tmem_opt_format(cfg, (size_t)i, true, buf, len);
		return 0;
	}
	which = strcmp(section, "pool") == 0 ? tmem_opt_share_key(key, &name)
					     : -1;
	if (which < 0 || !tmem_config_name_ok(name))
		return -ENOENT;
	(void)tmem_config_share(cfg, name, &mn, &mx);
	snprintf(buf, len, "%llu", (unsigned long long)(which ? mx : mn));
	return 0;
}

/* One half of a [pool] share, only if it was given: a half not given
 * leaves the sub-pool's own default ([swap] min-share, [cache]
 * max-share), and printing it would override that when read again. */
static void print_share(FILE *fp, const struct tmem_config *cfg,
			const struct tmem_config_share *sh, bool max)
{
	char val[32], o[4200];
	int origin = max ? sh->max_origin : sh->min_origin;

	if (origin == 0)
		return;
	fprintf(fp, "%s-share.%s = %s ; %s\n", max ? "max" : "min", sh->name,
		tmem_opt_fmt_size(max ? sh->max_bytes : sh->min_bytes, val,
				  sizeof val),
		origin_str(cfg, origin, o, sizeof o));
}

int tmem_config_print(const struct tmem_config *cfg, FILE *fp)
{
	const struct tmem_config_share *sh;
	const char *section = "";
	char val[4200], o[4200];
	size_t i;
	unsigned j;

	for (i = 0; i < tmem_opt_count(); i++) {
		if (tmem_opt_section(i) == NULL)
			continue; /* not a tmem.conf key */
		if (strcmp(section, tmem_opt_section(i)) != 0) {
			section = tmem_opt_section(i);
			fprintf(fp, "%s[%s]\n", i ? "\n" : "", section);
			if (strcmp(section, "pool") == 0) {
				for (j = 0; j < cfg->nr_shares; j++) {
					sh = &cfg->shares[j];
					print_share(fp, cfg, sh, false);
					print_share(fp, cfg, sh, true);
				}
			}
		}
		tmem_opt_format(cfg, i, false, val, sizeof val);
		fprintf(fp, "%s = %s ; %s\n", tmem_opt_key(i), val,
			origin_str(cfg, cfg->origin[i], o, sizeof o));
	}
	return ferror(fp) ? -EIO : 0;
}
