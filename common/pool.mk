# Pool core sources and unit tests (included from Makefile.am).
libtmem_la_SOURCES += \
	cleanup.h \
	tmem-internal.h \
	tmem-alloc.c \
	tmem-api.c \
	tmem-blob.c \
	tmem-check.c \
	tmem-codec.c \
	tmem-compact.c \
	tmem-dict.c \
	tmem-grower.c \
	tmem-index.c \
	tmem-lock.c \
	tmem-segment.c \
	tmem-stats.c \
	tmem-version.c \
	$(NULL)

# Unit tests: plain programs, exit 0 (pass), 1 (fail) or 77 (skip).
POOL_TESTS = \
	test-pool-basic \
	test-pool-evict \
	test-pool-badinput \
	test-pool-procs \
	test-pool-crash \
	test-pool-stop \
	test-pool-compact \
	test-pool-grow \
	test-pool-destroy \
	test-pool-nospace \
	test-pool-dict \
	$(NULL)
TESTS += $(POOL_TESTS)
check_PROGRAMS += $(POOL_TESTS)
EXTRA_DIST += test-pool.h

POOL_TEST_CFLAGS = $(AM_CFLAGS) $(ZSTD_CFLAGS) $(XXHASH_CFLAGS)
POOL_TEST_LDADD = libtmem.la

test_pool_basic_SOURCES = test-pool-basic.c test-pool.h
test_pool_basic_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_basic_LDADD = $(POOL_TEST_LDADD)

test_pool_evict_SOURCES = test-pool-evict.c test-pool.h
test_pool_evict_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_evict_LDADD = $(POOL_TEST_LDADD)

test_pool_badinput_SOURCES = test-pool-badinput.c test-pool.h
test_pool_badinput_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_badinput_LDADD = $(POOL_TEST_LDADD) $(XXHASH_LIBS)

test_pool_procs_SOURCES = test-pool-procs.c test-pool.h
test_pool_procs_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_procs_LDADD = $(POOL_TEST_LDADD)

test_pool_crash_SOURCES = test-pool-crash.c test-pool.h
test_pool_crash_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_crash_LDADD = $(POOL_TEST_LDADD)

test_pool_stop_SOURCES = test-pool-stop.c test-pool.h
test_pool_stop_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_stop_LDADD = $(POOL_TEST_LDADD)

test_pool_compact_SOURCES = test-pool-compact.c test-pool.h
test_pool_compact_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_compact_LDADD = $(POOL_TEST_LDADD)

test_pool_grow_SOURCES = test-pool-grow.c test-pool.h
test_pool_grow_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_grow_LDADD = $(POOL_TEST_LDADD)

test_pool_destroy_SOURCES = test-pool-destroy.c test-pool.h
test_pool_destroy_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_destroy_LDADD = $(POOL_TEST_LDADD) $(PTHREAD_LIBS)

test_pool_nospace_SOURCES = test-pool-nospace.c test-pool.h
test_pool_nospace_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_nospace_LDADD = $(POOL_TEST_LDADD)

test_pool_dict_SOURCES = test-pool-dict.c test-pool.h
test_pool_dict_CFLAGS = $(POOL_TEST_CFLAGS)
test_pool_dict_LDADD = $(POOL_TEST_LDADD)

# Not a test: how well the grower keeps ahead of a writer (see its header).
noinst_PROGRAMS += bench-pool-grow
bench_pool_grow_SOURCES = bench-pool-grow.c test-pool.h
bench_pool_grow_CFLAGS = $(POOL_TEST_CFLAGS)
bench_pool_grow_LDADD = $(POOL_TEST_LDADD)
