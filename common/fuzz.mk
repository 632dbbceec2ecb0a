# The pool's libFuzzer target and its replay in `make check`
# (included from Makefile.am).

# Every build: test-fuzz-pool replays the seed inputs, then random ones.
check_PROGRAMS += test-fuzz-pool
TESTS += test-fuzz-pool
test_fuzz_pool_SOURCES = \
	fuzz-pool.c \
	fuzz-pool-replay.c \
	$(NULL)
test_fuzz_pool_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_SEEDS_DIR='"$(abs_srcdir)/fuzz-seeds/pool"'
test_fuzz_pool_LDADD = libtmem.la
EXTRA_DIST += fuzz-seeds

# With --enable-fuzzing (CC=clang): the libFuzzer binary, built from the
# pool's own sources so that the fuzzer sees coverage inside the pool.
#   make -C common fuzz-short                  a short run (FUZZ_SECONDS)
#   ./common/fuzz-pool -max_total_time=600 DIR  a longer one by hand
FUZZ_SECONDS = 10
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -g
if ENABLE_FUZZING
noinst_PROGRAMS += fuzz-pool
fuzz_pool_SOURCES = \
	fuzz-pool.c \
	$(libtmem_la_SOURCES) \
	$(NULL)
fuzz_pool_CFLAGS = $(libtmem_la_CFLAGS) $(FUZZ_FLAGS)
fuzz_pool_LDFLAGS = $(FUZZ_FLAGS)
fuzz_pool_LDADD = $(libtmem_la_LIBADD)

# New inputs go to fuzz-pool-corpus/ in the build tree, never to the
# seeds in the source tree.
fuzz-short: fuzz-pool$(EXEEXT)
	mkdir -p fuzz-pool-corpus
	./fuzz-pool$(EXEEXT) -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    -print_final_stats=1 fuzz-pool-corpus $(srcdir)/fuzz-seeds/pool
else
fuzz-short:
	@echo "fuzz-short: configure with --enable-fuzzing CC=clang first" >&2
	@exit 1
endif
