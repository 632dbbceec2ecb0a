# vm tests (included from Makefile.am)
