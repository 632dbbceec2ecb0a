/* nbd-tmem: the log, kept off the swap path.
 *
 * nbdkit_error can block: with --log=syslog it writes to a socket that
 * journald may be slow to read, and it allocates (open_memstream).  A
 * swap request must not wait for that, so once the server serves, every
 * message -- the plugin's own and the pool's, from any thread -- goes into
 * a preallocated ring, and a thread of its own (the log thread, which
 * serves no request) hands them to nbdkit.  Putting a message in takes a
 * mutex that only this process's threads take, never for longer than a
 * copy, and only by trylock: a message that finds the ring busy or full
 * is counted and the count is reported instead.  An error (not a debug
 * message) also wakes the log thread by sem_post, which neither blocks
 * nor allocates, so that the first error after a quiet spell reaches the
 * log at once, not at the next poll: nbdkit may not live that long
 * (nbdkit 1.32 aborts on a reply to a client that has just hung up).
 * After a woken drain the thread waits a poll period before the next, so
 * a burst of errors is still handed over in batches (and what overflows
 * the ring counted), not one write per failed request.  Before the log
 * thread starts (while nbdkit reads keys and gets ready: errors must reach the
 * terminal and stop nbdkit) and after it stops, messages go straight to
 * nbdkit.
 *
 * log-file=: nbdkit forking into the background points its stderr at
 * /dev/null (unless -v), so with --log=stderr every message after the
 * start was lost.  With log-file=PATH (or "-": the stderr nbdkit was
 * started with, kept before the fork) every error and warning from the
 * fork on -- the ring's, and those of .after_fork and of the cleanup,
 * which run on nbdkit's main thread -- is written there instead, one
 * write(2) a line.  A line that cannot be written within 100 ms (a full
 * pipe) is counted as dropped, so the log thread never hangs on its
 * reader.  Debug messages still go to nbdkit_debug (-v).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-internal.h"

#define NT_LOG_SLOTS   64
#define NT_LOG_LEN     256
#define NT_LOG_POLL_MS 100

struct nt_log_msg {
	bool debug;
	char text[NT_LOG_LEN];
};

static struct {
	pthread_mutex_t mu;
	struct nt_log_msg msg[NT_LOG_SLOTS];
	unsigned head, count; /* mu */
	_Atomic unsigned long dropped;
	_Atomic bool on, stop;
	sem_t wake; /* posted for an error, and to stop */
	pthread_t thread;
} ring = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* log-file=: -1 for none.  Set by nbdkit's .config, before any thread;
 * closed by .unload, after every thread has stopped.  log_stamped: a
 * FILE (not "-"), whose lines begin with the UTC time and nbdkit's pid
 * ("2026-12-06T16:40:01.123Z nbdkit[PID]: tmem: error: ..."), as a log
 * file's do; stderr's readers (a terminal, journald) have their own. */
static int log_fd = -1;
static bool log_stamped;
/* nbdkit has forked (.after_fork began): its stderr may be /dev/null. */
static _Atomic bool forked;

int nt_log_file(const char *value)
{
	int fd;

	if (strcmp(value, "-") == 0)
		fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	else {
		/* O_NONBLOCK: a FIFO without a reader is an error (ENXIO),
		 * not a start that hangs.  Then blocking again (the open
		 * file is this process's own), bounded by poll in
		 * write_line. */
		/* Not through a symbolic link (one planted in a shared
		 * directory, /dev/shm as much as /tmp, would have the server
		 * append to any file it can write), but the links to this
		 * process's own descriptors are links. */
		bool sys = strcmp(value, "/dev/stderr") == 0 ||
			   strcmp(value, "/dev/stdout") == 0 ||
			   strncmp(value, "/dev/fd/", 8) == 0 ||
			   strncmp(value, "/proc/self/fd/", 14) == 0;
		struct stat st;

		fd = open(value,
			  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY |
				  O_NONBLOCK | (sys ? 0 : O_NOFOLLOW),
			  0600);
		if (fd < 0 && errno == ELOOP) {
			nbdkit_error("log-file=%s: a symbolic link: give the "
				     "file itself",
				     value);
			return -1;
		}
		/* A regular file another user owns or may write is not the
		 * server's log. */
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_uid != geteuid() || (st.st_mode & 022))) {
			nbdkit_error("log-file=%s: owned by uid %u, mode %04o: "
				     "a log file must be this user's and "
				     "writable by it alone",
				     value, (unsigned)st.st_uid,
				     (unsigned)(st.st_mode & 07777));
			close(fd);
			return -1;
		}
		int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

		if (fd >= 0 &&
		    (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		nbdkit_error("log-file=%s: %m", value);
		return -1;
	}
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	log_stamped = strcmp(value, "-") != 0;
	/* glibc reads the time zone (a file, malloc) on the first time
	 * conversion of any kind: here, before the process locks its memory,
	 * not in the log thread under memory pressure. */
	tzset();
	return 0;
}

void nt_log_forked(void)
{
	atomic_store(&forked, true);
}

void nt_log_file_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

/* One line to log-file=, in one write(2) (atomic for an O_APPEND file or
 * a pipe: it is shorter than PIPE_BUF).  Not written, and counted as
 * dropped, when the file takes no more within 100 ms; a short write is
 * not retried.  The stamp is UTC; the time zone was read at .config. */
