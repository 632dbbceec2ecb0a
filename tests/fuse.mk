# fuse tests (included from Makefile.am)
