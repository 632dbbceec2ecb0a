# fuse scripts (included from Makefile.am)