static void write_line(const char *kind, const char *text)
{
	char line[NT_LOG_LEN + 160], stamp[96] = "nbdkit: ";
	struct pollfd pfd = {.fd = log_fd, .events = POLLOUT};
	struct timespec now;
	struct tm tm;
	int n;

	if (log_stamped && clock_gettime(CLOCK_REALTIME, &now) == 0 &&
	    gmtime_r(&now.tv_sec, &tm) != NULL)
		snprintf(stamp, sizeof stamp,
			 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ nbdkit[%ld]: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec,
			 now.tv_nsec / 1000000, (long)getpid());
	n = snprintf(line, sizeof line, "%stmem: %s: %s\n", stamp, kind, text);
	if (n < 0)
		return;
	if (poll(&pfd, 1, NT_LOG_POLL_MS) != 1) {
		atomic_fetch_add(&ring.dropped, 1);
		return;
	}
	if ((size_t)n >= sizeof line) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	if (write(log_fd, line, (size_t)n) < 0)
		return; /* nowhere left to say it */
}

void nt_log_warn(const char *fmt, ...)
{
	char text[NT_LOG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (log_fd >= 0)
		write_line("warning", text);
	else if (atomic_load(&forked))
		nbdkit_error("warning: %s", text); /* syslog, by default */
	else
		fprintf(stderr, "nbdkit: tmem: warning: %s\n", text);
}

/* A message from the ring, or from before or after it runs. */
static void say(bool debug, bool from_ring, const char *text)
{
	if (debug)
		nbdkit_debug("%s", text);
	else if (log_fd >= 0 && (from_ring || atomic_load(&forked)))
		write_line("error", text);
	else
		nbdkit_error("%s", text);
}

void nt_log(bool debug, const char *fmt, ...)
{
	struct nt_log_msg *m;
	char text[NT_LOG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (!atomic_load_explicit(&ring.on, memory_order_acquire)) {
		say(debug, false, text);
		return;
	}
	if (pthread_mutex_trylock(&ring.mu) != 0) {
		atomic_fetch_add(&ring.dropped, 1);
		return;
	}
	if (ring.count == NT_LOG_SLOTS) {
		pthread_mutex_unlock(&ring.mu);
		atomic_fetch_add(&ring.dropped, 1);
		return;
	}
	m = &ring.msg[(ring.head + ring.count) % NT_LOG_SLOTS];
	m->debug = debug;
	memcpy(m->text, text, sizeof m->text);
	ring.count++;
	pthread_mutex_unlock(&ring.mu);
	if (!debug)
		sem_post(&ring.wake);
}

/* Hand what the ring holds to nbdkit or log-file=, one message at a time
 * (the lock is never held across the write). */
static void drain(void)
{
	struct nt_log_msg m;
	unsigned long lost;

	for (;;) {
		pthread_mutex_lock(&ring.mu);
		if (ring.count == 0) {
			pthread_mutex_unlock(&ring.mu);
			break;
		}
		m = ring.msg[ring.head];
		ring.head = (ring.head + 1) % NT_LOG_SLOTS;
		ring.count--;
		pthread_mutex_unlock(&ring.mu);
		say(m.debug, true, m.text);
	}
	lost = atomic_exchange(&ring.dropped, 0);
	if (lost) {
		char text[NT_LOG_LEN];

		snprintf(text, sizeof text,
			 "%lu log messages were dropped (the log ring was "
			 "full or busy)",
			 lost);
		say(false, true, text);
	}
}

/* Drain every NT_LOG_POLL_MS, or at once when an error wakes it (then
 * not again for NT_LOG_POLL_MS). */
static void *log_main(void *arg)
{
	struct timespec until, poll = {0, NT_LOG_POLL_MS * 1000000L};
	bool woken;

	(void)arg;
	while (!atomic_load(&ring.stop)) {
		until = nt_deadline_ms(NT_LOG_POLL_MS);
		woken = sem_clockwait(&ring.wake, CLOCK_MONOTONIC, &until) == 0;
		while (woken && sem_trywait(&ring.wake) == 0)
			; /* one drain serves every error so far */
		drain();
		if (woken && !atomic_load(&ring.stop))
			nanosleep(&poll, NULL);
	}
	return NULL;
}

int nt_log_start(void)
{
	int r;

	if (atomic_load(&ring.on))
		return 0;
	atomic_store(&ring.stop, false);
	if (sem_init(&ring.wake, 0, 0) < 0)
		return -errno;
	r = pthread_create(&ring.thread, NULL, log_main, NULL);
	if (r) {
		sem_destroy(&ring.wake);
		return -r;
	}
	pthread_setname_np(ring.thread, "tmem-log"); /* ps -L, top -H */
	atomic_store_explicit(&ring.on, true, memory_order_release);
	return 0;
}

void nt_log_stop(void)
{
	if (!atomic_load(&ring.on))
		return;
	atomic_store(&ring.stop, true);
	sem_post(&ring.wake);
	pthread_join(ring.thread, NULL);
	/* ring.wake is not destroyed: a thread that saw ring.on may still
	 * post it (a Linux semaphore holds nothing to free). */
	atomic_store_explicit(&ring.on, false, memory_order_release);
	/* Whatever came in between the last round and now. */
	drain();
}
