/* tmemctl: the statistics, as a table, as JSON and in the Prometheus
 * text format (for node_exporter's textfile collector), once or every N
 * seconds, and the list of sub-pools.
 *
 * One table of fields drives all three formats, so that they always show
 * the same figures under the same names: the JSON key is the field name,
 * the Prometheus metric is tmem_NAME (tmem_NAME_total for counters) for the
 * whole segment and tmem_subpool_NAME{subpool="..."} per sub-pool.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tmemctl.h"

enum field_kind { GAUGE, COUNTER };

struct field {
	const char *name;
	size_t off;
	enum field_kind kind;
	const char *help;
};

#define S(f) offsetof(struct tmem_stats, f)

static const struct field fields[] = {
	{"pages_stored", S(pages_stored), GAUGE, "Pages stored (keys present)"},
	{"bytes_represented", S(bytes_represented), GAUGE,
	 "Bytes the pool answers for (4096 per stored page)"},
	{"bytes_used", S(bytes_used), GAUGE,
	 "Segment bytes taken by data and metadata"},
	{"bytes_resident", S(bytes_resident), GAUGE,
	 "Segment bytes in memory now"},
	{"bytes_compressed", S(bytes_compressed), GAUGE,
	 "Payload bytes of stored blobs"},
	{"bytes_index", S(bytes_index), GAUGE,
	 "Index records of the stored pages (part of bytes_used)"},
	{"zero_pages", S(zero_pages), GAUGE,
	 "Pages stored as all-zero, without allocation"},
	{"same_filled_pages", S(same_filled_pages), GAUGE,
	 "Pages stored as one repeated word, without allocation"},
	{"raw_pages", S(raw_pages), GAUGE,
	 "Pages stored uncompressed (compression saved too little)"},
	{"pages_read_back", S(pages_read_back), GAUGE,
	 "Persistent pages read since last written: likely stale swap slots"},
	{"bytes_read_back", S(bytes_read_back), GAUGE,
	 "Payload bytes of the pages read back"},
	{"dedup_hits", S(dedup_hits), COUNTER,
	 "Puts that found an identical stored page"},
	{"puts", S(puts), COUNTER, "Put calls"},
	{"gets", S(gets), COUNTER, "Get calls"},
	{"hits", S(hits), COUNTER, "Gets that found the page"},
	{"misses", S(misses), COUNTER, "Gets that did not find the page"},
	{"flushes", S(flushes), COUNTER, "Pages flushed"},
	{"evictions", S(evictions), COUNTER,
	 "Ephemeral pages evicted to make room"},
	{"checksum_errors", S(checksum_errors), COUNTER,
	 "Gets that found stored bytes failing their checksum"},
};
#define NR_FIELDS (sizeof fields / sizeof fields[0])

static uint64_t field_get(const struct tmem_stats *st, const struct field *f)
{
	uint64_t v;

	memcpy(&v, (const char *)st + f->off, sizeof v);
	return v;
}

const char *ctl_fmt_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = {"B",	  "KiB", "MiB",
					   "GiB", "TiB", "PiB"};
	double d = (double)v;
	int i = 0;

	while (d >= 1024 && i < 5) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, len, "%.1f %s", d, unit[i]);
	return buf;
}

static const char *kind_name(enum tmem_kind k)
{
	return k == TMEM_PERSISTENT ? "persistent" : "ephemeral";
}

/* Everything one report shows, read in one go. */
struct snapshot {
	struct tmem_segment_info info;
	struct tmem_stats total;
	struct tmem_pool_info *pools;
	int nr_pools;
};

static void snapshot_free(struct snapshot *s)
{
	free(s->pools);
	s->pools = NULL;
}

static int snapshot_take(struct ctl *c, struct tmem *t, struct snapshot *s)
{
	int n, r;

	memset(s, 0, sizeof *s);
	r = tmem_segment_info(t, &s->info);
	if (r == 0)
		r = tmem_stats_get(t, &s->total);
	if (r < 0) {
		ctl_error("%s: cannot read the statistics: %s", c->segment,
			  tmem_strerror(r));
		return r;
	}
	/* The table can grow between two calls: retry until it fits. */
	for (n = 16;;) {
		s->pools = calloc((size_t)n, sizeof *s->pools);
		if (s->pools == NULL) {
			ctl_error("out of memory");
			return -ENOMEM;
		}
		r = tmem_pool_list(t, s->pools, n);
		if (r < 0) {
			ctl_error("%s: cannot list the sub-pools: %s",
				  c->segment, tmem_strerror(r));
			snapshot_free(s);
			return r;
		}
		if (r <= n)
			break;
		free(s->pools);
		n = r;
	}
	s->nr_pools = r;
	if (c->subpool) {
		int i, j = 0;

		for (i = 0; i < s->nr_pools; i++)
			if (strcmp(s->pools[i].name, c->subpool) == 0)
				s->pools[j++] = s->pools[i];
		if (j == 0) {
			ctl_error("%s: no sub-pool named '%s' (see 'tmemctl "
				  "pools')",
				  c->segment, c->subpool);
			snapshot_free(s);
			return -ENOENT;
		}
		s->nr_pools = j;
	}
	return 0;
}

