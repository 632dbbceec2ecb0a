# fuse tests (included from Makefile.am)

# The slow source file system and the random-operation tester are built
# with "make" (the benchmark uses slowfs too), tests run with "make check".
if HAVE_FUSE
noinst_PROGRAMS += \
	slowfs \
	fc-fsx \
	fc-pressure \
	$(NULL)

slowfs_SOURCES = slowfs.c
slowfs_CFLAGS = $(AM_CFLAGS) $(FUSE_CFLAGS)
slowfs_LDADD = $(FUSE_LIBS) $(PTHREAD_LIBS)

fc_fsx_SOURCES = fc-fsx.c

fc_pressure_SOURCES = fc-pressure.c
fc_pressure_LDADD = $(top_builddir)/common/libtmem.la $(PTHREAD_LIBS)

TESTS += \
	test-fuse-errors.sh \
	test-fuse-tools.sh \
	test-fuse-fsx.sh \
	test-fuse-users.sh \
	test-fuse-slow.sh \
	test-fuse-pressure.sh \
	test-fuse-mount.sh \
	test-fuse-remount.sh \
	test-fuse-names.sh \
	test-fuse-direct.sh \
	test-fuse-deferred.sh \
	test-fuse-dedup.sh \
	test-fuse-kept.sh \
	test-fuse-acl.sh \
	test-fuse-grower.sh \
	$(NULL)
endif

EXTRA_DIST += \
	fuse-functions.sh \
	test-fuse-errors.sh \
	test-fuse-tools.sh \
	test-fuse-fsx.sh \
	test-fuse-users.sh \
	test-fuse-slow.sh \
	test-fuse-pressure.sh \
	test-fuse-mount.sh \
	test-fuse-remount.sh \
	test-fuse-names.sh \
	test-fuse-direct.sh \
	test-fuse-deferred.sh \
	test-fuse-dedup.sh \
	test-fuse-kept.sh \
	test-fuse-acl.sh \
	test-fuse-grower.sh \
	$(NULL)
