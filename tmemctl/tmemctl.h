/* tmemctl: shared declarations of the command-line tool. */
#ifndef TMEMCTL_H
#define TMEMCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tmem-config.h"
#include "tmem-opt.h"
#include "tmem.h"

/* Exit statuses: 0 success, 1 the operation failed (or check found the
 * segment unsound), 2 bad usage. */
#define EXIT_USAGE 2

enum ctl_format {
	FORMAT_TEXT = 0,
	FORMAT_JSON,
	FORMAT_PROMETHEUS,
};

/* Everything the command line said. */
struct ctl {
	const char *prog;
	const char *config_path; /* NULL: the default, if it exists */
	struct tmem_config cfg;	 /* file + command line */
	const char *segment;	 /* --segment/--pool, else cfg.pool_name */
	const char *subpool;	 /* --subpool: one sub-pool only */
	enum ctl_format format;
	double watch;	    /* --watch SECONDS, 0 = once */
	const char *output; /* --output FILE (written atomically) */
	bool force;
	bool deep;     /* check --deep */
	uint64_t rate; /* check --rate PAGES (per second) */
	/* create: --subpool-add NAME:KIND[:MIN[:MAX]] */
	char **adds;
	int nr_adds;
	/* config: --get SECTION.KEY */
	char **gets;
	int nr_gets;
};

/* Print "tmemctl: msg" to stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Attach to the segment (read-only or read-write, never creating it);
 * prints a message that says what to do on failure.  0 or -errno. */
int ctl_attach(struct ctl *c, bool readonly, struct tmem **out);

/* tmemctl stats: one report to fp in c->format. */
int ctl_stats_print(struct ctl *c, struct tmem *t, FILE *fp);

/* tmemctl stats with --watch and --output. */
int ctl_cmd_stats(struct ctl *c);

/* tmemctl pools. */
int ctl_cmd_pools(struct ctl *c);

/* check --deep: verify the nbd plugin's overflow files beside the segment
 * (each /dev/shm/SEGMENT.nbd-EXPORT.ovmap and the file it names): every
 * used slot's record and bytes.  Prints each damaged page; returns how
 * many. */
unsigned ctl_check_overflow(struct ctl *c);

/* Human-readable size: "1.5 GiB". */
const char *ctl_fmt_bytes(uint64_t v, char *buf, size_t len);

#endif /* TMEMCTL_H */