/* ---- text ---------------------------------------------------------- */

static void text_row(FILE *fp, const char *label, const struct snapshot *s,
		     const struct field *f, int reject)
{
	const struct tmem_stats *st;
	int i;

	fprintf(fp, "%-22s", label);
	for (i = -1; i < s->nr_pools; i++) {
		st = i < 0 ? &s->total : &s->pools[i].stats;
		fprintf(fp, " %16llu",
			(unsigned long long)(f ? field_get(st, f)
					       : st->rejects[reject]));
	}
	fputc('\n', fp);
}

static void text_ratio(FILE *fp, const struct snapshot *s)
{
	const struct tmem_stats *st;
	int i;

	fprintf(fp, "%-22s", "ratio (repr./used)");
	for (i = -1; i < s->nr_pools; i++) {
		st = i < 0 ? &s->total : &s->pools[i].stats;
		if (st->bytes_used)
			fprintf(fp, " %16.2f",
				(double)st->bytes_represented /
					(double)st->bytes_used);
		else
			fprintf(fp, " %16s", "-");
	}
	fputc('\n', fp);
}

static const char *const dict_states[] = {
	[TMEM_DICT_SAMPLING] = "sampling", [TMEM_DICT_TRAINING] = "training",
	[TMEM_DICT_READY] = "ready",	   [TMEM_DICT_FAILED] = "failed",
	[TMEM_DICT_OFF] = "off",
};

static const char *dict_state_name(const struct tmem_segment_info *si)
{
	unsigned st = si->dict_state;

	return st < sizeof dict_states / sizeof dict_states[0] &&
			       dict_states[st]
		       ? dict_states[st]
		       : "unknown";
}

/* "ready (2 of 8, 64.0 KiB)": dictionaries ready, slots, their bytes;
 * or the state alone. */
static const char *dict_text(const struct tmem_segment_info *si, char *buf,
			     size_t len)
{
	char b[32];

	if (si->dict_state == TMEM_DICT_READY)
		snprintf(buf, len, "ready (%u of %u, %s)", si->dicts,
			 si->dict_slots,
			 ctl_fmt_bytes(si->dict_bytes, b, sizeof b));
	else
		snprintf(buf, len, "%s", dict_state_name(si));
	return buf;
}

static void print_text(FILE *fp, const struct snapshot *s)
{
	char a[32], b[32], c[32];
	size_t i;
	int j;

	fprintf(fp,
		"segment %s: layout %u, ceiling %s, mapped %s, level %d, "
		"dedup %s, dictionary %s, %u process%s attached\n",
		s->info.name, s->info.layout_version,
		ctl_fmt_bytes(s->info.pool_size, a, sizeof a),
		ctl_fmt_bytes(s->info.segment_bytes, b, sizeof b),
		s->info.level, s->info.dedup ? "on" : "off",
		dict_text(&s->info, c, sizeof c), s->info.attached,
		s->info.attached == 1 ? "" : "es");
	fprintf(fp, "stored %s in %s (%s resident)\n\n",
		ctl_fmt_bytes(s->total.bytes_represented, a, sizeof a),
		ctl_fmt_bytes(s->total.bytes_used, b, sizeof b),
		ctl_fmt_bytes(s->total.bytes_resident, c, sizeof c));

	fprintf(fp, "%-22s %16s", "", "segment");
	for (j = 0; j < s->nr_pools; j++)
		fprintf(fp, " %16.16s", s->pools[j].name);
	fputc('\n', fp);
	fprintf(fp, "%-22s %16s", "", "");
	for (j = 0; j < s->nr_pools; j++)
		fprintf(fp, " %16s", kind_name(s->pools[j].kind));
	fputc('\n', fp);
	for (i = 0; i < NR_FIELDS; i++)
		text_row(fp, fields[i].name, s, &fields[i], 0);
	for (j = 0; j < TMEM_REJECT_NR; j++) {
		char label[64];

		snprintf(label, sizeof label, "rejects.%s",
			 tmem_reject_names[j]);
		text_row(fp, label, s, NULL, j);
	}
	text_ratio(fp, s);
}

