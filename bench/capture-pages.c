/* capture-pages: capture a corpus of real anonymous memory for the pool
 * benchmark.
 *
 * It starts a workload in its own process group, waits until the group's
 * anonymous resident memory reaches a target (or a time limit passes),
 * stops every process of the group with SIGSTOP, and copies each resident
 * page of their anonymous and heap mappings — read through /proc/PID/mem,
 * chosen with /proc/PID/pagemap so that untouched pages are not read as
 * zeros — to a file of 4096-byte pages.  Then it kills the group.  Pages
 * that swap would see are the pages a process has touched: that is the
 * corpus a compressed swap pool meets.
 *
 * Being the workload's ancestor also gives us the right to read its memory
 * where Yama restricts ptrace to descendants.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE	      4096
#define RUN_MAX_PAGES 256 /* pages per pread of /proc/PID/mem */
#define MAX_PROCS     64

struct capture_stats {
	uint64_t pages;
	uint64_t zero;
	uint64_t same;
	uint64_t unreadable;
	uint64_t mappings;
};

static uint64_t max_pages = UINT64_MAX;
static bool truncated;
/* The workload's process group: it does not get the terminal's Ctrl-C
 * (it is not in the foreground group), so we pass it on. */
static volatile pid_t workload_pgid;

static void on_signal(int sig)
{
	if (workload_pgid > 0) {
		kill(-workload_pgid, SIGKILL);
		kill(-workload_pgid, SIGCONT);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read a /proc file into buf; -1 if the process is gone. */
static ssize_t read_proc_file(pid_t pid, const char *what, char *buf,
			      size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* State letter and process group from /proc/PID/stat.  The command name
 * is in parentheses and may hold spaces: parse after the last ')'. */
static int proc_stat(pid_t pid, char *state, pid_t *pgrp)
{
	char buf[1024], *p;
	int pg;

	if (read_proc_file(pid, "stat", buf, sizeof buf) < 0)
		return -1;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %d", state, &pg) != 2)
		return -1;
	*pgrp = pg;
	return 0;
}

/* Every live process in group pgid; returns how many (at most max). */
static int group_members(pid_t pgid, pid_t *pids, int max)
{
	struct dirent *d;
	DIR *dir;
	int n = 0;

	dir = opendir("/proc");
	if (!dir)
		return 0;
	while ((d = readdir(dir)) != NULL && n < max) {
		pid_t pid = atoi(d->d_name), pg;
		char state;

		if (pid <= 0 || proc_stat(pid, &state, &pg) < 0)
			continue;
		if (pg == pgid && state != 'Z' && state != 'X')
			pids[n++] = pid;
	}
	closedir(dir);
	return n;
}

/* Anonymous resident KiB of one process (RssAnon), 0 if unknown. */
static uint64_t rss_anon_kib(pid_t pid)
{
	char buf[4096], *p;

	if (read_proc_file(pid, "status", buf, sizeof buf) < 0)
		return 0;
	p = strstr(buf, "RssAnon:");
	return p ? strtoull(p + 8, NULL, 10) : 0;
}

static bool page_is_same_filled(const uint64_t *w)
{
	for (size_t i = 1; i < PAGE / sizeof *w; i++)
		if (w[i] != w[0])
			return false;
	return true;
}

/* Which mappings hold anonymous memory: no backing file (inode 0), or a
 * kernel-named anonymous region; never the vdso and friends. */
static bool mapping_is_anonymous(const char *perms, unsigned long inode,
				 const char *name)
{
	if (perms[0] != 'r' || perms[3] != 'p' || inode != 0)
		return false;
	return name[0] == '\0' || strcmp(name, "[heap]") == 0 ||
	       strcmp(name, "[stack]") == 0 || strncmp(name, "[anon:", 6) == 0;
}

static int write_page(FILE *out, const void *page, struct capture_stats *st)
{
	if (st->pages >= max_pages) {
		truncated = true;
		return 0;
	}
	if (fwrite(page, PAGE, 1, out) != 1)
		return -1;
	st->pages++;
	if (page_is_same_filled(page)) {
		if (*(const uint64_t *)page == 0)
			st->zero++;
		else
			st->same++;
	}
	return 0;
}

/* Copy the present pages of [start, end) of one process. */
static int capture_range(int memfd, int mapfd, uint64_t start, uint64_t end,
			 FILE *out, struct capture_stats *st)
{
	static uint64_t pm[RUN_MAX_PAGES];
	static unsigned char buf[RUN_MAX_PAGES * PAGE];

	for (uint64_t a = start; a < end;) {
		size_t n = (end - a) / PAGE, i = 0;
		ssize_t r;

		if (n > RUN_MAX_PAGES)
			n = RUN_MAX_PAGES;
		r = pread(mapfd, pm, n * 8, (off_t)(a / PAGE * 8));
		if (r < (ssize_t)(n * 8))
			return -1;
		while (i < n) {
			size_t j = i;

			/* bit 63: present in RAM */
			while (j < n && (pm[j] >> 63))
				j++;
			if (j > i) {
				r = pread(memfd, buf, (j - i) * PAGE,
					  (off_t)(a + i * PAGE));
				if (r < 0)
					r = 0;
				for (size_t k = 0; k < (j - i); k++) {
					if ((size_t)r < (k + 1) * PAGE) {
						st->unreadable++;
						continue;
					}
					if (write_page(out, buf + k * PAGE,
						       st) < 0)
						return -1;
				}
			}
			while (j < n && !(pm[j] >> 63))
				j++;
			i = j;
		}
		a += n * PAGE;
	}
	return 0;
}

static int capture_process(pid_t pid, FILE *out, struct capture_stats *st)
{
	char path[64], line[4096];
	int memfd, mapfd, err = 0;
	FILE *maps;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	maps = fopen(path, "re");
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
	mapfd = open(path, O_RDONLY | O_CLOEXEC);
	if (!maps || memfd < 0 || mapfd < 0) {
		fprintf(stderr, "capture-pages: cannot open /proc/%d: %m\n",
			(int)pid);
		err = -1;
		goto close_files;
	}
	while (fgets(line, sizeof line, maps)) {
		unsigned long long start, end;
		unsigned long inode;
		char perms[8], name[4096] = "";

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%llx-%llx %7s %*s %*s %lu %4095[^\n]", &start,
			   &end, perms, &inode, name) < 4)
			continue;
		/* the name field is padded with spaces */
		char *nm = name + strspn(name, " ");

		if (!mapping_is_anonymous(perms, inode, nm))
			continue;
		st->mappings++;
		if (capture_range(memfd, mapfd, start, end, out, st) < 0) {
			fprintf(stderr,
				"capture-pages: reading pid %d at %llx: %m\n",
				(int)pid, start);
			err = -1;
			break;
		}
	}
close_files:
	if (maps)
		fclose(maps);
	if (memfd >= 0)
		close(memfd);
	if (mapfd >= 0)
		close(mapfd);
	return err;
}

/* Wait until every member of the group has stopped, so that no page
 * changes under the copy. */
static void wait_group_stopped(pid_t pgid)
{
	pid_t pids[MAX_PROCS];
	double deadline = now_seconds() + 5;

	while (now_seconds() < deadline) {
		int n = group_members(pgid, pids, MAX_PROCS), stopped = 0;

		for (int i = 0; i < n; i++) {
			char state;
			pid_t pg;

			if (proc_stat(pids[i], &state, &pg) == 0 &&
			    (state == 'T' || state == 't'))
				stopped++;
		}
		if (stopped == n)
			return;
		usleep(1000);
	}
	fprintf(stderr, "capture-pages: warning: not every process stopped\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: capture-pages -o FILE [--rss MIB] [--timeout SEC]\n"
		"                     [--max-pages N] [--label NAME] -- CMD "
		"[ARG...]\n"
		"       capture-pages -o FILE --pid PID [--max-pages N]\n"
		"Start CMD, wait until its process group holds MIB of "
		"anonymous\n"
		"memory (or SEC seconds pass), stop it, write its resident "
		"anonymous\n"
		"pages to FILE (4096 bytes each), kill it.  With --pid, copy "
		"a\n"
		"running process (stopped for the copy, then continued).\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"rss", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 't'},
		{"max-pages", required_argument, NULL, 'm'},
		{"label", required_argument, NULL, 'l'},
		{"pid", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *outpath = NULL, *label = "capture";
	double rss_mib = 64, timeout = 60, t0;
	struct capture_stats st = {0};
	pid_t pids[MAX_PROCS], child = 0, pgid, target = 0;
	uint64_t anon_kib = 0;
	bool timed_out = false;
	int c, n, status = 0;
	char *end;
	FILE *out;

	while ((c = getopt_long(argc, argv, "+o:r:t:m:l:p:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'o':
			outpath = optarg;
			break;
		case 'r':
			rss_mib = strtod(optarg, &end);
			if (*end || rss_mib <= 0) {
				fprintf(stderr,
					"capture-pages: --rss: not a "
					"positive number: %s\n",
					optarg);
				return 2;
			}
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end || timeout <= 0) {
				fprintf(stderr,
					"capture-pages: --timeout: not "
					"a positive number: %s\n",
					optarg);
				return 2;
			}
			break;
		case 'm':
			max_pages = strtoull(optarg, &end, 10);
			if (*end || max_pages == 0) {
				fprintf(stderr,
					"capture-pages: --max-pages: "
					"not a positive integer: %s\n",
					optarg);
				return 2;
			}
			break;
		case 'l':
			label = optarg;
			break;
		case 'p':
			target = strtol(optarg, &end, 10);
			if (*end || target <= 0) {
				fprintf(stderr,
					"capture-pages: --pid: not a pid: %s\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!outpath || (target == 0 && optind >= argc) ||
	    (target != 0 && optind < argc)) {
		usage(stderr);
		return 2;
	}
	out = fopen(outpath, "we");
	if (!out) {
		fprintf(stderr, "capture-pages: %s: %m\n", outpath);
		return 1;
	}

	if (target) {
		if (kill(target, SIGSTOP) < 0) {
			fprintf(stderr, "capture-pages: pid %d: %m\n",
				(int)target);
			return 1;
		}
		anon_kib = rss_anon_kib(target);
		if (capture_process(target, out, &st) < 0)
			status = 1;
		kill(target, SIGCONT);
		n = 1;
		goto report;
	}

	child = fork();
	if (child < 0) {
		fprintf(stderr, "capture-pages: fork: %m\n");
		return 1;
	}
	if (child == 0) {
		setpgid(0, 0);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "capture-pages: %s: %m\n", argv[optind]);
		_exit(127);
	}
	setpgid(child, child); /* both sides: no race with the exec */
	pgid = child;
	workload_pgid = pgid;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	t0 = now_seconds();
	for (;;) {
		int wst;

		if (waitpid(child, &wst, WNOHANG) == child) {
			fprintf(stderr,
				"capture-pages: %s: %s exited (status %d) "
				"before reaching %.0f MiB\n",
				label, argv[optind],
				WIFEXITED(wst) ? WEXITSTATUS(wst)
					       : 128 + WTERMSIG(wst),
				rss_mib);
			kill(-pgid, SIGKILL);
			fclose(out);
			unlink(outpath);
			return 1;
		}
		anon_kib = 0;
		n = group_members(pgid, pids, MAX_PROCS);
		for (int i = 0; i < n; i++)
			anon_kib += rss_anon_kib(pids[i]);
		if (anon_kib >= rss_mib * 1024)
			break;
		if (now_seconds() - t0 > timeout) {
			timed_out = true;
			break;
		}
		usleep(20000);
	}

	kill(-pgid, SIGSTOP);
	wait_group_stopped(pgid);
	n = group_members(pgid, pids, MAX_PROCS);
	for (int i = 0; i < n && !status; i++)
		if (capture_process(pids[i], out, &st) < 0)
			status = 1;
	kill(-pgid, SIGKILL);
	kill(-pgid, SIGCONT);
	waitpid(child, NULL, 0);

report:
	if (fclose(out) != 0) {
		fprintf(stderr, "capture-pages: %s: %m\n", outpath);
		return 1;
	}
	printf("capture %s: %" PRIu64 " pages from %d process(es), "
	       "%" PRIu64 " mappings, anon RSS %.1f MiB%s%s; "
	       "%" PRIu64 " zero, %" PRIu64 " same-filled, "
	       "%" PRIu64 " unreadable\n",
	       label, st.pages, n, st.mappings, anon_kib / 1024.0,
	       timed_out ? " (time limit reached first)" : "",
	       truncated ? " (truncated at --max-pages)" : "", st.zero, st.same,
	       st.unreadable);
	if (st.pages == 0) {
		fprintf(stderr, "capture-pages: %s: no pages captured\n",
			label);
		return 1;
	}
	return status;
}
