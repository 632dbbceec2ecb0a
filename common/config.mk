# Size parser and tmem.conf reader (included from Makefile.am).
libtmem_la_SOURCES += \
	tmem-size.c \
	tmem-config.c \
	$(NULL)

# Unit tests of the parsers; they read the example tmem.conf.
TESTS += \
	test-config \
	$(NULL)
check_PROGRAMS += \
	test-config \
	$(NULL)
test_config_SOURCES = \
	test-config.c \
	$(NULL)
test_config_CPPFLAGS = \
	$(AM_CPPFLAGS) \
	-DEXAMPLE_CONF='"$(abs_top_srcdir)/tmem.conf"' \
	$(NULL)
test_config_LDADD = libtmem.la

if ENABLE_FUZZING
# libFuzzer target on the config parser.  The parser's sources are built
# into it, not taken from libtmem.la, so that they carry the fuzzer's
# coverage instrumentation.  Run it with: make -C common fuzz-config-run
noinst_PROGRAMS += \
	fuzz-config \
	$(NULL)
fuzz_config_SOURCES = \
	fuzz-config.c \
	tmem-config.c \
	tmem-size.c \
	$(NULL)
fuzz_config_CFLAGS = \
	$(AM_CFLAGS) \
	$(ZSTD_CFLAGS) \
	$(INIH_CFLAGS) \
	-fsanitize=fuzzer,address,undefined \
	$(NULL)
fuzz_config_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_config_LDADD = $(ZSTD_LIBS) $(INIH_LIBS)

FUZZ_CONFIG_SECONDS = 10
fuzz-config-run: fuzz-config
	@mkdir -p fuzz-config-corpus
	cp -f $(top_srcdir)/tmem.conf fuzz-config-corpus/example.conf
	./fuzz-config -max_total_time=$(FUZZ_CONFIG_SECONDS) \
	    -max_len=4096 fuzz-config-corpus

.PHONY: fuzz-config-run
endif ENABLE_FUZZING
EXTRA_DIST += \
	fuzz-config.c \
	$(NULL)