/* ---- JSON ---------------------------------------------------------- */

static void json_string(FILE *fp, const char *str)
{
	const unsigned char *p;

	fputc('"', fp);
	for (p = (const unsigned char *)str; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(fp, "\\u%04x", *p);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

static void json_stats(FILE *fp, const struct tmem_stats *st,
		       const char *indent)
{
	size_t i;
	int j;

	for (i = 0; i < NR_FIELDS; i++)
		fprintf(fp, "%s\"%s\": %llu,\n", indent, fields[i].name,
			(unsigned long long)field_get(st, &fields[i]));
	fprintf(fp, "%s\"rejects\": {", indent);
	for (j = 0; j < TMEM_REJECT_NR; j++) {
		fprintf(fp, "%s", j ? ", " : "");
		json_string(fp, tmem_reject_names[j]);
		fprintf(fp, ": %llu", (unsigned long long)st->rejects[j]);
	}
	fprintf(fp, "}");
}

static void print_json(FILE *fp, const struct snapshot *s)
{
	int i;

	fprintf(fp, "{\n  \"segment\": ");
	json_string(fp, s->info.name);
	fprintf(fp,
		",\n  \"version\": \"%s\",\n  \"layout_version\": %u,\n"
		"  \"pool_size\": %llu,\n  \"segment_bytes\": %llu,\n"
		"  \"level\": %d,\n  \"dedup\": %s,\n"
		"  \"dictionary\": \"%s\",\n  \"dictionary_bytes\": %u,\n"
		"  \"attached\": %u,\n",
		tmem_version(), s->info.layout_version,
		(unsigned long long)s->info.pool_size,
		(unsigned long long)s->info.segment_bytes, s->info.level,
		s->info.dedup ? "true" : "false", dict_state_name(&s->info),
		s->info.dict_bytes, s->info.attached);
	json_stats(fp, &s->total, "  ");
	fprintf(fp, ",\n  \"subpools\": {");
	for (i = 0; i < s->nr_pools; i++) {
		const struct tmem_pool_info *p = &s->pools[i];

		fprintf(fp, "%s\n    ", i ? "," : "");
		json_string(fp, p->name);
		fprintf(fp,
			": {\n      \"id\": %u,\n      \"kind\": \"%s\",\n"
			"      \"min_bytes\": %llu,\n      \"max_bytes\": "
			"%llu,\n",
			p->id, kind_name(p->kind),
			(unsigned long long)p->min_bytes,
			(unsigned long long)p->max_bytes);
		json_stats(fp, &p->stats, "      ");
		fprintf(fp, "\n    }");
	}
	fprintf(fp, "%s}\n}\n", s->nr_pools ? "\n  " : "");
}

/* ---- Prometheus ---------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void prom_label(FILE *fp, const char *name, const char *value)
{
	const char *p;

	fprintf(fp, "%s=\"", name);
	for (p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(fp, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", fp);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

static void prom_family(FILE *fp, const char *name, const char *type,
			const char *help)
{
	fprintf(fp, "# HELP %s %s.\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: NAME{segment="..."[,subpool="...",kind="..."]} VALUE */
static void prom_sample(FILE *fp, const char *name, const struct snapshot *s,
			const struct tmem_pool_info *p, const char *extra_name,
			const char *extra_value, uint64_t v)
{
	fprintf(fp, "%s{", name);
	prom_label(fp, "segment", s->info.name);
	if (p) {
		fputc(',', fp);
		prom_label(fp, "subpool", p->name);
		fputc(',', fp);
		prom_label(fp, "kind", kind_name(p->kind));
	}
	if (extra_name) {
		fputc(',', fp);
		prom_label(fp, extra_name, extra_value);
	}
	fprintf(fp, "} %llu\n", (unsigned long long)v);
}

static void print_prometheus(FILE *fp, const struct snapshot *s)
{
	char name[96], help[160];
	size_t i;
	int pass, j, r;

	prom_family(fp, "tmem_info", "gauge",
		    "Version of tmemctl and layout of the segment, always 1");
	fprintf(fp, "tmem_info{");
	prom_label(fp, "segment", s->info.name);
	fputc(',', fp);
	prom_label(fp, "version", tmem_version());
	fprintf(fp, ",layout=\"%u\",dictionary=\"%s\"} 1\n",
		s->info.layout_version, dict_state_name(&s->info));
	prom_family(
		fp, "tmem_dictionary_bytes", "gauge",
		"Size of the trained zstd dictionaries, 0 until one is ready");
	prom_sample(fp, "tmem_dictionary_bytes", s, NULL, NULL, NULL,
		    s->info.dict_bytes);
	prom_family(fp, "tmem_pool_size_bytes", "gauge",
		    "Ceiling of the segment's memory");
	prom_sample(fp, "tmem_pool_size_bytes", s, NULL, NULL, NULL,
		    s->info.pool_size);
	prom_family(fp, "tmem_segment_bytes", "gauge",
		    "Mapped size of the segment");
	prom_sample(fp, "tmem_segment_bytes", s, NULL, NULL, NULL,
		    s->info.segment_bytes);
	prom_family(fp, "tmem_attached_processes", "gauge",
		    "Processes attached to the segment");
	prom_sample(fp, "tmem_attached_processes", s, NULL, NULL, NULL,
		    s->info.attached);

	/* pass 0: the whole segment; pass 1: per sub-pool. */
	for (pass = 0; pass < 2; pass++) {
		const char *pre = pass ? "tmem_subpool_" : "tmem_";

		if (pass == 1 && s->nr_pools == 0)
			break;
		if (pass == 1) {
			prom_family(fp, "tmem_subpool_min_bytes", "gauge",
				    "Memory reserved for the sub-pool");
			for (j = 0; j < s->nr_pools; j++)
				prom_sample(fp, "tmem_subpool_min_bytes", s,
					    &s->pools[j], NULL, NULL,
					    s->pools[j].min_bytes);
			prom_family(fp, "tmem_subpool_max_bytes", "gauge",
				    "Cap of the sub-pool, 0 for none");
			for (j = 0; j < s->nr_pools; j++)
				prom_sample(fp, "tmem_subpool_max_bytes", s,
					    &s->pools[j], NULL, NULL,
					    s->pools[j].max_bytes);
		}
		for (i = 0; i < NR_FIELDS; i++) {
			const struct field *f = &fields[i];

			snprintf(name, sizeof name, "%s%s%s", pre, f->name,
				 f->kind == COUNTER ? "_total" : "");
			/* A sub-pool's is counted from its chunks
			 * (tmem_pool_list), not read from the file. */
			if (pass && f->off == S(bytes_resident))
				snprintf(help, sizeof help,
					 "Bytes of the chunks the sub-pool "
					 "holds "
					 "data in (64 KiB each); its index "
					 "records count in bytes_used only");
			else
				snprintf(help, sizeof help, "%s%s", f->help,
					 pass ? ", per sub-pool" : "");
			prom_family(fp, name,
				    f->kind == COUNTER ? "counter" : "gauge",
				    help);
			if (pass == 0)
				prom_sample(fp, name, s, NULL, NULL, NULL,
					    field_get(&s->total, f));
			else
				for (j = 0; j < s->nr_pools; j++)
					prom_sample(
						fp, name, s, &s->pools[j], NULL,
						NULL,
						field_get(&s->pools[j].stats,
							  f));
		}
		snprintf(name, sizeof name, "%srejects_total", pre);
		prom_family(fp, name, "counter",
			    pass ? "Puts refused, by reason, per sub-pool"
				 : "Puts refused, by reason");
		for (r = 0; r < TMEM_REJECT_NR; r++) {
			if (pass == 0)
				prom_sample(fp, name, s, NULL, "reason",
					    tmem_reject_names[r],
					    s->total.rejects[r]);
			else
				for (j = 0; j < s->nr_pools; j++)
					prom_sample(
						fp, name, s, &s->pools[j],
						"reason", tmem_reject_names[r],
						s->pools[j].stats.rejects[r]);
		}
	}
}

int ctl_stats_print(struct ctl *c, struct tmem *t, FILE *fp)
{
	struct snapshot s;
	int r;

	r = snapshot_take(c, t, &s);
	if (r < 0)
		return r;
	switch (c->format) {
	case FORMAT_TEXT:
		print_text(fp, &s);
		break;
	case FORMAT_JSON:
		print_json(fp, &s);
		break;
	case FORMAT_PROMETHEUS:
		print_prometheus(fp, &s);
		break;
	}
	snapshot_free(&s);
	return 0;
}

/* Write the report to c->output through a temporary file and rename(2),
 * so that a collector never reads half a file.  The temporary file is
 * created by mkstemp beside FILE: a new file under a name nobody could
 * plant a link or a file at beforehand, readable by all (0644) as a
 * report is meant to be, whatever the umask. */
static int stats_write_file(struct ctl *c, struct tmem *t)
{
	char tmp[4200];
	FILE *fp = NULL;
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", c->output) >=
	    sizeof tmp) {
		ctl_error("%s: %s", c->output, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		ctl_error("%s: %s", tmp, strerror(-r));
		return r;
	}
	if (fchmod(fd, 0644) < 0 || (fp = fdopen(fd, "w")) == NULL) {
		r = -errno;
		ctl_error("%s: %s", tmp, strerror(-r));
		close(fd);
		unlink(tmp);
		return r;
	}
	r = ctl_stats_print(c, t, fp);
	if (fclose(fp) != 0 && r == 0) {
		r = -errno;
		ctl_error("%s: %s", tmp, strerror(-r));
	}
	if (r == 0 && rename(tmp, c->output) < 0) {
		r = -errno;
		ctl_error("%s: %s", c->output, strerror(-r));
	}
	if (r < 0)
		unlink(tmp);
	return r;
}

int ctl_cmd_stats(struct ctl *c)
{
	struct tmem *t;
	struct timespec ts;
	bool tty = isatty(STDOUT_FILENO) && c->output == NULL;
	int r;

	r = ctl_attach(c, true, &t);
	if (r < 0)
		return EXIT_FAILURE;
	for (;;) {
		if (c->output) {
			r = stats_write_file(c, t);
		} else {
			/* Like watch(1): redraw in place on a terminal. */
			if (c->watch > 0 && tty && c->format == FORMAT_TEXT)
				fputs("\033[H\033[2J", stdout);
			r = ctl_stats_print(c, t, stdout);
			if (c->watch > 0 && c->format == FORMAT_TEXT)
				fputc('\n', stdout);
			fflush(stdout);
		}
		if (r < 0 || c->watch <= 0)
			break;
		ts.tv_sec = (time_t)c->watch;
		ts.tv_nsec = (long)((c->watch - floor(c->watch)) * 1e9);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	tmem_close(t);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- pools --------------------------------------------------------- */

int ctl_cmd_pools(struct ctl *c)
{
	struct snapshot s;
	struct tmem *t;
	char a[32], b[32], u[32];
	int i, r;

	r = ctl_attach(c, true, &t);
	if (r < 0)
		return EXIT_FAILURE;
	r = snapshot_take(c, t, &s);
	tmem_close(t);
	if (r < 0)
		return EXIT_FAILURE;
	if (c->format == FORMAT_JSON) {
		printf("[");
		for (i = 0; i < s.nr_pools; i++) {
			const struct tmem_pool_info *p = &s.pools[i];

			printf("%s\n  {\"id\": %u, \"name\": ", i ? "," : "",
			       p->id);
			json_string(stdout, p->name);
			printf(", \"kind\": \"%s\", \"min_bytes\": %llu, "
			       "\"max_bytes\": %llu, \"pages_stored\": %llu, "
			       "\"bytes_used\": %llu}",
			       kind_name(p->kind),
			       (unsigned long long)p->min_bytes,
			       (unsigned long long)p->max_bytes,
			       (unsigned long long)p->stats.pages_stored,
			       (unsigned long long)p->stats.bytes_used);
		}
		printf("%s]\n", s.nr_pools ? "\n" : "");
	} else {
		printf("%-4s %-24s %-10s %12s %12s %12s %12s\n", "ID", "NAME",
		       "KIND", "MIN", "MAX", "PAGES", "USED");
		for (i = 0; i < s.nr_pools; i++) {
			const struct tmem_pool_info *p = &s.pools[i];

			printf("%-4u %-24s %-10s %12s %12s %12llu %12s\n",
			       p->id, p->name, kind_name(p->kind),
			       p->min_bytes ? ctl_fmt_bytes(p->min_bytes, a,
							    sizeof a)
					    : "-",
			       p->max_bytes ? ctl_fmt_bytes(p->max_bytes, b,
							    sizeof b)
					    : "-",
			       (unsigned long long)p->stats.pages_stored,
			       ctl_fmt_bytes(p->stats.bytes_used, u, sizeof u));
		}
	}
	snapshot_free(&s);
	return EXIT_SUCCESS;
}
